"""What the simulated world costs next to the agent it runs, over the whole bundled library.

Printed in one run (``nox -s bench``):

* **library scenarios/s**: every bundled scenario built, run and checked in this process
  after one warm-up pass, timed as process CPU time (median of the passes);
* **simulator overhead**: CPU time of those scenarios ÷ CPU time spent inside the agent's
  ``InitManager.configure_host`` (which includes the fake Windows answering the agent's
  calls); 1.0 would be a free simulator. Goal: at most 1.5;
* **the agent's median ms per boot**: CPU time of one ``configure_host`` call;
* **the 2-boot OpenStack scenario end to end**: load, build the world, run, check;
* **peak memory of a library run**: maximum resident set of a ``guestsim run`` process
  over the library;
* **clean-room / upstream**: a clean-room library pass ÷ the CPU time the published
  cloudbase-init spends in its ``configure_host`` on the same worlds (``--agent upstream``;
  needs ``guestsim[upstream]``). Goal: at most 0.3.

CPU time, not wall time, because this machine is shared: another process slows the wall
clock of a run, not its CPU time.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from guestsim.agent.init import InitManager
from guestsim.simulator.paths import bundled
from guestsim.simulator.scenario import Scenario, discover, load_scenario, run_scenario

LIBRARY = bundled("scenarios")
TWO_BOOT_OPENSTACK = LIBRARY / "clouds" / "openstack-happy-path.yaml"


class CallTimer:
    """CPU seconds spent inside the outermost calls of ``owner.name``, one entry per call
    (a boot: a respawned agent runs inside its parent's call and is not counted apart)."""

    def __init__(self, owner: type, name: str) -> None:
        self.owner, self.name = owner, name
        self.per_boot: list[float] = []
        self._depth = 0

    @contextmanager
    def installed(self) -> Iterator[None]:
        stored = vars(self.owner)[self.name]  # the raw attribute: a staticmethod stays one
        original: Callable[..., None] = getattr(self.owner, self.name)
        timer = self

        def timed(*args: Any) -> None:
            timer._depth += 1
            start = time.process_time()
            try:
                original(*args)
            finally:
                timer._depth -= 1
                if timer._depth == 0:
                    timer.per_boot.append(time.process_time() - start)

        setattr(
            self.owner,
            self.name,
            staticmethod(timed) if isinstance(stored, staticmethod) else timed,
        )
        try:
            yield
        finally:
            setattr(self.owner, self.name, stored)


def upstream_ratio(scenarios: list[Scenario], clean_room_pass: float, passes: int) -> str:
    """A clean-room library pass ÷ the published agent's ``configure_host`` CPU over the same
    worlds (its own work: the scenarios' worlds, checks and guestsim's session around it
    are left out)."""
    if importlib.util.find_spec("cloudbaseinit") is None:
        return "not measured: the published cloudbase-init is not installed (guestsim[upstream])"
    upstream = [scenario.with_agent("upstream") for scenario in scenarios]
    for scenario in upstream:  # warm-up
        run_scenario(scenario)
    from guestsim.simulator.upstream.agent import UpstreamAgent

    timer = CallTimer(UpstreamAgent, "_configure_host")
    with timer.installed():
        for _ in range(passes):
            for scenario in upstream:
                run_scenario(scenario)
    upstream_cpu = sum(timer.per_boot) / passes
    return (
        f"{clean_room_pass / upstream_cpu:>9.2f}   ({clean_room_pass * 1000:.0f} ms clean-room "
        f"library ÷ {upstream_cpu * 1000:.0f} ms in upstream's configure_host; goal <= 0.3)"
    )


def library_pass(scenarios: list[Scenario]) -> float:
    start = time.process_time()
    for scenario in scenarios:
        run_scenario(scenario)
    return time.process_time() - start


def end_to_end(path: Path, repeats: int) -> tuple[float, float]:
    """Median (CPU, wall) seconds to load, build, run and check one scenario file."""
    cpu, wall = [], []
    for _ in range(repeats):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        run_scenario(load_scenario(path))
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    return statistics.median(cpu), statistics.median(wall)


def peak_memory_mib() -> float:
    """Maximum resident set of one ``guestsim run`` process over the library."""
    command = [sys.executable, "-c", "from guestsim.simulator.cli import main; main()"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.Popen([*command, "run", str(LIBRARY)], env=env, stdout=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passes", type=int, default=7, help="timed library passes")
    args = parser.parse_args()

    started = time.process_time()
    scenarios = [load_scenario(path) for path in discover([LIBRARY])]
    load_seconds = time.process_time() - started
    library_pass(scenarios)  # warm-up: imports, caches

    timer = CallTimer(InitManager, "configure_host")
    passes = []
    with timer.installed():
        for _ in range(args.passes):
            passes.append(library_pass(scenarios))
    median_pass = statistics.median(passes)
    agent_total = sum(timer.per_boot) / args.passes
    boots = len(timer.per_boot) // args.passes
    e2e_cpu, e2e_wall = end_to_end(TWO_BOOT_OPENSTACK, repeats=50)

    print(f"machine: {machine()}")
    print(f"library: {len(scenarios)} scenarios, {boots} boots; median of {args.passes} passes")
    print(f"  loading the scenario files        {load_seconds * 1000:>9.1f} ms CPU")
    print(
        f"  library scenarios/s               {len(scenarios) / median_pass:>9.1f}"
        f"   ({median_pass * 1000:.0f} ms CPU a pass; goal >= 30/s)"
    )
    print(
        f"  simulator overhead                {median_pass / agent_total:>9.2f}"
        f"   (scenarios' CPU / the agent's configure_host CPU; goal <= 1.5)"
    )
    per_boot = statistics.median(timer.per_boot)
    print(f"  the agent's median per boot       {per_boot * 1000:>9.2f} ms CPU")
    print(
        f"  2-boot OpenStack end to end       {e2e_cpu * 1000:>9.2f} ms CPU"
        f"   ({e2e_wall * 1000:.2f} ms wall)"
    )
    print(f"  peak memory of `guestsim run`     {peak_memory_mib():>9.1f} MiB")
    print(f"  clean-room / upstream configure_host {upstream_ratio(scenarios, median_pass, 3)}")


if __name__ == "__main__":
    main()
