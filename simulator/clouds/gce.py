"""Google Compute Engine's metadata server (``computeMetadata/v1``): one tree of values.

The model is the metadata tree itself (``instance`` and ``project``, with their
``attributes``). A leaf is served as text; a folder, asked for with a trailing slash, as
a listing of its entries (sub-folders end with ``/``), or as JSON with
``?recursive=true`` (``True`` too: GCE takes the value in any case, and cloud-init sends
it so); a folder asked for without the slash redirects to it, as GCE does.
Like GCE, a request without ``Metadata-Flavor: Google``, or one carrying
``X-Forwarded-For``, is refused with 403.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse
from guestsim.simulator.clouds.documents import DocumentSource

DEFAULT_BASE_URL = "http://metadata.google.internal/computeMetadata/v1/"
FLAVOR_HEADER = "Metadata-Flavor"
FLAVOR = "Google"
RESPONSE_HEADERS = {FLAVOR_HEADER: FLAVOR, "Server": "Metadata Server for VM"}


@dataclass
class GceModel:
    metadata: dict[str, Any]


def _respond(status: int, body: str, content_type: str = "application/text") -> SimResponse:
    return SimResponse(
        status, body.encode("utf-8"), {**RESPONSE_HEADERS, "Content-Type": content_type}
    )


def _leaf_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def _last(query: dict[str, list[str]], name: str) -> str:
    """The last value of a query parameter ("" when absent)."""
    values = query.get(name)
    return values[-1] if values else ""


class GceCloud(CloudApp):
    name = "gce"

    def __init__(self, model: GceModel, base_url: str = DEFAULT_BASE_URL) -> None:
        super().__init__(base_url)
        self.model = model
        self._prefix = urlsplit(base_url).path or "/"
        self.route("GET", re.escape(self._prefix) + r"(?P<item>[^?]*)(?:\?.*)?", self._get)

    def refusal(self, request: SimRequest) -> SimResponse | None:
        """GCE's answer to a request it does not serve for lack of the flavor header."""
        if request.header("X-Forwarded-For") is not None:
            return _respond(403, "Forbidden: requests with X-Forwarded-For are not served.\n")
        if request.header(FLAVOR_HEADER) != FLAVOR:
            return _respond(
                403,
                f"Your client does not have permission to get URL {urlsplit(request.path).path} "
                f"from this server. Missing {FLAVOR_HEADER}:{FLAVOR} header.\n",
            )
        return None

    def lookup(self, item: str) -> tuple[bool, Any]:
        """(found, value) of the tree node at ``item`` (slash separated, no prefix)."""
        node: Any = self.model.metadata
        for part in [p for p in item.split("/") if p]:
            if not isinstance(node, dict) or part not in node:
                return False, None
            node = node[part]
        return True, node

    def _get(self, request: SimRequest, item: str) -> SimResponse:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        found, node = self.lookup(item)
        if not found or node is None:
            return _respond(404, "Not Found\n", "text/html")
        query = parse_qs(urlsplit(request.path).query)
        recursive = _last(query, "recursive").lower() == "true"
        as_json = query.get("alt") == ["json"] or recursive
        if isinstance(node, dict):
            if item and not item.endswith("/"):
                location = f"{self._prefix}{item}/"
                return SimResponse(301, b"", {**RESPONSE_HEADERS, "Location": location})
            if recursive:
                return _respond(200, json.dumps(node), "application/json")
            entries = [f"{key}/" if isinstance(value, dict) else key for key, value in node.items()]
            if as_json:
                return _respond(200, json.dumps(entries), "application/json")
            return _respond(200, "".join(f"{entry}\n" for entry in entries))
        if item.endswith("/"):
            return _respond(404, "Not Found\n", "text/html")
        if as_json:
            return _respond(200, json.dumps(node), "application/json")
        return _respond(200, _leaf_text(node))


def build(source: DocumentSource) -> list[CloudApp]:
    metadata = source.json("metadata", "metadata.json")
    model = GceModel(metadata=metadata if isinstance(metadata, dict) else {})
    return [GceCloud(model, source.setting("base_url", DEFAULT_BASE_URL))]
