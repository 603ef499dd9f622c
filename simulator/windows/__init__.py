"""The simulated Windows: state model, registry, guest files and the agent's OS boundary."""

from simulator.windows.filesystem import GuestFilesystem
from simulator.windows.osutils import FakeOSUtils, MachineHooks
from simulator.windows.registry import Registry, RegType, RegValue
from simulator.windows.state import (
    LocalGroup,
    NetworkAdapter,
    Service,
    UserAccount,
    WindowsState,
    WindowsVersion,
    default_windows_state,
)

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
