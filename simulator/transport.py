"""Serving simulated clouds to the agent's ``requests`` calls: in-process or on loopback.

Both transports intercept the agent's requests with one catch-all ``responses`` callback,
route them by URL to the cloud mounted there and apply the scenario's faults. In-process,
the cloud app answers directly; on loopback, the request really crosses a socket to a
server bound to 127.0.0.1 that serves the same app. One route table, two transports, the
same trace. Nothing ever leaves the machine.
"""

from __future__ import annotations

import copy
import dataclasses
import http.client
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests
import responses

from guestsim.simulator.clouds.base import (
    CloudApp,
    RecordedRequest,
    SimRequest,
    SimResponse,
    UnansweredRequest,
)
from guestsim.simulator.clouds.catalog import LOOPBACK
from guestsim.simulator.faults import DEFAULT_HANG_BUDGET_S, AgentHung, FaultPlan, mangle
from guestsim.simulator.trace import Trace

METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH")

ResponseTuple = tuple[int, dict[str, str], bytes]
Deliver = Callable[[CloudApp, SimRequest], SimResponse]


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
# A Host header worth linking to: a name or IPv4 address, or a bracketed IPv6 one, and a port.
_HOST_HEADER = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")

# The largest request body ``guestsim serve`` reads: a cloud's clients post small documents
# (a password, a health report); anything larger is refused with 413 before a byte is read.
MAX_REQUEST_BODY = 16 * 1024 * 1024
_DIGITS = re.compile(r"[0-9]+")


class _BadRequest(Exception):
    """A request the server refuses before reading its body: the status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _body_length(headers: Any) -> int:
    """The body length a request's headers declare, checked before anything is read.

    RFC 9112 section 6: a request with neither ``Content-Length`` nor ``Transfer-Encoding``
    has no body (EC2's ``PUT /latest/api/token`` is sent so by curl). A length must be one
    run of digits, the same in every copy of the header, at most ``MAX_REQUEST_BODY``.
    Transfer codings are not implemented: ``chunked`` gets 411 (send a length), others 501.
    Raises ``_BadRequest`` with the status to answer.
    """
    codings = headers.get_all("Transfer-Encoding") or []
    if codings:
        named = ", ".join(codings).lower()
        if "chunked" in named:
            raise _BadRequest(411, "chunked request bodies are not supported; send Content-Length")
        raise _BadRequest(501, f"transfer coding not implemented: {named[:80]}")
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    stripped = {value.strip() for value in values}
    if len(stripped) != 1:
        raise _BadRequest(400, "conflicting Content-Length headers")
    (value,) = stripped
    if not _DIGITS.fullmatch(value):
        raise _BadRequest(400, f"invalid Content-Length: {value[:40]!r}")
    # Compared as digits first: a 5000-digit number is too large, and int() refuses it.
    if len(value.lstrip("0")) > len(str(MAX_REQUEST_BODY)) or int(value) > MAX_REQUEST_BODY:
        raise _BadRequest(413, f"request body over {MAX_REQUEST_BODY} bytes")
    return int(value)


def _host(scheme: str, netloc: str) -> str:
    """``netloc`` lower-cased and without the scheme's default port (``x:80`` is ``x``)."""
    netloc = netloc.lower()
    default = _DEFAULT_PORTS.get(scheme)
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


def _mount_point(base_url: str) -> tuple[str, str, str]:
    parts = urlsplit(base_url)
    return parts.scheme, _host(parts.scheme, parts.netloc), parts.path or "/"


def request_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Gateway:
    """Routes a request to its cloud, through the scenario's faults, and traces it."""

    def __init__(
        self,
        clouds: Sequence[CloudApp],
        trace: Trace,
        faults: FaultPlan | None = None,
        advance: Callable[[float], None] = lambda seconds: None,
        hang_budget_s: float = DEFAULT_HANG_BUDGET_S,
        on_cloud_change: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_cloud_change(kind, call)`` hears of each request after which a cloud's model
        differs; when it raises, the cloud is put back as if the request never arrived."""
        self.clouds = list(clouds)
        self.on_cloud_change = on_cloud_change
        self.trace = trace
        self.faults = faults or FaultPlan()
        self.advance = advance
        self.hang_budget_s = hang_budget_s

    def cloud_for(self, url: str) -> CloudApp | None:
        parts = urlsplit(url)
        for cloud in self.clouds:
            scheme, netloc, path = _mount_point(cloud.base_url)
            same_host = (parts.scheme, _host(parts.scheme, parts.netloc)) == (scheme, netloc)
            if same_host and parts.path.startswith(path):
                return cloud
        return None

    def exchange(self, request: SimRequest, deliver: Deliver) -> SimResponse | Exception:
        method, url, client = request.method, request.url, request.client
        decision = self.faults.match(method, urlsplit(url).netloc.lower(), urlsplit(url).path)
        if decision is not None:
            index, fault = decision
            self.trace.emit("fault", index=index, method=method, url=url, **fault.describe())
            if fault.delay:
                if fault.delay >= self.hang_budget_s:
                    self._faulted(request, index, None, "hang")
                    raise AgentHung(method, url)
                self.advance(fault.delay)
            if fault.error == "hang":
                self._faulted(request, index, None, "hang")
                raise AgentHung(method, url)
            if fault.error in ("refused", "reset"):
                self._faulted(request, index, None, fault.error)
                self.trace.emit(
                    "http", method=method, url=url, status=None, error=fault.error, **client
                )
                return requests.ConnectionError(f"Connection {fault.error}: {url}")
            if fault.status is not None:
                self._faulted(request, index, fault.status, None)
                self.trace.emit("http", method=method, url=url, status=fault.status, **client)
                return SimResponse(fault.status, b"injected fault")
        cloud = self.cloud_for(url)
        if cloud is None:
            self.trace.emit("http", method=method, url=url, status=None, error="refused", **client)
            return requests.ConnectionError(f"Connection refused: nothing listens at {url}")
        logged = len(cloud.requests)
        response = self._deliver(cloud, request, deliver)
        received = cloud.requests[logged:]
        if decision is not None:
            # A fault that only delayed the request or mangles its answer: it is marked.
            received = [dataclasses.replace(r, fault=decision[0]) for r in received]
        cloud.exchanges.extend(received)
        if decision is not None and decision[1].body is not None:
            response = mangle(response, decision[1].body)
        self.trace.emit("http", method=method, url=url, status=response.status, **client)
        return response

    def _faulted(
        self, request: SimRequest, index: int, status: int | None, error: str | None
    ) -> None:
        """Log a request a fault answered with the cloud it was meant for (if any)."""
        cloud = self.cloud_for(request.url)
        if cloud is None:
            return
        headers = dict(request.headers)
        method, path, body = request.method, request.path, request.body
        cloud.exchanges.append(
            RecordedRequest(method, path, status, body, headers, fault=index)
            if status is not None
            else UnansweredRequest(method, path, body, headers, index, error or "refused")
        )

    def _deliver(self, cloud: CloudApp, request: SimRequest, deliver: Deliver) -> SimResponse:
        model = getattr(cloud, "model", None)
        if self.on_cloud_change is None or model is None:
            return deliver(cloud, request)
        before = copy.deepcopy(model)
        logged = len(cloud.requests)
        response = deliver(cloud, request)
        if model != before:
            try:
                self.on_cloud_change("cloud", f"{request.method} {request.path}")
            except BaseException:
                # The power failed as the request left: the cloud never got it.
                vars(model).update(vars(before))
                del cloud.requests[logged:]
                raise
        return response


# requests' own defaults: a request made with them shows no client settings.
_CLIENT_DEFAULTS = {"verify": True, "timeout": None}


def _sim_request(prepared: requests.PreparedRequest) -> SimRequest:
    url = prepared.url or ""
    body = prepared.body or b""
    # responses keeps the keyword arguments the adapter was called with on the request.
    sent = dict(getattr(prepared, "req_kwargs", {}))
    client = {
        name: sent[name]
        for name, default in _CLIENT_DEFAULTS.items()
        if name in sent and sent[name] != default
    }
    return SimRequest(
        method=prepared.method or "GET",
        url=url,
        path=request_path(url),
        headers=dict(prepared.headers),
        body=body.encode() if isinstance(body, str) else body,
        client=client,
    )


@contextmanager
def _intercept(gateway: Gateway, deliver: Deliver) -> Iterator[None]:
    def callback(prepared: requests.PreparedRequest) -> ResponseTuple | Exception:
        outcome = gateway.exchange(_sim_request(prepared), deliver)
        if isinstance(outcome, Exception):
            return outcome
        return outcome.status, dict(outcome.headers), outcome.body

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock, _guest_environment():
        for method in METHODS:
            mock.add_callback(method, re.compile(".*"), callback=callback)
        yield


@contextmanager
def _guest_environment() -> Iterator[None]:
    """Sessions that ignore the host's environment while the agent runs.

    requests reads proxies, CA bundles and .netrc credentials from the process environment
    (``trust_env``); the agent's environment is the guest's, so a host's HTTPS_PROXY or
    REQUESTS_CA_BUNDLE must not reach its requests (on loopback a host proxy would even
    carry them off the machine). Reading them also cost a fifth of a library run.
    """
    original = requests.Session.request

    def request(session: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
        session.trust_env = False
        return original(session, *args, **kwargs)

    requests.Session.request = request  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        requests.Session.request = original  # type: ignore[method-assign]


class _QuietServer(ThreadingHTTPServer):
    """A client that drops its connection mid-request is no error of the server's."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class InProcessTransport:
    """No sockets: the cloud app answers inside the agent's ``requests`` call."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @contextmanager
    def serving(self) -> Iterator[None]:
        with _intercept(self.gateway, lambda cloud, request: cloud.handle(request)):
            yield


class LoopbackServer:
    """One cloud app served over real HTTP on 127.0.0.1 (``guestsim serve``, real agents)."""

    def __init__(
        self,
        app: CloudApp,
        host: str = LOOPBACK,
        port: int = 0,
        faults: FaultPlan | None = None,
        on_request: Callable[[SimRequest, SimResponse | None], None] | None = None,
        direct: bool = False,
    ) -> None:
        """``direct``: real clients reach the app here (``guestsim serve``), not through a
        scenario's gateway; links in its documents then point at the address they used."""
        self.app = app
        self.faults = faults or FaultPlan()
        self.on_request = on_request
        self.direct = direct
        self._server = _QuietServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}/"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A request line too broken to name a version is answered as HTTP/1.0, with a
            # status line, rather than as HTTP/0.9 (a bare body nobody can read as an error).
            default_request_version = "HTTP/1.0"

            def _refuse(self, status: int, reason: str) -> None:
                """Answer an error and close: the body, if any, is left unread."""
                self.close_connection = True
                with suppress(OSError):  # a client already gone is told nothing
                    self.send_error(status, reason)

            def handle_expect_100(self) -> bool:
                # A client waiting for "100 Continue" hears the refusal instead.
                try:
                    _body_length(self.headers)
                except _BadRequest as refused:
                    self._refuse(refused.status, refused.reason)
                    return False
                return bool(super().handle_expect_100())

            def _serve(self) -> None:
                try:
                    length = _body_length(self.headers)
                except _BadRequest as refused:
                    self._refuse(refused.status, refused.reason)
                    return
                try:
                    urlsplit(self.path)
                except ValueError:  # an absolute form with a broken host: "http://[::1/"
                    self._refuse(400, "invalid request target")
                    return
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    self._refuse(400, "request body ended before Content-Length")
                    return
                request = SimRequest(
                    method=self.command,
                    url=self.path,
                    path=self.path,
                    headers={key: value for key, value in self.headers.items()},
                    body=body,
                    public_root=server.public_root(self.headers.get("Host")),
                )
                response = server.respond(request)
                if server.on_request is not None:
                    server.on_request(request, response)
                if response is None:
                    # An injected reset/refusal or hang: drop the connection unanswered.
                    self.close_connection = True
                    return
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

            def log_message(self, format: str, *args: object) -> None:
                """Requests are reported through ``on_request``, not stderr."""

        return Handler

    def public_root(self, host_header: str | None) -> str | None:
        """``http://host:port`` as a direct client addressed this server; None otherwise."""
        if not self.direct:
            return None
        if host_header is not None and _HOST_HEADER.fullmatch(host_header.strip()):
            return f"http://{host_header.strip()}"
        return self.url.rstrip("/")

    def respond(self, request: SimRequest) -> SimResponse | None:
        decision = self.faults.match(request.method, "", urlsplit(request.path).path)
        if decision is not None:
            fault = decision[1]
            if fault.error is not None:
                return None
            if fault.status is not None:
                return SimResponse(fault.status, b"injected fault")
        response = self.app.handle(request)
        if decision is not None and decision[1].body is not None:
            response = mangle(response, decision[1].body)
        return response

    def start(self) -> None:
        # A short poll keeps shutdown (once per simulated boot) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        """Release the socket of a server that was never started."""
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _forward(server: LoopbackServer, request: SimRequest) -> SimResponse:
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=30)
    try:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        connection.request(request.method, request.path, body=request.body or None, headers=headers)
        reply = connection.getresponse()
        body = reply.read()
        kept = {
            name: value
            for name, value in reply.getheaders()
            if name.lower() not in ("server", "date", "content-length", "connection")
        }
        return SimResponse(reply.status, body, kept)
    finally:
        connection.close()


class LoopbackTransport:
    """Every cloud gets a real HTTP server on 127.0.0.1; requests cross real sockets."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @contextmanager
    def serving(self) -> Iterator[None]:
        with ExitStack() as stack:
            servers = {
                id(cloud): stack.enter_context(LoopbackServer(cloud))
                for cloud in self.gateway.clouds
            }

            def deliver(cloud: CloudApp, request: SimRequest) -> SimResponse:
                return _forward(servers[id(cloud)], request)

            with _intercept(self.gateway, deliver):
                yield


Transport = InProcessTransport | LoopbackTransport
TRANSPORTS: dict[str, type[Transport]] = {
    "inprocess": InProcessTransport,
    "loopback": LoopbackTransport,
}
