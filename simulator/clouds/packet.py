"""Packet / Equinix Metal: the metadata service and the phone-home (Tinkerbell) endpoint.

Two apps: the metadata service (``GET /metadata`` JSON, ``GET /userdata``) at the base
URL, and the phone-home endpoint at the document's ``phone_home_url``, which hands out
the key to encrypt the password with (``GET <phone_home_url>/key``) and takes two kinds
of POST: one with a JSON body ``{"password": "<base64>"}`` and one with no body at all,
which reports that provisioning completed. Both share one model, so a test sees what
the instance reported next to what it was given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, not_found, text
from guestsim.simulator.clouds.documents import DocumentSource

# The historic Packet host, kept as upstream's default. In-process the transport
# intercepts HTTPS directly; on loopback it forwards plain HTTP to the local server.
DEFAULT_BASE_URL = "https://metadata.packet.net/"


@dataclass
class PacketModel:
    # What the cloud saw rather than what it holds: a power cut that adds a boot changes it
    # by design, so the power-loss explorer does not compare it.
    HISTORY: ClassVar[tuple[str, ...]] = ("password_posts", "completion_reports", "rejected_posts")
    metadata: dict[str, Any]
    userdata: bytes | None = None
    # What GET <phone_home_url>/key answers (an OpenSSH public key line); None -> 404.
    phone_home_key: str | None = None
    # What the instance reported to the phone-home URL.
    posted_password: str | None = None
    password_posts: int = 0
    provisioning_completed: bool = False
    completion_reports: int = 0
    rejected_posts: list[bytes] = field(default_factory=list)

    @property
    def phone_home_url(self) -> str | None:
        value = self.metadata.get("phone_home_url")
        return value if isinstance(value, str) and value else None


def _same_host(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


class _PhoneHomeRoutes(CloudApp):
    """``GET <phone_home_url>/key`` and the two POSTs to ``<phone_home_url>``."""

    model: PacketModel

    def _add_phone_home(self, phone_home_url: str) -> None:
        path = re.escape(urlsplit(phone_home_url).path.rstrip("/"))
        self.route("POST", f"{path}/?", self._phone_home)
        self.route("GET", f"{path}/key", self._key)

    def _key(self, request: SimRequest) -> SimResponse:
        if self.model.phone_home_key is None:
            return not_found()
        return text(self.model.phone_home_key)

    def _phone_home(self, request: SimRequest) -> SimResponse:
        if not request.body:
            # No body: the instance says provisioning completed.
            self.model.provisioning_completed = True
            self.model.completion_reports += 1
            return text("")
        try:
            document = json.loads(request.body)
        except ValueError:
            document = None
        password = document.get("password") if isinstance(document, dict) else None
        if not isinstance(password, str) or not password:
            self.model.rejected_posts.append(request.body)
            return text("Bad Request", 400)
        self.model.posted_password = password
        self.model.password_posts += 1
        return text("")


class PacketMetadataCloud(_PhoneHomeRoutes):
    """The metadata service; also the phone-home endpoint when it lives on the same host."""

    name = "packet"

    def __init__(self, model: PacketModel, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)
        self.model = model
        prefix = re.escape(urlsplit(base_url).path.rstrip("/"))
        self.route("GET", f"{prefix}/metadata", self._metadata)
        self.route("GET", f"{prefix}/userdata", self._userdata)
        phone_home_url = model.phone_home_url
        if phone_home_url is not None and _same_host(phone_home_url, base_url):
            self._add_phone_home(phone_home_url)

    def _metadata(self, request: SimRequest) -> SimResponse:
        return text(json.dumps(self.model.metadata), content_type="application/json")

    def _userdata(self, request: SimRequest) -> SimResponse:
        if self.model.userdata is None:
            return not_found()
        return text(self.model.userdata, content_type="application/octet-stream")


class PacketPhoneHomeCloud(_PhoneHomeRoutes):
    """The phone-home endpoint on its own host (Tinkerbell on Packet)."""

    name = "packet-phone-home"

    def __init__(self, model: PacketModel, phone_home_url: str) -> None:
        parts = urlsplit(phone_home_url)
        super().__init__(f"{parts.scheme}://{parts.netloc}/")
        self.model = model
        self._add_phone_home(phone_home_url)


def build(source: DocumentSource) -> list[CloudApp]:
    metadata = source.json("metadata", "metadata.json")
    key = source.raw("phone_home_key", "phone-home-key.pub")
    model = PacketModel(
        metadata=metadata if isinstance(metadata, dict) else {},
        userdata=source.raw("userdata", "userdata"),
        phone_home_key=None if key is None else key.decode("utf-8").strip(),
    )
    base_url: str = source.setting("base_url", DEFAULT_BASE_URL)
    apps: list[CloudApp] = [PacketMetadataCloud(model, base_url)]
    phone_home_url = model.phone_home_url
    if phone_home_url is not None and not _same_host(phone_home_url, base_url):
        apps.append(PacketPhoneHomeCloud(model, phone_home_url))
    return apps
