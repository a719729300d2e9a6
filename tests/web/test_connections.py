"""Issue 30, item 6: connections that never finish their request headers are dropped at a deadline, and
the server keeps at most ``max_connections`` at once; with real sockets on loopback."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

import pytest

from streamseg.web.connections import ConnectionLimits
from streamseg.web.server import DashboardServer
from tests.web.helpers import get
from tests.web.test_server import TOKEN, _server

LIMITS = ConnectionLimits(max_connections=8, header_timeout_s=1.0)
HALF_A_REQUEST = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: never finished


@pytest.fixture
def served() -> Iterator[DashboardServer]:
    server = _server("127.0.0.1", TOKEN, ("cam",), limits=LIMITS).start()
    try:
        yield server
    finally:
        server.stop()


def _connect(server: DashboardServer, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    if first:
        sock.sendall(first)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Waits (up to the socket's timeout) for the server to close; False if it is still open."""
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass  # dropped with a reset
    return True


def test_unfinished_headers_are_dropped_and_connections_are_capped(served: DashboardServer) -> None:
    started = time.monotonic()
    stalled = [_connect(served, HALF_A_REQUEST) for _ in range(LIMITS.max_connections)]
    try:
        with _connect(served, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as one_more:
            answer = one_more.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 503") and "dashboard.max_connections" in answer
        assert all(_closed_by_server(s) for s in stalled)  # each within the deadline, not when it leaves
        assert time.monotonic() - started >= LIMITS.header_timeout_s * 0.9  # ... and not before it
        assert get(f"http://127.0.0.1:{served.port}/healthz").status == 200  # their places are free again
    finally:
        for sock in stalled:
            sock.close()


def test_headers_sent_a_byte_at_a_time_are_dropped_too(served: DashboardServer) -> None:
    """A header line that never ends, five bytes a second: valid all along, never finished."""
    with _connect(served, HALF_A_REQUEST + b"X-Pad: ") as slow:
        slow.settimeout(0.2)
        closed = False
        deadline = time.monotonic() + 15
        while not closed and time.monotonic() < deadline:
            try:
                slow.sendall(b"a")
                closed = slow.recv(1) == b""
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
        assert closed


def test_requests_in_time_are_not_cut_off(served: DashboardServer) -> None:
    """The deadline is for headers: a stream answered in time outlives it; an idle keep-alive
    connection is closed after it."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    events = http.client.HTTPConnection("127.0.0.1", served.port, timeout=15)
    events.request("GET", "/api/events", headers=auth)
    stream = events.getresponse()
    assert stream.status == 200
    until = time.monotonic() + LIMITS.header_timeout_s * 2.5
    seen = b""
    while time.monotonic() < until:
        seen += stream.read1(65536)
    assert seen.count(b"event: status") >= 2  # still flowing well past the deadline
    events.close()
    idle = http.client.HTTPConnection("127.0.0.1", served.port, timeout=15)
    idle.request("GET", "/healthz")
    assert idle.getresponse().read() == b"ok\n"
    assert idle.sock is not None and _closed_by_server(idle.sock)  # kept alive only so long
    idle.close()
