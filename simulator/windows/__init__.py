"""The simulated Windows: state model, registry, guest files and the agent's OS boundary.

The modules are layered, each importing only from those below it: the registry and guest
files; each feature's state (``<feature>.py``, with ``disks.py`` and ``version.py``);
``state.py`` (``WindowsState``); whole-machine code (``storage.py``, ``defaults.py``,
``processes.py``); and the OS boundary, ``osutils/`` (``FakeOSUtils``). The names below
load on first use, so importing one layer does not load those above it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestsim.simulator.lazy import lazy_attributes

if TYPE_CHECKING:
    from guestsim.simulator.windows.defaults import default_windows_state
    from guestsim.simulator.windows.filesystem import GuestFilesystem

    # The facade re-exports every layer, the OS boundary included.
    from guestsim.simulator.windows.osutils import FakeOSUtils, MachineHooks  # noqa: TID251
    from guestsim.simulator.windows.registry import Registry, RegType, RegValue
    from guestsim.simulator.windows.state import (
        LocalGroup,
        NetworkAdapter,
        Service,
        UserAccount,
        WindowsState,
    )
    from guestsim.simulator.windows.version import WindowsVersion

__getattr__ = lazy_attributes(
    __name__,
    {
        "default_windows_state": ".defaults",
        "GuestFilesystem": ".filesystem",
        "FakeOSUtils": ".osutils",
        "MachineHooks": ".osutils",
        "Registry": ".registry",
        "RegType": ".registry",
        "RegValue": ".registry",
        "LocalGroup": ".state",
        "NetworkAdapter": ".state",
        "Service": ".state",
        "UserAccount": ".state",
        "WindowsState": ".state",
        "WindowsVersion": ".version",
    },
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
