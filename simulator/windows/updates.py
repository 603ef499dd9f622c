"""The fake Windows: automatic updates settings (``Microsoft.Update.AutoUpdate``)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Where Windows keeps the saved settings, and each COM property's value name there.
AUTO_UPDATE_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update"
SETTING_VALUE_NAMES = {
    "NotificationLevel": "AUOptions",
    "ScheduledInstallationDay": "ScheduledInstallDay",
    "ScheduledInstallationTime": "ScheduledInstallTime",
}
# AutomaticUpdatesNotificationLevel: 0 not configured, 1 disabled, 2 notify before
# download, 3 notify before installation, 4 scheduled installation.
NOTIFICATION_LEVELS = range(5)


def _default_settings() -> dict[str, int]:
    # Not configured; every day at 3 AM when a schedule is used.
    return {"NotificationLevel": 0, "ScheduledInstallationDay": 0, "ScheduledInstallationTime": 3}


@dataclass
class UpdatesState:
    """The AutoUpdate ``Settings`` object: what is saved, and what was set but not saved."""

    saved: dict[str, int] = field(default_factory=_default_settings)
    # Properties set on the object since it was last saved; lost unless saved.
    unsaved: dict[str, int] = field(default_factory=dict)

    @property
    def notification_level(self) -> int:
        return self.saved["NotificationLevel"]

    @property
    def scheduled_install_hour(self) -> int:
        return self.saved["ScheduledInstallationTime"]
