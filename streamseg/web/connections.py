"""The dashboard's listening socket, guarded: at most ``max_connections`` connections at once, and a
deadline for a request's headers, so idle or half-sent connections cannot pin its descriptors.

aiohttp bounds neither. Its keep-alive timer (3630 s unless told) covers the time between requests and,
only in its recent versions, the time before the first. ``GatedSite`` puts a ``_Gated`` protocol in front
of aiohttp's for every accepted connection: past the cap it answers 503 and closes at once; a connection
whose first request's headers are not complete within ``header_timeout_s`` is dropped (the server's
middleware calls ``heard`` when they are). Between requests aiohttp's own keep-alive timeout, set to the
same deadline, does that job. Measured on loopback before: 200 connections that never finished their
headers held 200 descriptors for as long as they stayed open.

What streams until the client leaves (the live video, SSE, MJPEG) has a deadline per write
(``write_deadline_s``): a client that stops reading is dropped, not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from aiohttp import web

from streamseg.config import DashboardConfig

logger = logging.getLogger(__name__)

REPORT_EVERY_S = 60.0
_TOO_MANY = b"503: too many connections (dashboard.max_connections)\n"
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 5\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_TOO_MANY)).encode() + b"\r\n\r\n" + _TOO_MANY
)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client may hold of the dashboard's server (see the module docstring)."""

    max_connections: int = 128
    header_timeout_s: float = 10.0
    write_deadline_s: float = 5.0  # a streaming client's network must take each write within this

    @classmethod
    def of(cls, settings: DashboardConfig) -> ConnectionLimits:
        """The limits ``dashboard.max_connections`` and ``dashboard.header_timeout_s`` set."""
        return cls(settings.max_connections, settings.header_timeout_s)


class GatedSite(web.BaseSite):
    """``web.TCPSite`` with a ``ConnectionGate`` in front of aiohttp's protocol."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, limits: ConnectionLimits) -> None:
        super().__init__(runner)
        self._host, self._port, self._limits = host, port, limits

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner was not set up")
        gate = ConnectionGate(server, self._limits)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            gate, self._host, self._port, backlog=self._backlog, reuse_address=True
        )


class ConnectionGate:
    """A protocol factory for ``loop.create_server``: counts the open connections, wraps each."""

    def __init__(self, inner: Callable[[], asyncio.Protocol], limits: ConnectionLimits) -> None:
        self.inner = inner
        self.limits = limits
        self.open = 0
        self.refused = _Report("dashboard: refused %d connection(s): %d open (dashboard.max_connections)")
        self.late = _Report(
            "dashboard: closed %d connection(s) whose request headers took over %.0f s "
            "(dashboard.header_timeout_s)"
        )

    def __call__(self) -> asyncio.Protocol:
        return _Gated(self)


async def write_or_drop(
    request: web.BaseRequest, response: web.StreamResponse, data: bytes, deadline_s: float
) -> None:
    """``response.write(data)`` for a stream that runs until the client leaves (SSE, MJPEG); when the
    client's network takes nothing for ``deadline_s``, the connection is aborted (closing it would wait
    for a reader that is not there) and ``ConnectionResetError`` raised, as when the client goes away."""
    try:
        await asyncio.wait_for(response.write(data), deadline_s)
    except asyncio.TimeoutError:
        if request.transport is not None:
            drop(request.transport)
        raise ConnectionResetError(f"the client took nothing for {deadline_s:.0f} s") from None


def drop(transport: asyncio.Transport) -> None:
    """Ends a connection at once with a reset. A plain abort closes the descriptor but leaves what the
    client never read in the kernel, which keeps trying to deliver it (and the client connected) for
    minutes; with linger 0 the kernel drops it too and the client is told."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already gone
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def heard(request: web.BaseRequest) -> None:
    """From the server's middleware: ``request``'s headers are complete, its connection met its deadline."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    if isinstance(protocol, _Gated):
        protocol.heard()


class _Gated(asyncio.Protocol):
    """One connection: aiohttp's protocol behind it once admitted; dropped if its headers are late."""

    def __init__(self, gate: ConnectionGate) -> None:
        self._gate = gate
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        gate, stream = self._gate, cast(asyncio.Transport, transport)
        if gate.open >= gate.limits.max_connections:
            gate.refused.add(gate.open)
            stream.write(REFUSAL)
            stream.close()
            return
        gate.open += 1
        self._transport = stream
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(gate.limits.header_timeout_s, self._late)
        self._inner = gate.inner()
        self._inner.connection_made(transport)

    def heard(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        self._gate.late.add(self._gate.limits.header_timeout_s)
        if self._transport is not None:
            drop(self._transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        inner, self._inner, self._transport = self._inner, None, None
        if inner is None:
            return
        self.heard()
        self._gate.open -= 1
        inner.connection_lost(exc)


class _Report:
    """A warning at most once a minute, counting what happened since the last one."""

    def __init__(self, message: str) -> None:
        self._message = message
        self._count = 0
        self._at = float("-inf")

    def add(self, *args: object) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._at >= REPORT_EVERY_S:
            logger.warning(self._message, self._count, *args)
            self._count, self._at = 0, now
