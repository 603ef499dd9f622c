"""``guestsim serve`` refuses malformed requests with a status, never a traceback.

Each case crosses a raw socket to a LoopbackServer: the server answers the status before
reading any body, prints nothing on stderr, and goes on serving the next client.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from guestsim.simulator.clouds import DocumentSource, build_clouds
from guestsim.simulator.transport import MAX_REQUEST_BODY, LoopbackServer

META_DATA = "/openstack/latest/meta_data.json"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    (app,) = build_clouds(DocumentSource("openstack", {}))
    with LoopbackServer(app, direct=True) as served:  # as `guestsim serve` runs it
        yield served


def exchange(server: LoopbackServer, raw: bytes, half_close: bool = False) -> bytes:
    """Send ``raw`` and read until the server closes or one whole response has come."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(raw)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            try:
                chunk = connection.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            if _ and len(body) >= _content_length(head):
                break
    return received


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def status_of(reply: bytes) -> int:
    assert reply.startswith(b"HTTP/"), reply[:200]
    return int(reply.split(b" ", 2)[1])


def request(method: str, headers: str = "", body: bytes = b"", path: str = META_DATA) -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


def still_serves(server: LoopbackServer) -> None:
    reply = exchange(server, request("GET", "Connection: close\r\n"))
    assert status_of(reply) == 200
    assert "uuid" in json.loads(reply.partition(b"\r\n\r\n")[2])


TOO_LONG = "x" * 70000

CASES = {
    "negative length": (request("POST", "Content-Length: -1\r\n"), 400),
    "non-numeric length": (request("POST", "Content-Length: abc\r\n"), 400),
    "signed length": (request("POST", "Content-Length: +5\r\n", b"hello"), 400),
    "underscored length": (request("POST", "Content-Length: 1_0\r\n"), 400),
    "empty length": (request("POST", "Content-Length: \r\n"), 400),
    "conflicting lengths": (request("POST", "Content-Length: 1\r\nContent-Length: 2\r\n"), 400),
    "list of lengths": (request("POST", "Content-Length: 5, 5\r\n", b"hello"), 400),
    "huge length": (request("POST", f"Content-Length: {10**15}\r\n"), 413),
    "length just over the cap": (
        request("PUT", f"Content-Length: {MAX_REQUEST_BODY + 1}\r\n"),
        413,
    ),
    "5000-digit length": (request("POST", f"Content-Length: {'9' * 5000}\r\n"), 413),
    "huge length with Expect: 100-continue": (
        request("POST", f"Content-Length: {10**15}\r\nExpect: 100-continue\r\n"),
        413,
    ),
    "chunked body": (
        request("POST", "Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
        411,
    ),
    "unknown transfer coding": (request("POST", "Transfer-Encoding: gzip\r\n"), 501),
    "chunked and a length": (
        request("POST", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"hello"),
        411,
    ),
    "invalid request line": (b"GARBAGE\r\n\r\n", 400),
    "binary request line": (b"\x00\xff\xfe GET / \x80\r\n\r\n", 400),
    "unsupported HTTP version": (b"GET / HTTP/2.0\r\n\r\n", 505),
    "request target with a broken host": (request("GET", path="http://[::1/x"), 400),
    "unknown method": (request("BREW"), 501),
    "request line too long": (f"GET /{TOO_LONG} HTTP/1.1\r\n\r\n".encode(), 414),
    "header line too long": (request("GET", f"X-Long: {TOO_LONG}\r\n"), 431),
    "too many headers": (request("GET", "".join(f"X-{i}: {i}\r\n" for i in range(150))), 431),
}


@pytest.mark.parametrize(("raw", "status"), CASES.values(), ids=CASES.keys())
def test_a_malformed_request_gets_its_status_and_no_traceback(
    server: LoopbackServer, raw: bytes, status: int, capfd: pytest.CaptureFixture[str]
) -> None:
    reply = exchange(server, raw)
    assert status_of(reply) == status
    assert b"100 Continue" not in reply
    still_serves(server)
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_shorter_than_its_length_is_refused_without_a_traceback(
    server: LoopbackServer, capfd: pytest.CaptureFixture[str]
) -> None:
    reply = exchange(server, request("POST", "Content-Length: 100\r\n", b"short"), half_close=True)
    assert status_of(reply) == 400
    still_serves(server)
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_vanishes_mid_request_leaves_no_traceback(
    server: LoopbackServer, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(request("POST", "Content-Length: 100\r\n", b"short"))
        # An RST instead of a FIN: the server's read fails with "connection reset".
        connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
    still_serves(server)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "raw",
    [
        request("GET", "Content-Length: 3\r\n", b"abc"),
        request("GET", "Content-Length: 0003\r\n", b"abc"),
        request("GET", "Content-Length:  3 \r\nContent-Length: 3\r\n", b"abc"),
    ],
    ids=["a body", "leading zeros", "repeated equal lengths"],
)
def test_a_valid_length_is_read_and_answered(server: LoopbackServer, raw: bytes) -> None:
    assert status_of(exchange(server, raw)) == 200


def test_a_request_without_a_length_has_no_body_and_is_answered(server: LoopbackServer) -> None:
    # RFC 9112 6.3: no Content-Length and no Transfer-Encoding is an empty body; EC2's token
    # PUT arrives so from curl. The server must answer, not wait for a body to end.
    reply = exchange(server, request("POST", "", path="/openstack/latest/password"))
    assert status_of(reply) < 400


def test_the_connection_is_kept_after_a_valid_body_and_closed_after_a_refusal(
    server: LoopbackServer,
) -> None:
    two = request("GET", "Content-Length: 3\r\n", b"abc") + request("GET", "Connection: close\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(two)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 2
    refused = request("POST", "Content-Length: -1\r\n") + request("GET")
    reply = exchange(server, refused)
    assert reply.count(b"HTTP/1.") == 1 and status_of(reply) == 400
