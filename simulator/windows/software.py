"""The fake Windows: installed software: file versions, .NET, event trace collectors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

LOG = logging.getLogger(__name__)

DOTNET_4_KEY = "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"

# A version resource's fixed part (VS_FIXEDFILEINFO) starts with this signature, followed by
# the structure version and then the file version as two DWORDs (most, least significant).
VS_FIXEDFILEINFO_SIGNATURE = 0xFEEF04BD
_SIGNATURE_BYTES = VS_FIXEDFILEINFO_SIGNATURE.to_bytes(4, "little")

FileVersion = tuple[int, int, int, int]


@dataclass
class SoftwareState:
    """What this domain keeps on the machine (persists across reboots)."""

    # File versions declared for guest files (lower-cased path -> version). A file not
    # declared here is read for a version resource of its own (see ``version_resource``).
    file_versions: dict[str, FileVersion] = field(default_factory=dict)
    # Performance-monitor data collector sets (``logman`` names) -> whether each is running.
    data_collector_sets: dict[str, bool] = field(default_factory=dict)
    # Event trace sessions (``logman ... -ets``) that are running.
    trace_sessions: list[str] = field(default_factory=list)


def version_resource(name: str, version: FileVersion) -> bytes:
    """The bytes of a minimal version resource (VS_FIXEDFILEINFO) declaring ``version``.

    Real executables carry this structure inside their resources; a guest file holding it
    (anywhere) has that file version, as ``GetFileVersionInfo`` would report it.
    """
    major, minor, build, revision = version
    most = (major << 16) | minor
    least = (build << 16) | revision
    fixed = (
        _SIGNATURE_BYTES
        + (0x00010000).to_bytes(4, "little")
        + most.to_bytes(4, "little")
        + least.to_bytes(4, "little")
        + most.to_bytes(4, "little")  # product version = file version
        + least.to_bytes(4, "little")
        + bytes(28)
    )
    return b"MZ" + name.encode("ascii") + b"\0" + fixed


def read_version_resource(data: bytes) -> FileVersion | None:
    """The file version declared by a VS_FIXEDFILEINFO inside ``data``, if there is one."""
    at = data.find(_SIGNATURE_BYTES)
    if at < 0 or len(data) < at + 16:
        return None
    most = int.from_bytes(data[at + 8 : at + 12], "little")
    least = int.from_bytes(data[at + 12 : at + 16], "little")
    return most >> 16, most & 0xFFFF, least >> 16, least & 0xFFFF
