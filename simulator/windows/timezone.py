"""The fake Windows: the time zone."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
