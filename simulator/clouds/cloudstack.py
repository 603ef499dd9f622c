"""Apache CloudStack's virtual router: the metadata server and the password server.

Two apps share one model. The metadata server answers ``/latest/meta-data/<resource>``
and ``/latest/user-data`` with plain text. The password server (same host, port 8080)
answers ``GET`` requests according to their ``DomU_Request`` header: ``send_my_password``
gets the pending password until ``saved_password`` acknowledges it, after which it gets
the literal ``saved_password``; anything else gets ``bad_request``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, not_found, text
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.errors import ScenarioError

DEFAULT_BASE_URL = "http://10.1.1.1/"
DEFAULT_PASSWORD_SERVER_PORT = 8080
DOMU_HEADER = "DomU_Request"
SEND_PASSWORD = "send_my_password"
SAVED_PASSWORD = "saved_password"
BAD_REQUEST = "bad_request"
RESOURCE = r"(?P<resource>[A-Za-z0-9][A-Za-z0-9._-]*)"


@dataclass
class CloudStackModel:
    # What the cloud saw rather than what it holds: a power cut that adds a boot changes it
    # by design, so the power-loss explorer does not compare it.
    HISTORY: ClassVar[tuple[str, ...]] = ("password_requests",)
    """What the router knows about the one guest it serves."""

    meta_data: dict[str, str]
    user_data: bytes | None = None
    # The password waiting to be fetched; None when there is none.
    password: str | None = None
    # A password was handed out and acknowledged: "send" now answers saved_password.
    password_saved: bool = False
    # Every (DomU_Request value or None, answer body) the password server saw, in order.
    password_requests: list[tuple[str | None, str]] = field(default_factory=list)

    def send_password(self) -> str:
        if self.password is not None:
            return self.password
        return SAVED_PASSWORD if self.password_saved else ""

    def acknowledge_password(self) -> str:
        if self.password is not None:
            self.password = None
            self.password_saved = True
        return SAVED_PASSWORD


class CloudStackMetadata(CloudApp):
    """The router's metadata web server (read-only static files, GET only)."""

    name = "cloudstack"

    def __init__(self, model: CloudStackModel, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)
        self.model = model
        self.route("GET", "/latest/meta-data/?", self._listing)
        self.route("GET", f"/latest/meta-data/{RESOURCE}", self._resource)
        self.route("GET", "/latest/user-data", self._user_data)

    def _listing(self, request: SimRequest) -> SimResponse:
        return text("\n".join(sorted(self.model.meta_data)))

    def _resource(self, request: SimRequest, resource: str) -> SimResponse:
        value = self.model.meta_data.get(resource)
        if value is None:
            return not_found()
        return text(value)

    def _user_data(self, request: SimRequest) -> SimResponse:
        if self.model.user_data is None:
            return not_found()
        return text(self.model.user_data, content_type="application/octet-stream")


class CloudStackPasswordServer(CloudApp):
    """The router's password server: any path, ``GET`` with a ``DomU_Request`` header."""

    name = "cloudstack-password"

    def __init__(self, model: CloudStackModel, base_url: str) -> None:
        super().__init__(base_url)
        self.model = model
        self.route("GET", "/.*", self._get)
        # Saving a password is for the management side, on the router itself; a guest
        # posting here is refused.
        self.route("POST", "/.*", lambda request: text("Forbidden", 403))
        self.route("PUT DELETE PATCH HEAD", "/.*", self._unsupported)

    def _get(self, request: SimRequest) -> SimResponse:
        request_type = request.header(DOMU_HEADER)
        if request_type == SEND_PASSWORD:
            answer = self.model.send_password()
        elif request_type == SAVED_PASSWORD:
            answer = self.model.acknowledge_password()
        else:
            answer = BAD_REQUEST
        self.model.password_requests.append((request_type, answer))
        return text(answer)

    def _unsupported(self, request: SimRequest) -> SimResponse:
        return text(f"Unsupported method ({request.method!r})", 501)


def password_server_url(metadata_base_url: str, port: int) -> str:
    """Where the password server of the router at ``metadata_base_url`` listens."""
    host = urlsplit(metadata_base_url).hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def _meta_data(source: DocumentSource) -> dict[str, str]:
    document = source.json("meta_data", "meta-data.json")
    if document is None:
        return {}
    if not isinstance(document, Mapping) or not all(
        isinstance(value, str) for value in document.values()
    ):
        raise ScenarioError(
            str(source.origin or f"cloud {source.cloud_type}"),
            "must map each resource name to its text",
            "cloud.meta_data",
        )
    return {str(name): value for name, value in document.items()}


def _password(source: DocumentSource) -> str | None:
    data = source.raw("password", "password")
    if data is None:
        return None
    # A file's trailing newline is not part of the password.
    return data.decode("utf-8").strip() or None


def build(source: DocumentSource) -> list[CloudApp]:
    model = CloudStackModel(
        meta_data=_meta_data(source),
        user_data=source.raw("user_data", "user-data"),
        password=_password(source),
        password_saved=bool(source.setting("password_saved", False)),
    )
    dhcp_server: Any = source.setting("dhcp_server")
    if dhcp_server is not None and not re.fullmatch(r"[0-9.]+", str(dhcp_server)):
        raise ScenarioError(
            str(source.origin or f"cloud {source.cloud_type}"),
            "must be an IPv4 address",
            "cloud.dhcp_server",
        )
    # With dhcp_server the router answers only at the guest's DHCP server address, so
    # the agent's probe of the configured base URL finds nothing there.
    base_url = (
        f"http://{dhcp_server}/"
        if dhcp_server is not None
        else source.setting("base_url", DEFAULT_BASE_URL)
    )
    port = int(source.setting("password_server_port", DEFAULT_PASSWORD_SERVER_PORT))
    return [
        CloudStackMetadata(model, base_url),
        CloudStackPasswordServer(model, password_server_url(base_url, port)),
    ]
