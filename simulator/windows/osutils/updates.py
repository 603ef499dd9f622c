"""UpdatesOS: the OS boundary's ``Microsoft.Update.AutoUpdate`` calls over ``UpdatesState``."""

from __future__ import annotations

from typing import Any

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.windows.osutils.base import FakeOSBase
from guestsim.simulator.windows.registry import RegType
from guestsim.simulator.windows.updates import (
    AUTO_UPDATE_KEY,
    NOTIFICATION_LEVELS,
    SETTING_VALUE_NAMES,
)


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
