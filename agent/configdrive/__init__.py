"""The agent's own readers of raw config-drive media: ISO9660, FAT and partition tables.

Inputs are untrusted (a cloud user builds the drive), so every reader works over a
bounded :data:`Reader` (``(offset, length) -> bytes``, the OS boundary's
``read_device`` for one device), follows no loop twice, reads no more than its
:class:`Limits` allow, and reports every problem as a :class:`MediaError` subclass.
``finder`` (the config-drive search) builds on these readers.
"""

from guestsim.agent.configdrive._common import DEFAULT_LIMITS, Limits, Reader, device_reader, window
from guestsim.agent.configdrive.errors import (
    CorruptMedia,
    LimitExceeded,
    MediaError,
    NotThisFormat,
    TruncatedMedia,
    UnsafePath,
)

__all__ = [
    "DEFAULT_LIMITS",
    "CorruptMedia",
    "LimitExceeded",
    "Limits",
    "MediaError",
    "NotThisFormat",
    "Reader",
    "TruncatedMedia",
    "UnsafePath",
    "device_reader",
    "window",
]
