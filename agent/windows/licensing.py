"""Windows licensing: KMS/AVMA product keys, KMS host, activation, slmgr output."""

from __future__ import annotations

from typing import Protocol


class LicensingManager(Protocol):
    """Windows licensing: KMS/AVMA product keys, KMS host, activation, slmgr output."""
