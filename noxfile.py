"""Developer sessions: ``nox -s tests lint typecheck bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", *(session.posargs or ["-n", "auto"]), env={"PYTHONDONTWRITEBYTECODE": "1"}
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, including the rule that nothing under agent/ imports simulator (agent/ruff.toml)."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the agent, the simulator, tests and benchmarks."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """The library's cost next to the agent's (scenarios/s, overhead ratio, ms per boot, peak
    memory), median wall time per scenario, building config-drive images, start-up (CLI,
    pytest plugin), the library serially and with --jobs 2, power-loss exploration, the
    clean-room library next to the published agent's configure_host ([upstream] extra), and
    the library's HTML report: size, cost, time to open in headless Chromium (Debian's
    chromium + chromium-driver; without them that figure says why and is skipped)."""
    session.install("-e", ".[test,upstream]")
    session.run("python", "benchmarks/bench_library.py")
    session.run("python", "benchmarks/bench_scenarios.py", *session.posargs)
    session.run("python", "benchmarks/bench_media.py")
    session.run("python", "benchmarks/bench_startup.py")
    session.run("python", "benchmarks/bench_explore.py")
    session.run("python", "benchmarks/bench_report.py")


@nox.session
def mutate(session: nox.Session) -> None:
    """Mutation testing (mutmut) of the core modules, scored per module against its goal.

    ``nox -s mutate`` runs every core module (tests/mutation/modules.toml); ``nox -s mutate
    -- agent/init.py --survivors`` runs one and prints what survived.
    """
    session.install("-e", ".[test]", "mutmut==3.8.1")
    session.run("python", "tests/mutation/mutate.py", *session.posargs)


@nox.session(default=False)
def fuzz(session: nox.Session) -> None:
    """Every parser of untrusted input with ≥ 10,000 examples, then a table: parser,
    examples, typed and untyped errors, NotModelled, examples over the 2 s / 256 MiB bounds,
    slowest example. ``nox -s fuzz -- --examples 500 --samples`` runs fewer and prints a
    reproducer of each untyped error. The normal suite runs a few of each (tests/fuzz/)."""
    session.install("-e", ".[test]")
    session.run(
        "python", "tests/fuzz/run.py", *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"}
    )
