"""The fake Windows: automatic updates settings (``Microsoft.Update.AutoUpdate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.windows.fakebase import FakeOSBase
from guestsim.simulator.windows.registry import RegType

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


class UpdatesOS(FakeOSBase):
    def set_automatic_updates_setting(self, name: str, value: int) -> None:
        self._mutation("set_automatic_updates_setting", name=name, value=value)
        canonical = next(
            (known for known in SETTING_VALUE_NAMES if known.lower() == name.lower()), None
        )
        if canonical is None:
            # The object is late-bound: a property it does not have is accepted and goes
            # nowhere, so the value never reaches Windows Update.
            return
        _check_value(canonical, value)
        self.state.updates.unsaved[canonical] = value

    def save_automatic_updates_settings(self) -> None:
        updates = self.state.updates
        self._mutation(
            "save_automatic_updates_settings", settings=dict(sorted(updates.unsaved.items()))
        )
        updates.saved.update(updates.unsaved)
        updates.unsaved.clear()
        registry = self.state.registry
        registry.create_key(AUTO_UPDATE_KEY)
        for name, value_name in SETTING_VALUE_NAMES.items():
            registry.set_value(AUTO_UPDATE_KEY, value_name, updates.saved[name], RegType.REG_DWORD)


def _check_value(name: str, value: Any) -> None:
    valid = {
        "NotificationLevel": NOTIFICATION_LEVELS,
        "ScheduledInstallationDay": range(8),
        "ScheduledInstallationTime": range(24),
    }[name]
    if not isinstance(value, int) or isinstance(value, bool) or value not in valid:
        # What the COM property setter answers: E_INVALIDARG.
        raise OSUtilsError(f"Setting {name} to {value!r} failed: The parameter is incorrect")
