"""Amazon EC2's instance metadata service (IMDS): the metadata tree, user data, IMDSv2.

The model holds the ``meta-data`` tree as nested mappings (leaves are text; lists are
served one item per line). ``public-keys`` is given as ``{name: openssh key}`` and served
in EC2's index form: ``0=name`` in the listing, then ``public-keys/0/openssh-key``. The
IAM documents ``iam/info`` and ``iam/security-credentials/<role>`` are mappings served as
JSON, as EC2 does, their ``LastUpdated`` and ``Expiration`` (when not given) from the
cloud's clock: updated on the hour, expiring six hours later. ``dynamic/instance-identity/
document`` is derived from the tree (instance, image, type, zone, region, private IP, the
account of the instance profile), with the scenario's ``identity_document`` over it.

IMDSv2: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1 to
21600) issues a session token; a GET carrying ``X-aws-ec2-metadata-token`` must name a
live token (else 401). With ``imdsv2: required`` a GET without a token is refused with
401 too; with ``optional`` (EC2's default) it is served as IMDSv1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
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
# meta-data paths whose mapping is one JSON document, not a folder.
_JSON_DOCUMENTS = re.compile(r"iam/info|iam/security-credentials/[^/]+")
# What EC2 rotates role credentials by: updated every hour, valid for six.
CREDENTIALS_PERIOD_S = 3600
CREDENTIALS_LIFETIME_S = 6 * 3600
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
# What an instance identity document holds that the meta-data tree does not say.
IDENTITY_DEFAULTS: dict[str, Any] = {
    "accountId": "123456789012",
    "architecture": "x86_64",
    "billingProducts": None,
    "devpayProductCodes": None,
    "marketplaceProductCodes": None,
    "kernelId": None,
    "ramdiskId": None,
    "pendingTime": "2026-01-01T00:00:00Z",
    "version": "2017-09-30",
}
_ACCOUNT_IN_ARN = re.compile(r"arn:[^:]+:iam::([0-9]{12}):")


@dataclass
class EC2Model:
    # What the cloud saw rather than what it holds: a power cut that adds a boot changes it
    # by design, so the power-loss explorer does not compare it.
    HISTORY: ClassVar[tuple[str, ...]] = ("tokens", "tokens_issued")
    meta_data: dict[str, Any]
    user_data: bytes | None = None
    imdsv2: str = "optional"
    # Fields of dynamic/instance-identity/document over those derived from meta_data.
    identity_document: dict[str, Any] = field(default_factory=dict)
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

    def identity(self) -> dict[str, Any]:
        """dynamic/instance-identity/document: the instance as the tree describes it."""
        tree = self.meta_data
        placement = tree.get("placement")
        placement = placement if isinstance(placement, Mapping) else {}
        zone = placement.get("availability-zone")
        region = placement.get("region") or (str(zone)[:-1] if zone else None)
        document = dict(IDENTITY_DEFAULTS)
        iam = tree.get("iam")
        info = iam.get("info") if isinstance(iam, Mapping) else None
        if isinstance(info, Mapping):
            account = _ACCOUNT_IN_ARN.match(str(info.get("InstanceProfileArn", "")))
            if account:
                document["accountId"] = account.group(1)
        document.update(
            {
                "availabilityZone": zone,
                "imageId": tree.get("ami-id"),
                "instanceId": tree.get("instance-id"),
                "instanceType": tree.get("instance-type"),
                "privateIp": tree.get("local-ipv4"),
                "region": region,
            }
        )
        document.update(self.identity_document)
        return dict(sorted(document.items()))


def _leaf_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(str(item) for item in value)
    return str(value)


def _is_document(path: list[str]) -> bool:
    return _JSON_DOCUMENTS.fullmatch("/".join(path)) is not None


def _stamped(document: Mapping[str, Any], now: float) -> dict[str, Any]:
    """An IAM document with ``LastUpdated`` (and, for credentials, ``Expiration``) filled
    in from the clock where the document does not give them."""
    updated = int(now) - int(now) % CREDENTIALS_PERIOD_S
    stamped = dict(document)
    stamped.setdefault("LastUpdated", time.strftime(ISO_SECONDS, time.gmtime(updated)))
    if "AccessKeyId" in stamped:
        expiry = updated + CREDENTIALS_LIFETIME_S
        stamped.setdefault("Expiration", time.strftime(ISO_SECONDS, time.gmtime(expiry)))
    return stamped


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
        self.route(
            "GET",
            f"{prefix}/{version}/dynamic(?:/(?P<item>.*))?",
            self._guarded(self._dynamic),
        )
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
        entries = ["dynamic", "meta-data"]
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
        if isinstance(node, Mapping) and _is_document(parts):
            return text(json.dumps(_stamped(node, self.clock()), indent=2))
        if isinstance(node, Mapping):
            return text(
                "\n".join(
                    f"{key}/"
                    if isinstance(value, Mapping) and not _is_document([*parts, key])
                    else key
                    for key, value in node.items()
                )
            )
        return text(_leaf_text(node))

    def _dynamic(self, request: SimRequest, version: str, item: str | None) -> SimResponse:
        parts = [part for part in (item or "").split("/") if part]
        if not parts:
            return text("instance-identity/")
        if parts == ["instance-identity"]:
            return text("document")
        if parts == ["instance-identity", "document"]:
            return text(json.dumps(self.model.identity(), indent=2))
        return not_found()

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
        identity_document=dict(source.setting("identity_document", {})),
    )
    return [EC2Cloud(model, source.setting("base_url", DEFAULT_BASE_URL))]
