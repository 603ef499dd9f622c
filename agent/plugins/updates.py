"""WindowsAutoUpdatesPlugin: turn Windows Update's automatic updates on or off."""

from __future__ import annotations

import logging
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

# AutomaticUpdatesNotificationLevel values.
AU_DISABLED = 1
AU_SCHEDULED_INSTALLATION = 4
MIN_INSTALL_HOUR = 1
MAX_INSTALL_HOUR = 5
# Quirk (reference §10.15): upstream sets the install hour through a misspelled property
# name. The late-bound Settings object accepts the unknown name and the hour goes nowhere,
# so ScheduledInstallationTime keeps its previous value. The reference does not give the
# exact misspelling; this name stands for it.
MISSPELLED_INSTALL_HOUR_PROPERTY = "ScheduledInstallTime"


def random_install_hour(osutils: OSUtils) -> int:
    span = MAX_INSTALL_HOUR - MIN_INSTALL_HOUR + 1
    # Rejection sampling keeps every hour equally likely.
    while True:
        draw = osutils.random_bytes(1)[0]
        if draw < 256 - 256 % span:
            return MIN_INSTALL_HOUR + draw % span


def set_automatic_updates(osutils: OSUtils, enabled: bool) -> None:
    if enabled:
        osutils.set_automatic_updates_setting("NotificationLevel", AU_SCHEDULED_INSTALLATION)
        # Windows 8 / Server 2012 and later have no install-hour setting here.
        if not osutils.check_os_version(6, 2):
            hour = random_install_hour(osutils)
            LOG.debug("Setting the automatic updates install hour: %s", hour)
            osutils.set_automatic_updates_setting(MISSPELLED_INSTALL_HOUR_PROPERTY, hour)
    else:
        osutils.set_automatic_updates_setting("NotificationLevel", AU_DISABLED)
    osutils.save_automatic_updates_settings()


class WindowsAutoUpdatesPlugin(Plugin):
    os_requirements: ClassVar[OSRequirements] = ("win32", (5, 2))

    def execute(self, service: MetadataService | None, shared_data: SharedData) -> PluginResult:
        assert service is not None
        enabled = service.get_enable_automatic_updates()
        if enabled is None:
            enabled = self.conf.get("enable_automatic_updates")
        # Neither the metadata nor the configuration says: leave Windows Update alone.
        if enabled is not None:
            LOG.info("Configuring automatic updates: %s", enabled)
            set_automatic_updates(self.osutils, bool(enabled))
        return PLUGIN_EXECUTION_DONE, False
