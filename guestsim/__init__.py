"""guestsim: deterministic simulation of Windows guest initialisation (cloudbase-init).

The names below are the public API; each loads its module on first use, so importing
``guestsim`` (which pytest does for the plugin in every run) costs next to nothing.
The agent is ``guestsim.agent``, the simulated world ``guestsim.simulator``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestsim.simulator.lazy import lazy_attributes

if TYPE_CHECKING:
    from guestsim.simulator.errors import GuestsimError, NotModelled, ScenarioError
    from guestsim.simulator.machine import Machine, RunResult
    from guestsim.simulator.scenario import (
        Scenario,
        ScenarioOutcome,
        discover,
        load_scenario,
        run_scenario,
    )
    from guestsim.simulator.testing import (
        ConfigDriveFactory,
        GuestMachine,
        MetadataCloud,
        ScenarioRunner,
    )

__getattr__ = lazy_attributes(
    __name__,
    {
        "GuestsimError": "guestsim.simulator.errors",
        "NotModelled": "guestsim.simulator.errors",
        "ScenarioError": "guestsim.simulator.errors",
        "Machine": "guestsim.simulator.machine",
        "RunResult": "guestsim.simulator.machine",
        "Scenario": "guestsim.simulator.scenario",
        "ScenarioOutcome": "guestsim.simulator.scenario",
        "discover": "guestsim.simulator.scenario",
        "load_scenario": "guestsim.simulator.scenario",
        "run_scenario": "guestsim.simulator.scenario",
        "ConfigDriveFactory": "guestsim.simulator.testing",
        "GuestMachine": "guestsim.simulator.testing",
        "MetadataCloud": "guestsim.simulator.testing",
        "ScenarioRunner": "guestsim.simulator.testing",
    },
)

__all__ = [
    "ConfigDriveFactory",
    "GuestMachine",
    "GuestsimError",
    "Machine",
    "MetadataCloud",
    "NotModelled",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "ScenarioOutcome",
    "ScenarioRunner",
    "discover",
    "load_scenario",
    "run_scenario",
]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
