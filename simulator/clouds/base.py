"""What a simulated cloud is: a model plus a route table, transport-agnostic.

A cloud app takes a :class:`SimRequest` and returns a :class:`SimResponse`. The same
app is served in-process (``responses``) or on a loopback socket; it never knows which.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from guestsim.simulator.clouds.tree import ServedTree


@dataclass(frozen=True)
class SimRequest:
    method: str
    url: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""
    # How the agent's HTTP client was told to make this request, where that differs from
    # requests' defaults: ``verify`` (False, or a CA bundle path) and ``timeout``. Only an
    # in-process client shows it; a request off a real socket has none.
    client: Mapping[str, Any] = field(default_factory=dict)
    # Where a real client reached a cloud served on its own (``guestsim serve``), as
    # ``http://host:port`` from its Host header: links in the cloud's documents point
    # there. None when the cloud is reached at its base URL (a scenario's gateway).
    public_root: str | None = None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass(frozen=True)
class SimResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    """One request routed to a cloud, and the status the agent got.

    ``fault`` is the index of the fault that matched it (None: none did). A request a fault
    answered with a status never reached the cloud: it is only in
    :attr:`CloudApp.exchanges`. One a fault only delayed, or whose body it mangled, did
    reach it and shows the cloud's status.
    """

    method: str
    path: str
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    fault: int | None = None
    # Always None: an answered request has no connection error (see UnansweredRequest).
    error: None = None

    @property
    def faulted(self) -> bool:
        """A fault matched this request (it answered, delayed or mangled it)."""
        return self.fault is not None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass(frozen=True)
class UnansweredRequest:
    """A request a fault left without an HTTP answer before it reached the cloud:
    ``error`` is "refused", "reset" or "hang"; ``status`` is None."""

    method: str
    path: str
    body: bytes
    headers: Mapping[str, str]
    fault: int
    error: str
    status: None = None

    @property
    def faulted(self) -> bool:
        return True

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


# What a cloud's exchanges hold: the requests it received, and those a fault answered.
Exchange = RecordedRequest | UnansweredRequest


Handler = Callable[..., SimResponse]


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    handler: Handler


def text(body: str | bytes, status: int = 200, content_type: str = "text/plain") -> SimResponse:
    data = body.encode() if isinstance(body, str) else body
    return SimResponse(status, data, {"Content-Type": content_type})


def not_found() -> SimResponse:
    return text("Not Found", 404)


class CloudApp:
    """Base of every simulated cloud: routing and the request log."""

    name = "cloud"
    # Documents served from a folder laid out as the wire paths (``cloud.tree``), before the
    # routes; None: the model's routes serve them. See :mod:`.tree`.
    tree: ServedTree | None = None

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # Seconds since the epoch, for what a cloud times (token lifetimes): real time when
        # served on its own (``guestsim serve``); a machine sets it to its guest clock.
        self.clock: Callable[[], float] = time.time
        # What this app received and answered, in order.
        self.requests: list[RecordedRequest] = []
        # Every request routed to this app in a machine's run, in order: those in
        # ``requests``, and those a fault answered before they reached it (``fault`` set).
        self.exchanges: list[Exchange] = []
        self._routes: list[Route] = []

    def route(self, methods: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``methods`` (space separated) on a full-path regex."""
        self._routes.append(Route(tuple(methods.split()), re.compile(f"^{pattern}$"), handler))

    def handle(self, request: SimRequest) -> SimResponse:
        response = self._dispatch(request)
        self.requests.append(
            RecordedRequest(
                request.method, request.path, response.status, request.body, dict(request.headers)
            )
        )
        return response

    def _dispatch(self, request: SimRequest) -> SimResponse:
        if self.tree is not None:
            served = self.tree.serve(self, request)
            if served is not None:
                return served
        path_matched = False
        for route in self._routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            path_matched = True
            if request.method in route.methods:
                return route.handler(request, **match.groupdict())
        return text("Method Not Allowed", 405) if path_matched else not_found()

    def link_base(self, request: SimRequest) -> str:
        """The base URL for links in documents: where the client reached this cloud."""
        if request.public_root is None:
            return self.base_url
        return request.public_root + (urlsplit(self.base_url).path or "/")

    def describe(self) -> dict[str, Any]:
        return {"cloud": self.name, "base_url": self.base_url}
