# SPDX-License-Identifier: BSD-2-Clause
"""pytest options shared by the integration test files run with pytest:
the binary under test (--bin) and the directory of built fixtures
(--fixtures), the same two options as tests/integration/run.py."""


def pytest_addoption(parser):
    # pytest's own --fixtures (list the test fixtures) stays available under
    # its other name, --funcargs: ours takes a directory, as run.py's does.
    for opt in parser.getgroup("general").options:
        if "--fixtures" in opt.names():
            opt._long_opts.remove("--fixtures")
    parser.addoption("--bin", default="build/symbolyze", help="symbolyze binary under test")
    parser.addoption("--fixtures", default="build/fixtures", help="built fixtures directory")
