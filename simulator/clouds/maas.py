"""MAAS's node metadata API (2012-03-01): OAuth 1.0 PLAINTEXT-signed reads of one node's data.

Like MAAS, everything below a version requires a valid OAuth signature made with the
node's credentials (consumer key, token key and secret; MAAS leaves the consumer secret
empty); anything else is answered 401. Only the version index is anonymous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from guestsim.simulator.clouds.base import (
    CloudApp,
    Handler,
    SimRequest,
    SimResponse,
    not_found,
    text,
)
from guestsim.simulator.clouds.documents import DocumentSource

DEFAULT_BASE_URL = "http://10.20.0.2:5240/MAAS/metadata/"
VERSIONS = ("2012-03-01", "latest")
REQUIRED_OAUTH_PARAMS = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_signature",
    "oauth_nonce",
    "oauth_timestamp",
)


@dataclass(frozen=True)
class MaasCredentials:
    """The node's OAuth credentials, as MAAS hands them to the deployed image."""

    consumer_key: str
    token_key: str
    token_secret: str
    consumer_secret: str = ""

    def plaintext_signature(self) -> str:
        return f"{quote(self.consumer_secret, safe='~')}&{quote(self.token_secret, safe='~')}"


@dataclass
class MaasModel:
    credentials: MaasCredentials
    instance_id: str | None
    local_hostname: str | None
    public_keys: list[str] = field(default_factory=list)
    x509: str | None = None
    user_data: bytes | None = None


def parse_oauth_header(value: str | None) -> dict[str, str] | None:
    """The parameters of an ``OAuth ...`` Authorization value, in any order; None if not one."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "oauth":
        return None
    params: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, quoted = part.partition("=")
        if not sep or len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
            return None
        params[unquote(name.strip())] = unquote(quoted[1:-1])
    return params


def _unauthorized(reason: str) -> SimResponse:
    return SimResponse(
        401,
        f"Authorization Error: {reason}".encode(),
        {"Content-Type": "text/plain", "WWW-Authenticate": 'OAuth realm="OAuth"'},
    )


class MaasCloud(CloudApp):
    name = "maas"

    def __init__(self, model: MaasModel, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)
        self.model = model
        # Every accepted request's OAuth parameters, in arrival order.
        self.authorizations: list[dict[str, str]] = []
        prefix = re.escape(urlsplit(base_url).path or "/")
        version = "(?P<version>" + "|".join(VERSIONS) + ")"
        self.route("GET", prefix, self._versions)
        self.route("GET", f"{prefix}{version}/", self._signed(self._version_index))
        self.route("GET", f"{prefix}{version}/meta-data/", self._signed(self._meta_data_index))
        self.route(
            "GET", f"{prefix}{version}/meta-data/(?P<item>[^/]+)", self._signed(self._meta_data)
        )
        self.route("GET", f"{prefix}{version}/user-data", self._signed(self._user_data))

    # --- authentication ----------------------------------------------------------------

    def check_authorization(self, request: SimRequest) -> str | None:
        """Why the request is refused, or None when its signature is valid."""
        params = parse_oauth_header(request.header("Authorization"))
        if params is None:
            return "no OAuth Authorization header"
        missing = [name for name in REQUIRED_OAUTH_PARAMS if name not in params]
        if missing:
            return f"missing OAuth parameters: {', '.join(missing)}"
        if params["oauth_signature_method"] != "PLAINTEXT":
            return f"unsupported signature method {params['oauth_signature_method']}"
        credentials = self.model.credentials
        if params["oauth_consumer_key"] != credentials.consumer_key:
            return "unknown consumer key"
        if params["oauth_token"] != credentials.token_key:
            return "unknown token"
        if params["oauth_signature"] != credentials.plaintext_signature():
            return "invalid signature"
        self.authorizations.append(params)
        return None

    def _signed(self, handler: Handler) -> Handler:
        def guarded(request: SimRequest, **groups: str) -> SimResponse:
            refusal = self.check_authorization(request)
            if refusal is not None:
                return _unauthorized(refusal)
            response: SimResponse = handler(request, **groups)
            return response

        return guarded

    # --- handlers ----------------------------------------------------------------------

    def _meta_data_items(self) -> dict[str, str]:
        items = {
            "instance-id": self.model.instance_id,
            "local-hostname": self.model.local_hostname,
            "public-keys": "\n".join(self.model.public_keys),
            "x509": self.model.x509,
        }
        return {name: value for name, value in items.items() if value is not None}

    def _versions(self, request: SimRequest) -> SimResponse:
        return text("\n".join(VERSIONS))

    def _version_index(self, request: SimRequest, version: str) -> SimResponse:
        entries = ["meta-data"] + (["user-data"] if self.model.user_data is not None else [])
        return text("\n".join(entries))

    def _meta_data_index(self, request: SimRequest, version: str) -> SimResponse:
        return text("\n".join(self._meta_data_items()))

    def _meta_data(self, request: SimRequest, version: str, item: str) -> SimResponse:
        value = self._meta_data_items().get(item)
        return not_found() if value is None else text(value)

    def _user_data(self, request: SimRequest, version: str) -> SimResponse:
        if self.model.user_data is None:
            return not_found()
        return text(self.model.user_data, content_type="application/octet-stream")


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _public_keys(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines()
    return [str(key) for key in value]


def build(source: DocumentSource) -> list[CloudApp]:
    meta_data: dict[str, Any] = source.json("meta_data", "meta-data.json") or {}
    credentials: dict[str, Any] = source.json("credentials", "credentials.json") or {}
    x509 = source.raw("x509", "x509.pem")
    model = MaasModel(
        credentials=MaasCredentials(
            consumer_key=str(credentials.get("consumer_key", "")),
            token_key=str(credentials.get("token_key", "")),
            token_secret=str(credentials.get("token_secret", "")),
            consumer_secret=str(credentials.get("consumer_secret", "")),
        ),
        instance_id=_optional_text(meta_data.get("instance-id")),
        local_hostname=_optional_text(meta_data.get("local-hostname")),
        public_keys=_public_keys(meta_data.get("public-keys")),
        x509=None if x509 is None else x509.decode("utf-8"),
        user_data=source.raw("user_data", "user-data"),
    )
    return [MaasCloud(model, source.setting("base_url", DEFAULT_BASE_URL))]
