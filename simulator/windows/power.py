"""The fake Windows: power settings (the power schemes ``powercfg`` edits)."""

from __future__ import annotations

from dataclasses import dataclass, field

from guestsim.simulator.windows.registry import Registry, RegType

# Windows' own GUIDs for the stock schemes, the display subgroup and its idle setting.
SCHEME_BALANCED = "381b4222-f694-41f0-9685-ff5bb260df2e"
SCHEME_HIGH_PERFORMANCE = "8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c"
SCHEME_POWER_SAVER = "a1841308-3541-4fab-bc81-f71556f20b4a"
SUB_VIDEO = "7516b95f-f776-4464-8c53-06167f40cc99"
VIDEOIDLE = "3c0bc021-c8a8-4e07-a973-6b14cbcb2b7e"

# powercfg's aliases for them (``powercfg /aliases``), compared case-insensitively.
ALIASES = {
    "scheme_balanced": SCHEME_BALANCED,
    "scheme_min": SCHEME_HIGH_PERFORMANCE,
    "scheme_max": SCHEME_POWER_SAVER,
    "sub_video": SUB_VIDEO,
    "videoidle": VIDEOIDLE,
}
SCHEME_CURRENT = "scheme_current"

# Where Windows keeps the active scheme and each changed setting's AC value.
POWER_SCHEMES_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Power\\User\\PowerSchemes"

SettingPath = tuple[str, str, str]


def _default_ac_values() -> dict[SettingPath, int]:
    # Balanced turns the display off after 10 minutes on AC power.
    return {(SCHEME_BALANCED, SUB_VIDEO, VIDEOIDLE): 600}


@dataclass
class PowerState:
    """Power schemes: which one is active and the AC values (seconds) of their settings.

    Only the settings listed in ``ac_values`` are modelled; powercfg touching any other one
    is reported as not modelled. Every change is also written where Windows keeps it
    (``ACSettingIndex`` under ``POWER_SCHEMES_KEY``).
    """

    active_scheme: str = SCHEME_BALANCED
    ac_values: dict[SettingPath, int] = field(default_factory=_default_ac_values)

    def resolve(self, name: str) -> str:
        """A scheme/subgroup/setting GUID from an alias, SCHEME_CURRENT or a GUID."""
        lowered = name.strip("{}").lower()
        if lowered == SCHEME_CURRENT:
            return self.active_scheme
        return ALIASES.get(lowered, lowered)

    def set_ac_value(self, registry: Registry, path: SettingPath, value: int) -> None:
        self.ac_values[path] = value
        key = "\\".join((POWER_SCHEMES_KEY, *path))
        registry.create_key(key)
        registry.set_value(key, "ACSettingIndex", value, RegType.REG_DWORD)

    def display_idle_timeout(self) -> int:
        """Seconds of inactivity before the display turns off on AC power (0: never)."""
        return self.ac_values[(self.active_scheme, SUB_VIDEO, VIDEOIDLE)]
