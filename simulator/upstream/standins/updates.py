"""``cloudbaseinit.utils.windows.updates``: Windows Update's automatic updates setting.

Upstream drives the ``Microsoft.Update.AutoUpdate`` COM object through pywin32; the fake
Windows holds that object's ``Settings`` (``set_automatic_updates_setting`` and
``save_automatic_updates_settings``).

Before Windows 8 / Server 2012 upstream also draws an install hour and assigns it to
``SettingsScheduledInstallationTime`` of the AutoUpdate object itself, not to
``ScheduledInstallationTime`` of its ``Settings``. The object has no such property: pywin32
answers the assignment with ``AttributeError`` (its dispatch wrapper asks the object for
the name's dispatch id, is refused, and raises), so ``Settings.Save()`` is never reached and
the notification level set just before is lost with the object. The stand-in does the same
(:func:`set_automatic_updates`), as the host library would on a real guest.
"""

from __future__ import annotations

from typing import Any, NoReturn

from guestsim.simulator.errors import NotModelled
from guestsim.simulator.upstream import guest

# AutomaticUpdatesNotificationLevel values upstream uses.
AU_DISABLED = 1
AU_SCHEDULED_INSTALLATION = 4
# The range upstream draws the install hour from (both ends included).
MIN_INSTALL_HOUR = 1
MAX_INSTALL_HOUR = 5

# The COM object upstream creates, as pywin32 names it in its errors.
AUTO_UPDATE_PROG_ID = "Microsoft.Update.AutoUpdate"
# The property name upstream assigns the hour to, on the AutoUpdate object.
UPSTREAM_INSTALL_HOUR_PROPERTY = "SettingsScheduledInstallationTime"


def set_automatic_updates(enabled: bool) -> None:
    """Scheduled installation or no automatic updates, then save the settings.

    With ``enabled`` on Windows older than 6.2 this raises ``AttributeError`` after the
    hour is drawn and before anything is saved, as upstream does under pywin32.
    """
    process = guest.current()
    osutils = process.osutils
    if enabled:
        osutils.set_automatic_updates_setting("NotificationLevel", AU_SCHEDULED_INSTALLATION)
        # Windows 8 / Server 2012 and later have no install hour here; upstream asks the
        # OS-utilities object for the version.
        if not osutils.check_os_version(6, 2):
            # Upstream's ``random`` is the guest's in a run: the draw is seeded per process.
            hour = process.rng.randint(MIN_INSTALL_HOUR, MAX_INSTALL_HOUR)
            _set_auto_update_property(UPSTREAM_INSTALL_HOUR_PROPERTY, hour)
    else:
        osutils.set_automatic_updates_setting("NotificationLevel", AU_DISABLED)
    osutils.save_automatic_updates_settings()


def _set_auto_update_property(name: str, value: int) -> NoReturn:
    """An assignment to a property of the AutoUpdate object itself.

    Its only properties are ``Settings`` and ``ServiceEnabled`` (read-only both), and
    neither is what upstream assigns, so pywin32's late-bound wrapper refuses the name.
    """
    raise AttributeError(f"Property '{AUTO_UPDATE_PROG_ID}.{name}' can not be set.")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotModelled(f"upstream agent uses updates.{name}")
