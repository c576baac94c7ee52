# SPDX-License-Identifier: BSD-2-Clause
"""pytest options shared by the pytest-based integration tests: the symbolyze binary
under test and the directory of built fixtures."""
import os

import pytest


def pytest_addoption(parser):
    # pytest has a --fixtures of its own (list the test fixtures): this suite's
    # --fixtures DIR takes its name, and pytest's stays reachable as --pytest-fixtures.
    for group in parser._groups:  # pylint: disable=protected-access
        group.options = [o for o in group.options if "--fixtures" not in o.names()]
    parser.addoption("--pytest-fixtures", "--funcargs", action="store_true",
                     dest="showfixtures", default=False, help="pytest's own --fixtures")
    parser.addoption("--bin", default="build/symbolyze", help="symbolyze binary under test")
    parser.addoption("--fixtures", dest="sz_fixtures", default="build/fixtures",
                     help="built fixtures directory")


@pytest.fixture(scope="session")
def sz_bin(request):
    return os.path.abspath(request.config.getoption("--bin"))


@pytest.fixture(scope="session")
def fixtures_dir(request):
    return os.path.abspath(request.config.getoption("sz_fixtures"))
