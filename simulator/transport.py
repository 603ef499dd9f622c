"""Serving simulated clouds to the agent's ``requests`` calls, in-process.

One catch-all ``responses`` callback routes every request by URL to the cloud mounted
there; anything else is refused as a closed port would be. Nothing reaches a socket.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests
import responses

from simulator.clouds.base import CloudApp, SimRequest
from simulator.trace import Trace

METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH")

ResponseTuple = tuple[int, dict[str, str], bytes]


def _mount_point(base_url: str) -> tuple[str, str, str]:
    parts = urlsplit(base_url)
    return parts.scheme, parts.netloc.lower(), parts.path or "/"


class InProcessTransport:
    def __init__(self, clouds: Sequence[CloudApp], trace: Trace) -> None:
        self.clouds = list(clouds)
        self.trace = trace

    def _cloud_for(self, url: str) -> CloudApp | None:
        parts = urlsplit(url)
        for cloud in self.clouds:
            scheme, netloc, path = _mount_point(cloud.base_url)
            if (parts.scheme, parts.netloc.lower()) == (scheme, netloc) and parts.path.startswith(
                path
            ):
                return cloud
        return None

    def _dispatch(self, prepared: requests.PreparedRequest) -> ResponseTuple | Exception:
        url = prepared.url or ""
        method = prepared.method or "GET"
        cloud = self._cloud_for(url)
        if cloud is None:
            self.trace.emit("http", method=method, url=url, status=None, error="refused")
            return requests.ConnectionError(f"Connection refused: nothing listens at {url}")
        body = prepared.body or b""
        request = SimRequest(
            method=method,
            url=url,
            path=urlsplit(url).path,
            headers=dict(prepared.headers),
            body=body.encode() if isinstance(body, str) else body,
        )
        response = cloud.handle(request)
        self.trace.emit("http", method=method, url=url, status=response.status)
        return response.status, dict(response.headers), response.body

    @contextmanager
    def serving(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for method in METHODS:
                mock.add_callback(method, re.compile(".*"), callback=self._dispatch)
            yield
