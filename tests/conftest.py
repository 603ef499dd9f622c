"""Suite-wide settings: no stray files, no hypothesis database, deterministic examples."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from guestsim.simulator import guard as host_guard

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


# --- the host guard (simulator/guard.py) ----------------------------------------------------
# Each test may write only under pytest's base temporary folder (tmp_path, tmp_path_factory,
# pytester), the hypothesis home and what `tempfile` creates while it runs; start only the
# programs its markers declare (`subprocess`: this Python; `host_tools(...)`: by name or
# path); and connect only to loopback. A violation fails the test even if it was swallowed.
_GUARD = host_guard.install()


def _test_policy(item: pytest.Item) -> host_guard.Policy:
    factory = getattr(item.config, "_tmp_path_factory", None)
    writable = [_hypothesis_home]
    if factory is not None:
        writable.append(str(factory.getbasetemp()))
    programs = [str(name) for marker in item.iter_markers("host_tools") for name in marker.args]
    if item.get_closest_marker("subprocess") is not None:
        programs.append(sys.executable)
    return host_guard.Policy(f"test {item.nodeid}", writable=writable, programs=programs)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    # The policy is made first: getbasetemp() makes its folder unguarded.
    with _GUARD.guarding(_test_policy(item)):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    violations = _GUARD.take()
    if violations:
        message = host_guard.describe(violations, item.nodeid)
        if report.failed and report.longrepr is not None:
            message += f"\n\n{report.longrepr}"
        report.outcome = "failed"
        report.longrepr = message
        if hasattr(report, "wasxfail"):
            del report.wasxfail
    return report


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, its runs without pytest-benchmark as this suite's own (addopts): the plugin
    starts `git` to name the project, a process no test here declares."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:benchmark")
    return pytester


@pytest.fixture
def fixtures_dir() -> Path:
    return REPO / "fixtures"
