"""TimeZoneOS: the OS boundary's time zone call over ``TimeZoneState``."""

from __future__ import annotations

from tzlocal.windows_tz import tz_win

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.windows.osutils.base import FakeOSBase


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
