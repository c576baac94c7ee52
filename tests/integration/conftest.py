# SPDX-License-Identifier: BSD-2-Clause
"""pytest options shared by the pytest integration files: the binary under test
and the directory of built fixtures (the same two run.py takes)."""
import os

import pytest


def _free_fixtures_flag(parser):
    """pytest's own --fixtures (alias of --funcargs: list fixtures) takes the name
    run.py uses for the fixture directory; keep pytest's flag as --funcargs only.
    Private API (pytest 7.2, Debian 12): if it changes, fail loudly here."""
    for group in parser._groups:
        for opt in group.options:
            if "--fixtures" in opt._long_opts:
                opt._long_opts.remove("--fixtures")
                return
    raise RuntimeError("conftest: pytest's --fixtures flag not found to rename")


def pytest_addoption(parser):
    _free_fixtures_flag(parser)
    parser.addoption("--bin", default="build/symbolyze", help="symbolyze binary")
    parser.addoption("--fixtures", default="build/fixtures", help="built fixtures")


@pytest.fixture(scope="session")
def sz_bin(request):
    return os.path.abspath(request.config.getoption("--bin"))


@pytest.fixture(scope="session")
def fixtures(request):
    return os.path.abspath(request.config.getoption("--fixtures"))
