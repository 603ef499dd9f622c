"""BootStatusPolicyPlugin and BCDConfigPlugin: the boot configuration data of the guest."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import ClassVar

from guestsim.agent.metadata.base import MetadataService
from guestsim.agent.osutils import OSUtils
from guestsim.agent.plugins.base import (
    PLUGIN_EXECUTION_DONE,
    OSRequirements,
    Plugin,
    PluginResult,
    SharedData,
)

LOG = logging.getLogger(__name__)

CURRENT_ENTRY = "{current}"
# The plugin only looks at the first disk: the one Windows boots from on cloud images.
BOOT_DISK = "\\\\.\\PHYSICALDRIVE0"


class BootConfigError(Exception):
    """bcdedit refused a change, or a change to the BCD store did not stick."""


def run_bcdedit(osutils: OSUtils, args: Sequence[str]) -> None:
    """Run ``bcdedit.exe`` from the system folder; a non-zero exit raises."""
    out, err, exit_code = osutils.execute_system32_process(["bcdedit.exe", *args])
    if exit_code:
        raise BootConfigError(
            f"bcdedit.exe failed with exit code {exit_code}.\n"
            f"Output: {out.decode(errors='replace')}\nError: {err.decode(errors='replace')}"
        )


def set_boot_status_policy(osutils: OSUtils, policy: str) -> None:
    LOG.debug("Setting boot status policy: %s", policy)
    run_bcdedit(osutils, ["/set", CURRENT_ENTRY, "bootstatuspolicy", policy])


def enable_auto_recovery(osutils: OSUtils, enable: bool) -> None:
    """Set the current entry's auto-recovery through the BCD store (as upstream, no
    ``bcdedit.exe``), then read it back: a mismatch raises."""
    osutils.set_current_bcd_auto_recovery(enable)
    current = osutils.get_current_bcd_auto_recovery()
    if current != enable:
        raise BootConfigError(
            f"Cannot set the boot configuration auto recovery to {enable}: it is {current}"
        )


def new_disk_unique_id(osutils: OSUtils, disk_path: str) -> str:
    """A random unique id of the disk's kind: an MBR signature or a GPT disk GUID."""
    style = osutils.get_disk_partition_style(disk_path)
    if style == "GPT":
        return str(uuid.UUID(bytes=osutils.random_bytes(16), version=4))
    while True:
        signature = int.from_bytes(osutils.random_bytes(4), "little")
        # Zero means "no signature" to Windows.
        if signature:
            return f"{signature:08X}"


class BootStatusPolicyPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (6, 0))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        policy: str | None = self.conf.get("bcd_boot_status_policy")
        if policy:
            LOG.info("Configuring boot status policy: %s", policy)
            set_boot_status_policy(self.osutils, policy)
        return PLUGIN_EXECUTION_DONE, False


class BCDConfigPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (6, 0))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        osutils = self.osutils
        if self.conf.get("set_unique_boot_disk_id"):
            devices = osutils.get_boot_system_devices()
            # Only when one volume is both the boot and the system volume; with a separate
            # system partition nothing is changed.
            if len(devices) == 1:
                LOG.info("Configuring the boot device")
                osutils.set_current_bcd_device_to_boot_partition()
                unique_id = new_disk_unique_id(osutils, BOOT_DISK)
                LOG.info("Setting unique id %s on disk: %s", unique_id, BOOT_DISK)
                osutils.set_disk_unique_id(BOOT_DISK, unique_id)
            else:
                LOG.debug("Boot and system volumes found: %s; not changing the boot disk", devices)
        # Set on every run, whatever the value.
        enable: bool = self.conf.get("bcd_enable_auto_recovery")
        LOG.info("Setting boot configuration auto recovery: %s", enable)
        enable_auto_recovery(osutils, enable)
        return PLUGIN_EXECUTION_DONE, False
