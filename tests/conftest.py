"""Suite-wide settings: no stray files, no hypothesis database, deterministic examples."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
# Caches that tools (not the suite) own.
_IGNORED_DIRS = {".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".nox", ".venv", "build"}

_hypothesis_home = tempfile.mkdtemp(prefix="guestsim-hypothesis-")
set_hypothesis_home_dir(_hypothesis_home)
settings.register_profile("guestsim", database=None, derandomize=True, deadline=None)
settings.load_profile("guestsim")


def _repo_files() -> set[str]:
    found: set[str] = set()
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in _IGNORED_DIRS and not d.endswith(".egg-info")]
        found.update(str(Path(root, name).relative_to(REPO)) for name in files)
    return found


_BEFORE = _repo_files()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_hypothesis_home, ignore_errors=True)
    if not (REPO / ".git").exists():
        return  # a copy of the tree (the mutation tester's) is not the checkout
    stray = sorted(_repo_files() - _BEFORE)
    if stray:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"ERROR: the test suite left files in the checkout: {stray}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def fixtures_dir() -> Path:
    return REPO / "fixtures"
