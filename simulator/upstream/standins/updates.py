"""``cloudbaseinit.utils.windows.updates``: Windows Update's automatic updates setting.

Upstream drives the ``Microsoft.Update.AutoUpdate`` COM object; the fake Windows holds
that object's ``Settings`` (``set_automatic_updates_setting`` and
``save_automatic_updates_settings``). Upstream's install hour is assigned to a property
name the object does not have (``SettingsScheduledInstallationTime``, on the AutoUpdate
object rather than on its ``Settings``); the fake's late-bound object takes an unknown name
and drops it, so the hour is drawn, offered under that name and never saved.
"""

from __future__ import annotations

from typing import Any

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest

# AutomaticUpdatesNotificationLevel values upstream uses.
AU_DISABLED = 1
AU_SCHEDULED_INSTALLATION = 4
# The range upstream draws the install hour from (both ends included).
MIN_INSTALL_HOUR = 1
MAX_INSTALL_HOUR = 5

# The property name upstream assigns the hour to, spelled as upstream spells it.
UPSTREAM_INSTALL_HOUR_PROPERTY = "SettingsScheduledInstallationTime"


def set_automatic_updates(enabled: bool) -> None:
    """Scheduled installation (with a random early-morning hour before Windows 8 / Server
    2012) or no automatic updates, then save the settings."""
    process = guest.current()
    osutils = process.osutils
    if enabled:
        osutils.set_automatic_updates_setting("NotificationLevel", AU_SCHEDULED_INSTALLATION)
        # Windows 8 / Server 2012 and later have no install hour here; upstream asks the
        # OS-utilities object for the version.
        if not osutils.check_os_version(6, 2):
            # Upstream's ``random`` is the guest's in a run: the draw is seeded per process.
            hour = process.rng.randint(MIN_INSTALL_HOUR, MAX_INSTALL_HOUR)
            osutils.set_automatic_updates_setting(UPSTREAM_INSTALL_HOUR_PROPERTY, hour)
    else:
        osutils.set_automatic_updates_setting("NotificationLevel", AU_DISABLED)
    osutils.save_automatic_updates_settings()


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses updates.{name}")
