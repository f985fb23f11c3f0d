"""Fixtures and the end-of-run summary of the differential fuzzer.

The --fuzz-budget and --fuzz-shrink-seconds options are declared in tests/conftest.py (pytest
reads pytest_addoption only from conftest files it loads at startup)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # the fuzz_* modules, also for `python -m tests.fuzz`

from fuzz_session import LAST_SESSION, budget_from_env  # noqa: E402


@pytest.fixture
def fuzz_budget(request) -> int:
    value = request.config.getoption("--fuzz-budget", default=None)
    return budget_from_env() if value is None else value


@pytest.fixture
def fuzz_shrink_seconds(request) -> float:
    value = request.config.getoption("--fuzz-shrink-seconds", default=None)
    return float(os.environ.get("TGL_FUZZ_SHRINK_SECONDS", 20.0)) if value is None else value


def pytest_terminal_summary(terminalreporter):
    for session in LAST_SESSION:
        terminalreporter.section("differential fuzzer")
        terminalreporter.write_line(session.summary())
