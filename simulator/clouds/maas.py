"""MAAS's node metadata API (2012-03-01): OAuth 1.0 PLAINTEXT-signed reads of one node's data.

Like MAAS, everything below a version requires a valid OAuth signature made with the
node's credentials (consumer key, token key and secret; MAAS leaves the consumer secret
empty); anything else is answered 401. Only the version index is anonymous. The header is
parsed and the signature checked with oauthlib's server-side helpers, the library the
published agent signs with. A node whose token key is empty takes requests without an
``oauth_token`` (OAuth clients, oauthlib among them, leave an empty token out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1 import SIGNATURE_PLAINTEXT
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

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
# Required of every signed request; ``oauth_token`` too when the node has a token key.
REQUIRED_OAUTH_PARAMS = (
    "oauth_consumer_key",
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


@dataclass
class MaasModel:
    credentials: MaasCredentials
    instance_id: str | None
    local_hostname: str | None
    public_keys: list[str] = field(default_factory=list)
    x509: str | None = None
    user_data: bytes | None = None


def parse_oauth_header(value: str | None) -> dict[str, str] | None:
    """The parameters of an ``OAuth ...`` Authorization value, in any order, with the
    ``oauth_*`` values percent-decoded (by oauthlib); None if the value is not one."""
    if not value:
        return None
    try:
        params = oauth_signature.collect_parameters(
            headers={"Authorization": value}, exclude_oauth_signature=False, with_realm=True
        )
    except ValueError:
        return None
    return {oauth_utils.unescape(name): param for name, param in params}


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
        credentials = self.model.credentials
        required = REQUIRED_OAUTH_PARAMS + (("oauth_token",) if credentials.token_key else ())
        missing = [name for name in required if name not in params]
        if missing:
            return f"missing OAuth parameters: {', '.join(missing)}"
        if params.get("oauth_version", "1.0") != "1.0":
            return f"unsupported OAuth version {params['oauth_version']}"
        if params["oauth_signature_method"] != SIGNATURE_PLAINTEXT:
            return f"unsupported signature method {params['oauth_signature_method']}"
        if params["oauth_consumer_key"] != credentials.consumer_key:
            return "unknown consumer key"
        if params.get("oauth_token", "") != credentials.token_key:
            return "unknown token"
        try:
            oauth_request = OAuthRequest(request.url, request.method)
        except ValueError:
            return "malformed request URL"
        oauth_request.signature = params["oauth_signature"]
        if not oauth_signature.verify_plaintext(
            oauth_request, credentials.consumer_secret, credentials.token_secret
        ):
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
