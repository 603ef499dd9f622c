"""The fake Windows: Remote Desktop settings.

The keep-alive policy lives in the registry (``HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows
NT\\Terminal Services``), written through the generic registry calls; this module keeps the
listener's certificate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RDPState:
    """What this feature keeps on the machine (persists across reboots).

    ``certificate_thumbprint`` is the certificate the RDP listener presents
    (``Win32_TSGeneralSetting.SSLCertificateSHA1Hash``). None: Remote Desktop Services has
    not made its self-signed one yet; it does so (``CN=<computer name>`` in
    ``LocalMachine\\Remote Desktop``) the first time the setting is read.
    """

    certificate_thumbprint: str | None = None
