"""The storage manager: extending volumes and the SAN policy (VDS, or WSM on Nano)."""

from __future__ import annotations

from typing import Protocol


class StorageManager(Protocol):
    """The storage manager: extending volumes and the SAN policy (VDS, or WSM on Nano)."""
