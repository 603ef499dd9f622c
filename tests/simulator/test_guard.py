"""The host guard (simulator/guard.py): each forbidden effect is refused, raised or swallowed,
in a test of this suite (tests/conftest.py) and in `guestsim run --guard`."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from guestsim.simulator import guard as host_guard
from guestsim.simulator.cli import main
from guestsim.simulator.guard import GuardViolation, Policy

REPO = Path(__file__).resolve().parents[2]
GUARD = host_guard.install()
# Never created: the guard refuses the write before the file exists.
PROBE = REPO / "guard-probe-never-written.txt"
UNROUTABLE = ("192.0.2.1", 9)  # TEST-NET-1: no answer even if a connection were tried


def write_to_the_checkout() -> None:
    PROBE.write_text("escaped")


def start_a_process() -> None:
    subprocess.run(["true"], check=False)


def connect_outside() -> None:
    with socket.create_connection(UNROUTABLE, timeout=0.1):
        pass


def look_up_a_name() -> None:
    socket.getaddrinfo("example.com", 80)


EFFECTS: dict[str, tuple[Callable[[], None], str]] = {
    "write": (write_to_the_checkout, "a write outside the test's temporary folders: open("),
    "process": (
        start_a_process,
        "a process not declared for this test: subprocess.Popen(['true'])",
    ),
    "connect": (connect_outside, "a connection to a non-loopback address: socket.connect"),
    "lookup": (look_up_a_name, "a name lookup of a non-loopback host: socket.getaddrinfo"),
}


def policy(tmp_path: Path, programs: tuple[str, ...] = ()) -> Policy:
    return Policy("test probe", writable=[tmp_path], programs=programs)


@pytest.fixture(autouse=True)
def _nothing_escaped() -> object:
    yield
    assert not PROBE.exists(), "the guard let a write into the checkout"


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_each_forbidden_effect_raises_where_it_happens(name: str, tmp_path: Path) -> None:
    effect, message = EFFECTS[name]
    with GUARD.guarding(policy(tmp_path)) as refused, pytest.raises(GuardViolation) as raised:
        effect()
    assert message in str(raised.value)
    [violation] = refused
    assert message in violation.effect
    # The frame named is the code that asked, not the standard library's open or socket.
    assert violation.where.startswith(f"{__file__}:")
    assert f"in {effect.__name__}" in violation.where


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_each_forbidden_effect_is_recorded_even_when_swallowed(name: str, tmp_path: Path) -> None:
    effect, message = EFFECTS[name]
    # As a careless `except Exception` around a plugin would:
    with GUARD.guarding(policy(tmp_path)) as refused, contextlib.suppress(Exception):
        effect()
    assert [message in v.effect for v in refused] == [True]


def test_other_writes_to_the_checkout_are_refused_too(tmp_path: Path) -> None:
    # Each aims at a path that does not exist: were the guard to let one through, the call
    # would fail on its own (FileNotFoundError) and change nothing.
    missing = REPO / "guard-probe-missing"
    attempts: list[Callable[[], object]] = [
        lambda: (missing / "sub").mkdir(),
        lambda: missing.unlink(),
        lambda: missing.rename(REPO / "guard-probe-renamed"),
        lambda: shutil.rmtree(missing),
        lambda: os.open(missing, os.O_WRONLY),
        lambda: tempfile.mkdtemp(dir=missing),
        lambda: Path(tempfile.gettempdir(), "guard-probe-missing", "loose").write_text("x"),
    ]
    with GUARD.guarding(policy(tmp_path)) as refused:
        for attempt in attempts:
            with pytest.raises(GuardViolation):
                attempt()
    assert len(refused) == len(attempts)
    assert all("a write outside" in v.effect or "tempfile" in v.effect for v in refused)


def test_what_a_run_owns_stays_allowed(tmp_path: Path) -> None:
    with GUARD.guarding(policy(tmp_path, programs=("true",))) as refused:
        (tmp_path / "mine.txt").write_text("ok")
        with tempfile.TemporaryDirectory() as made:
            Path(made, "scratch").write_bytes(b"ok")
        with tempfile.NamedTemporaryFile() as named, tempfile.TemporaryFile() as anonymous:
            named.write(b"ok")
            anonymous.write(b"ok")
        subprocess.run(["true"], check=True)
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            with socket.create_connection(server.getsockname(), timeout=5):
                pass
        socket.getaddrinfo("localhost", 80)
    assert refused == []


def test_python_may_make_a_bytecode_cache_folder_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first import of a module of a fresh checkout (or a package installed without
    # its bytecode) makes the package's __pycache__ folder, then writes the .pyc in it.
    package = tmp_path / "site" / "guard_fresh_package"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (tmp_path / "run").mkdir()
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.delitem(sys.modules, "guard_fresh_package", raising=False)

    with GUARD.guarding(policy(tmp_path / "run")) as refused:
        import guard_fresh_package  # type: ignore[import-not-found]

    assert guard_fresh_package.VALUE == 1
    assert refused == []
    assert list((package / "__pycache__").glob("__init__.*.pyc"))
    # Any other folder there is still refused.
    with GUARD.guarding(policy(tmp_path / "run")), pytest.raises(GuardViolation):
        (package / "__pycache__x").mkdir()


def test_python_itself_may_start_only_when_declared(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "pass"]
    with GUARD.guarding(policy(tmp_path)) as refused, pytest.raises(GuardViolation):
        subprocess.run(command, check=True)
    assert len(refused) == 1
    with GUARD.guarding(policy(tmp_path, programs=(sys.executable,))) as refused:
        subprocess.run(command, check=True)
    assert refused == []


# --- the suite's own guard: a test that trips it fails, even when it swallows the error ---


def test_a_test_that_swallows_a_violation_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from tests.conftest import pytest_runtest_makereport, pytest_runtest_protocol\n"
    )
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            import socket, subprocess
            from pathlib import Path

            def test_writes_the_checkout():
                try:
                    Path({str(PROBE)!r}).write_text("escaped")
                except Exception:
                    pass

            def test_starts_a_process():
                try:
                    subprocess.run(["true"])
                except Exception:
                    pass

            def test_connects_outside():
                try:
                    socket.create_connection({UNROUTABLE!r}, timeout=0.1)
                except Exception:
                    pass

            def test_stays_in_its_folder(tmp_path):
                (tmp_path / "ok.txt").write_text("ok")
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:benchmark")
    result.assert_outcomes(passed=1, failed=3)
    shown = result.stdout.str()
    for line in (
        "guard (test_a_test_that_swallows_a_violation_still_fails.py::test_writes_the_checkout): "
        "1 forbidden host effect(s):",
        f"  a write outside the test's temporary folders: open('{PROBE}', 'w') at ",
        "  a process not declared for this test: subprocess.Popen(['true']) at ",
        "  a connection to a non-loopback address: socket.connect(('192.0.2.1', 9)) at ",
    ):
        assert line in shown


# --- guestsim run --guard ----------------------------------------------------------------


def guarded_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["guestsim", "run", "--guard", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_a_guarded_run_passes_and_writes_its_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    code, out, _ = guarded_run(
        capsys, monkeypatch, "-k", "openstack", "--junit", str(junit), "--json", str(report)
    )
    assert code == 0, out
    assert junit.exists() and report.exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_guarded_run_ends_with_an_error_naming_a_swallowed_effect(
    jobs: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from guestsim.simulator import scenario

    real = scenario.run_scenario

    def leaky(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(Exception):
            write_to_the_checkout()
        return real(*args, **kwargs)

    monkeypatch.setattr(scenario, "run_scenario", leaky)
    code, _, err = guarded_run(capsys, monkeypatch, "-k", "openstack", "--jobs", jobs)
    assert code == 1
    assert err.startswith("error: guard (guestsim run --guard): ")
    assert f"a write outside the run's temporary folders: open('{PROBE}', 'w') at " in err
    assert "in write_to_the_checkout" in err
