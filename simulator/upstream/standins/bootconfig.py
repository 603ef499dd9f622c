"""``cloudbaseinit.utils.windows.bootconfig``: the BCD store, over the fake Windows.

Upstream sets the boot status policy by running ``bcdedit.exe``, which the fake Windows
runs (``execute_system32_process``), and reaches the rest through WMI (the volumes that are
both boot and system volume, the ``{current}`` entry of the BCD store); those calls go to
the fake's own boot configuration methods. Upstream's failures are its own
``CloudbaseInitException``, so its plugins log and fail the same way here.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest

# Upstream's records come from its module's logger, whatever answers for the module.
LOG = logging.getLogger("cloudbaseinit.utils.windows.bootconfig")

# Upstream's public names for the BCD objects and elements it touches (callers and tests
# may read them; the fake's methods name what they change instead).
STORE_CURRENT = "{fa926493-6f1c-4193-a414-58f0b2456d1e}"
BCDOSLOADER_DEVICE_OSDEVICE = 0x21000001
BCDLIBRARY_DEVICE_APPLICATION_DEVICE = 0x11000001
BCDLIBRARY_BOOLEAN_AUTO_RECOVERY_ENABLED = 0x16000009
BOOT_DEVICE = 1

# upstream's constant.POLICY_IGNORE_ALL_FAILURES, the policy used when none is given.
IGNORE_ALL_FAILURES = "ignoreallfailures"


def _cloudbaseinit_error(message: str) -> Exception:
    # The session's own exception module: the class upstream code would catch is the one
    # imported for this run, not one left over from an earlier session.
    exception = importlib.import_module("cloudbaseinit.exception")
    error: Exception = exception.CloudbaseInitException(message)
    return error


def _run_bcdedit(args: list[str]) -> None:
    """``bcdedit.exe`` from the system folder, as upstream runs it; a non-zero exit raises."""
    out, err, exit_code = guest.current().osutils.execute_system32_process(["bcdedit.exe", *args])
    if exit_code:
        # Upstream formats the raw output objects (bytes) into its message.
        raise _cloudbaseinit_error(f"bcdedit failed.\nOutput: {out}\nError: {err}")


def set_boot_status_policy(policy: str = IGNORE_ALL_FAILURES) -> None:
    """Set the ``{current}`` entry's boot status policy with bcdedit."""
    LOG.debug("Setting boot status policy: %s", policy)
    _run_bcdedit(["/set", "{current}", "bootstatuspolicy", policy])


def get_boot_system_devices() -> list[str]:
    """Device ids of the volumes that are the boot and the system volume at once (WMI's
    ``Win32_Volume`` query upstream): one on a single-partition image, none otherwise."""
    return list(guest.current().osutils.get_boot_system_devices())


def set_current_bcd_device_to_boot_partition() -> None:
    """Point the ``{current}`` entry's OS device and application device at the boot
    partition (upstream sets both elements through the store; the fake does it in one)."""
    try:
        guest.current().osutils.set_current_bcd_device_to_boot_partition()
    except OSUtilsError as ex:
        # Upstream's only failures here are its own: the store or the entry would not open,
        # or an element was refused.
        raise _cloudbaseinit_error(str(ex)) from ex


def enable_auto_recovery(enable: bool) -> None:
    """Set the ``{current}`` entry's auto-recovery element through the store, then read it
    back: upstream trusts the read-back value, not the setter, and fails on a mismatch."""
    osutils = guest.current().osutils
    try:
        osutils.set_current_bcd_auto_recovery(enable)
        current = osutils.get_current_bcd_auto_recovery()
    except OSUtilsError as ex:
        raise _cloudbaseinit_error(str(ex)) from ex
    if current != enable:
        raise _cloudbaseinit_error(
            f"Cannot set boolean element: '{BCDLIBRARY_BOOLEAN_AUTO_RECOVERY_ENABLED}'. "
            f"Current state '{current}' != desired state '{enable}'."
        )


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses bootconfig.{name}")
