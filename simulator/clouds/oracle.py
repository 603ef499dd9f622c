"""Oracle Cloud Infrastructure's instance metadata service (IMDS v2, and legacy v1).

The model is the instance document OCI serves at ``/opc/v2/instance/`` and the list of
the instance's VNICs at ``/opc/v2/vnics/``. Any member is addressable by path below them
(``/opc/v2/instance/metadata/user_data``, ``/opc/v2/vnics/0/privateIp``): objects and
lists come back as JSON, strings as plain text. The v2 endpoints refuse a request without the
header ``Authorization: Bearer Oracle`` with 401; the legacy v1 endpoints need no
header and can be switched off (``legacy_v1: false``, then they answer 404).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, not_found, text
from guestsim.simulator.clouds.documents import DocumentSource

DEFAULT_BASE_URL = "http://169.254.169.254/"
AUTH_HEADER = "Authorization"
AUTH_VALUE = "Bearer Oracle"


@dataclass
class OracleModel:
    instance: dict[str, Any]
    legacy_v1: bool = True
    # The VNICs attached, primary first (vnicId, privateIp, macAddr, subnetCidrBlock, ...);
    # None: not served (404).
    vnics: list[dict[str, Any]] | None = None


def _unauthorized() -> SimResponse:
    body = json.dumps({"code": "NotAuthorized", "message": "Authorization failed"})
    return text(body, 401, content_type="application/json")


class OracleCloud(CloudApp):
    name = "oracle"

    def __init__(self, model: OracleModel, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)
        self.model = model
        # Paths are served below the base URL's own path (usually just "/").
        prefix = re.escape(urlsplit(base_url).path.rstrip("/"))
        self.route(
            "GET", f"{prefix}/opc/(?P<version>v1|v2)/instance(?:/(?P<item>.*))?", self._instance
        )
        self.route("GET", f"{prefix}/opc/(?P<version>v1|v2)/vnics(?:/(?P<item>.*))?", self._vnics)
        # Anything else, the root included, is a 404 without the header check. To
        # cloudbase-init's route check that 404 is no answer (its urllib GET raises on an
        # error status): it GETs the root three times, then adds a route to the host.

    def _refusal(self, request: SimRequest, version: str) -> SimResponse | None:
        if version == "v2":
            if request.header(AUTH_HEADER) != AUTH_VALUE:
                return _unauthorized()
        elif not self.model.legacy_v1:
            return not_found()
        return None

    def _instance(self, request: SimRequest, version: str, item: str | None) -> SimResponse:
        return self._refusal(request, version) or _member(self.model.instance, item)

    def _vnics(self, request: SimRequest, version: str, item: str | None) -> SimResponse:
        refusal = self._refusal(request, version)
        if refusal is not None:
            return refusal
        if self.model.vnics is None:
            return not_found()
        return _member(self.model.vnics, item)


def _member(document: Any, item: str | None) -> SimResponse:
    """The member of ``document`` at the slash-separated path ``item`` (list items by index)."""
    node: Any = document
    for part in (part for part in (item or "").split("/") if part):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch("[0-9]+", part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return not_found()
    if isinstance(node, str):
        return text(node)
    return text(json.dumps(node, indent=2), content_type="application/json")


def build(source: DocumentSource) -> list[CloudApp]:
    instance = source.json("instance", "instance.json")
    instance = dict(instance) if isinstance(instance, dict) else {}
    if source.has("user_data"):
        # Convenience for scenarios: plain user data, stored base64-encoded as OCI does.
        user_data = source.raw("user_data")
        metadata = dict(instance.get("metadata") or {})
        if user_data is None:
            metadata.pop("user_data", None)
        else:
            metadata["user_data"] = base64.b64encode(user_data).decode("ascii")
        instance["metadata"] = metadata
    vnics = source.json("vnics", "vnics.json")
    model = OracleModel(
        instance=instance,
        legacy_v1=source.setting("legacy_v1", True),
        vnics=list(vnics) if isinstance(vnics, list) else None,
    )
    return [OracleCloud(model, source.setting("base_url", DEFAULT_BASE_URL))]
