"""Amazon EC2's instance metadata service (IMDS): the metadata tree, user data, IMDSv2.

The model holds the ``meta-data`` tree as nested mappings (leaves are text; lists are
served one item per line). ``public-keys`` is given as ``{name: openssh key}`` and served
in EC2's index form: ``0=name`` in the listing, then ``public-keys/0/openssh-key``.

IMDSv2: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1 to
21600) issues a session token; a GET carrying ``X-aws-ec2-metadata-token`` must name a
live token (else 401). With ``imdsv2: required`` a GET without a token is refused with
401 too; with ``optional`` (EC2's default) it is served as IMDSv1.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, not_found, text
from guestsim.simulator.clouds.documents import DocumentSource

DEFAULT_BASE_URL = "http://169.254.169.254/"

# API versions IMDS lists at its root (oldest first), all serving the same tree here.
VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2018-03-28",
    "2018-08-17",
    "2018-09-24",
    "2019-10-01",
    "2020-10-27",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "2022-09-24",
    "latest",
)

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL_SECONDS = 21600
IMDSV2_MODES = ("optional", "required")
_DIGITS = re.compile("[0-9]+")


@dataclass
class EC2Model:
    # What the cloud saw rather than what it holds: a power cut that adds a boot changes it
    # by design, so the power-loss explorer does not compare it.
    HISTORY: ClassVar[tuple[str, ...]] = ("tokens", "tokens_issued")
    meta_data: dict[str, Any]
    user_data: bytes | None = None
    imdsv2: str = "optional"
    # Issued session tokens -> expiry (seconds since the epoch, on the cloud's clock).
    tokens: dict[str, float] = field(default_factory=dict)
    tokens_issued: int = 0

    def __post_init__(self) -> None:
        if self.imdsv2 not in IMDSV2_MODES:
            raise ValueError(f"imdsv2 must be one of {', '.join(IMDSV2_MODES)}: {self.imdsv2!r}")

    def issue_token(self, ttl: int, now: float) -> str:
        self.tokens_issued += 1
        # Deterministic: the n-th token of a run is always the same string.
        digest = hashlib.sha256(f"guestsim-imds:{self.tokens_issued}:{ttl}".encode()).digest()
        token = "AQAEA" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
        self.tokens[token] = now + ttl
        return token

    def token_valid(self, token: str, now: float) -> bool:
        expiry = self.tokens.get(token)
        return expiry is not None and now < expiry


def _leaf_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(str(item) for item in value)
    return str(value)


class EC2Cloud(CloudApp):
    name = "ec2"

    def __init__(self, model: EC2Model, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)
        self.model = model
        version = "(?P<version>" + "|".join(v.replace(".", r"\.") for v in VERSIONS) + ")"
        # Paths are served below the base URL's own path (usually just "/").
        prefix = re.escape(urlsplit(base_url).path.rstrip("/"))
        self.route("PUT", prefix + TOKEN_PATH, self._token)
        self.route("GET", f"{prefix}/", self._guarded(self._versions))
        self.route("GET", f"{prefix}/{version}/?", self._guarded(self._version_root))
        self.route(
            "GET",
            f"{prefix}/{version}/meta-data(?:/(?P<item>.*))?",
            self._guarded(self._meta_data),
        )
        self.route("GET", f"{prefix}/{version}/user-data/?", self._guarded(self._user_data))
        # Anything else, OpenStack's probe /openstack/latest/meta_data.json included,
        # is not EC2's: a fast 404, whatever the token situation.

    # --- IMDSv2 ------------------------------------------------------------------------

    def _token(self, request: SimRequest) -> SimResponse:
        if request.header("X-Forwarded-For") is not None:
            # IMDS refuses token requests that went through a proxy.
            return text("Forbidden", 403)
        raw_ttl = request.header(TTL_HEADER)
        if raw_ttl is None or not _DIGITS.fullmatch(raw_ttl.strip()):
            return text("Bad Request", 400)
        ttl = int(raw_ttl)
        if not 1 <= ttl <= MAX_TTL_SECONDS:
            return text("Bad Request", 400)
        token = self.model.issue_token(ttl, self.clock())
        return SimResponse(
            200, token.encode(), {"Content-Type": "text/plain", TTL_HEADER: str(ttl)}
        )

    def _guarded(self, handler: Callable[..., SimResponse]) -> Callable[..., SimResponse]:
        def guarded(request: SimRequest, **groups: str) -> SimResponse:
            token = request.header(TOKEN_HEADER)
            if token is not None:
                if not self.model.token_valid(token, self.clock()):
                    return text("Unauthorized", 401)
            elif self.model.imdsv2 == "required":
                return text("Unauthorized", 401)
            return handler(request, **groups)

        return guarded

    # --- the tree ----------------------------------------------------------------------

    def _versions(self, request: SimRequest) -> SimResponse:
        return text("\n".join(VERSIONS))

    def _version_root(self, request: SimRequest, version: str) -> SimResponse:
        entries = ["meta-data"]
        if self.model.user_data is not None:
            entries.append("user-data")
        return text("\n".join(entries))

    def _user_data(self, request: SimRequest, version: str) -> SimResponse:
        if self.model.user_data is None:
            return not_found()
        return text(self.model.user_data, content_type="application/octet-stream")

    def _meta_data(self, request: SimRequest, version: str, item: str | None) -> SimResponse:
        parts = [part for part in (item or "").split("/") if part]
        if parts[:1] == ["public-keys"]:
            return self._public_keys(parts[1:])
        node: Any = self.model.meta_data
        for part in parts:
            if not isinstance(node, Mapping) or part not in node:
                return not_found()
            node = node[part]
        if isinstance(node, Mapping):
            return text(
                "\n".join(
                    f"{key}/" if isinstance(value, Mapping) else key for key, value in node.items()
                )
            )
        return text(_leaf_text(node))

    def _public_keys(self, parts: list[str]) -> SimResponse:
        keys = self.model.meta_data.get("public-keys")
        if not isinstance(keys, Mapping):
            # EC2 has no public-keys entry at all for an instance without a key pair.
            return not_found()
        names = list(keys)
        if not parts:
            return text("\n".join(f"{index}={name}" for index, name in enumerate(names)))
        if not _DIGITS.fullmatch(parts[0]) or int(parts[0]) >= len(names):
            return not_found()
        key = str(keys[names[int(parts[0])]])
        if len(parts) == 1:
            return text("openssh-key")
        if parts[1:] == ["openssh-key"]:
            return text(key)
        return not_found()


def build(source: DocumentSource) -> list[CloudApp]:
    meta_data = source.json("meta_data", "meta-data.json")
    if not isinstance(meta_data, dict):
        meta_data = {}
    model = EC2Model(
        meta_data=meta_data,
        user_data=source.raw("user_data", "user-data"),
        imdsv2=source.setting("imdsv2", "optional"),
    )
    return [EC2Cloud(model, source.setting("base_url", DEFAULT_BASE_URL))]
