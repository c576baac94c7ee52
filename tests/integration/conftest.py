# SPDX-License-Identifier: BSD-2-Clause
"""pytest options of the integration tests: --bin (the binary under test) and
--fixtures (the directory of fixtures built by `make`), as tests/integration/
run.py spells them.

pytest has a --fixtures of its own (list the test fixtures; also spelt
--funcargs): that one keeps only its other name, so ours can take a value.
"""


def pytest_addoption(parser):
    for group in parser._groups:  # no public API to rename an option
        for opt in group.options:
            if "--fixtures" in opt._long_opts and "--funcargs" in opt._long_opts:
                opt._long_opts.remove("--fixtures")
    parser.addoption("--bin", default="build/symbolyze", help="symbolyze binary to test")
    parser.addoption("--fixtures", default="build/fixtures", help="built fixtures directory")
