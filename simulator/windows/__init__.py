"""The simulated Windows: state model, registry, guest files and the agent's OS boundary."""

from guestsim.simulator.windows.defaults import default_windows_state
from guestsim.simulator.windows.filesystem import GuestFilesystem
from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks
from guestsim.simulator.windows.registry import Registry, RegType, RegValue
from guestsim.simulator.windows.state import (
    LocalGroup,
    NetworkAdapter,
    Service,
    UserAccount,
    WindowsState,
)
from guestsim.simulator.windows.version import WindowsVersion

__all__ = [
    "FakeOSUtils",
    "GuestFilesystem",
    "LocalGroup",
    "MachineHooks",
    "NetworkAdapter",
    "RegType",
    "RegValue",
    "Registry",
    "Service",
    "UserAccount",
    "WindowsState",
    "WindowsVersion",
    "default_windows_state",
]
