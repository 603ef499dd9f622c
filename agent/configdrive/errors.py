"""Typed errors of the raw-media readers.

Every problem a reader finds in untrusted bytes ends in one of these classes, never in
an arbitrary exception. ``str()`` is always one line naming the device and the problem.

Hierarchy::

    MediaError                 base; also raised as such when the reader itself fails (I/O)
    ├── NotThisFormat          no ISO9660 signature / no FAT boot sector: "not a candidate"
    ├── TruncatedMedia         a read reaches past the device end, or a read came back short
    ├── CorruptMedia           structurally invalid: bad extents, loops, bad sizes
    │   └── LimitExceeded      valid-looking but beyond the reader's Limits (files, bytes, depth)
    └── UnsafePath             a name that would escape or misbehave under the extraction root
"""

from __future__ import annotations


def _one_line(text: str) -> str:
    return " ".join(text.split()) if ("\n" in text or "\r" in text) else text


class MediaError(Exception):
    """A raw medium could not be read as the expected filesystem.

    ``MediaError(device, problem)`` renders as ``"<device>: <problem>"``;
    ``MediaError(message)`` renders as the message alone.
    """

    def __init__(self, device: str, problem: str | None = None) -> None:
        self.device = device if problem is not None else ""
        self.problem = problem if problem is not None else device
        message = f"{device}: {problem}" if problem is not None else device
        super().__init__(_one_line(message))


class NotThisFormat(MediaError):
    """The bytes carry no signature of the format: the device is not a candidate."""


class TruncatedMedia(MediaError):
    """A read reached past the end of the device, or the device returned fewer bytes."""


class CorruptMedia(MediaError):
    """The format's structures are invalid (bad extents, loops, bad sizes ...)."""


class LimitExceeded(CorruptMedia):
    """The medium asks for more files, bytes, directories or depth than the Limits allow."""


class UnsafePath(MediaError):
    """A file name that would escape the extraction root or is not a safe Windows name."""


class InvalidMetadata(MediaError):
    """The drive is readable but its metadata file is missing or does not parse.

    Upstream accepts such a drive and fails later, aborting the run; guestsim's agent
    skips it and goes on to the next candidate instead.
    """
