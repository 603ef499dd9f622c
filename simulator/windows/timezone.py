"""The fake Windows: the time zone."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tzlocal.windows_tz import tz_win

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.windows.fakebase import FakeOSBase

LOG = logging.getLogger(__name__)

# Cloud images of Windows Server are published in UTC; Windows names that zone "UTC"
# (display name "(UTC) Coordinated Universal Time").
DEFAULT_WINDOWS_ZONE = "UTC"


@dataclass
class TimeZoneState:
    """The machine's time zone, as a Windows zone id (a key under ``Time Zones``)."""

    zone_id: str = DEFAULT_WINDOWS_ZONE
    # The IANA name the agent asked for last; None while nobody changed the zone.
    requested_name: str | None = None


class TimeZoneOS(FakeOSBase):
    def set_timezone(self, timezone: str) -> None:
        # The agent maps the IANA name with tzlocal's table, as the real agent does; a name
        # missing from it is refused before anything changes.
        zone_id = tz_win.get(timezone) if isinstance(timezone, str) else None
        if zone_id is None:
            raise OSUtilsError(f"The given timezone name is unrecognised: {timezone!r}")
        self._mutation("set_timezone", timezone=timezone, zone_id=zone_id)
        self.state.timezone.zone_id = zone_id
        self.state.timezone.requested_name = timezone
