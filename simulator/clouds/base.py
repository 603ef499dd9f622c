"""What a simulated cloud is: a model plus a route table, transport-agnostic.

A cloud app takes a :class:`SimRequest` and returns a :class:`SimResponse`. The same
app is served in-process (``responses``) or on a loopback socket; it never knows which.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


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
    method: str
    path: str
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


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

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # Seconds since the epoch, for what a cloud times (token lifetimes): real time when
        # served on its own (``guestsim serve``); a machine sets it to its guest clock.
        self.clock: Callable[[], float] = time.time
        self.requests: list[RecordedRequest] = []
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
        path_matched = False
        for route in self._routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            path_matched = True
            if request.method in route.methods:
                return route.handler(request, **match.groupdict())
        return text("Method Not Allowed", 405) if path_matched else not_found()

    def describe(self) -> dict[str, Any]:
        return {"cloud": self.name, "base_url": self.base_url}
