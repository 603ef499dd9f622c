"""Certificate stores: self-signed certificates, importing certificates and PFX files."""

from __future__ import annotations

from typing import Protocol


class CertificateStore(Protocol):
    """Certificate stores: self-signed certificates, importing certificates and PFX files."""
