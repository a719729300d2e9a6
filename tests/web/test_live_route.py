"""``/api/live/<source>``: the live video's WebSocket, its messages, and who may open it; issue 30, items
1, 8 and 12: viewers that stop reading lose their slot, slots per source, origins, quiet goodbyes."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import pytest

from streamseg.pipeline.live import LiveBook
from streamseg.record.writer import VideoWriter
from streamseg.web.connections import ConnectionLimits
from streamseg.web.server import DashboardServer
from tests.web.test_server import TOKEN, _server

SOURCE = "cam"


@dataclass
class Served:
    server: DashboardServer
    book: LiveBook

    def url(self, source: str = SOURCE) -> str:
        return f"ws://127.0.0.1:{self.server.port}/api/live/{source}"


def _camera(book: LiveBook, stop: threading.Event) -> None:
    """A source's encoder at 30 fps, as the recording sink runs it (keyframe every second)."""
    channel = book.add(SOURCE)
    writer = VideoWriter(None, fps_hint=30, low_latency=True, packets=channel.packets)
    channel.attach(writer)
    i = 0
    while not stop.is_set():
        image = np.zeros((96, 128, 3), np.uint8)
        image[:, i % 118 : i % 118 + 10] = 255
        writer.write(image, i / 30, captured=time.monotonic())
        i += 1
        time.sleep(1 / 30)
    writer.close()


def _serve(host: str, token: str | None, book: LiveBook) -> DashboardServer:
    return _server(host, token, (SOURCE,), live=book).start()


@pytest.fixture
def served() -> Iterator[Served]:
    book = LiveBook(max_viewers=2)
    stop = threading.Event()
    camera = threading.Thread(target=_camera, args=(book, stop), daemon=True)
    camera.start()
    server = _serve("0.0.0.0", TOKEN, book)
    try:
        yield Served(server, book)
    finally:
        server.stop()
        stop.set()
        camera.join(5)


async def _watch(url: str, messages: int, headers: dict[str, str] | None = None) -> list[Any]:
    """The first ``messages`` messages of the live WebSocket (text as JSON, binary as bytes)."""
    out: list[Any] = []
    async with (
        aiohttp.ClientSession(trust_env=False) as session,
        session.ws_connect(url, headers=headers or {}) as ws,
    ):
        async for message in ws:
            out.append(json.loads(message.data) if message.type == aiohttp.WSMsgType.TEXT else message.data)
            if len(out) >= messages:
                break
    return out


async def _handshake(url: str, headers: dict[str, str] | None = None) -> int:
    """The status the server answers a WebSocket handshake with (101: accepted)."""
    async with aiohttp.ClientSession(trust_env=False) as session:
        try:
            async with session.ws_connect(url, headers=headers or {}):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_a_viewer_gets_the_init_segment_then_timed_fragments(served: Served) -> None:
    got = asyncio.run(_watch(served.url(), 2 + 2 * 40, BEARER))
    head, init = got[0], got[1]
    assert (
        head["type"] == "init"
        and head["codec"].startswith("avc1.")
        and (head["width"], head["height"]) == (128, 96)
    )
    assert isinstance(init, bytes) and init[4:8] == b"ftyp"
    frames = got[2::2]
    assert all(f["type"] == "frame" for f in frames) and frames[0]["key"]
    times = [f["t"] for f in frames]
    assert times == sorted(times) and times[0] == 0.0
    assert all(0 <= f["age"] < 30 for f in frames)  # seconds from capture to sending
    assert all(isinstance(b, bytes) and b[4:8] == b"moof" for b in got[3::2])


def test_the_live_video_needs_the_token_and_the_same_origin(served: Served) -> None:
    url = served.url()
    assert asyncio.run(_handshake(url)) == 401
    assert asyncio.run(_handshake(url + "?token=wrong-token-1")) == 401
    assert asyncio.run(_handshake(url, BEARER)) == 101
    evil = {**BEARER, "Origin": "http://evil.example"}
    assert asyncio.run(_handshake(url, evil)) == 403  # another site's page, even with the cookie
    same = {**BEARER, "Origin": f"http://127.0.0.1:{served.server.port}"}
    assert asyncio.run(_handshake(url, same)) == 101


def test_unknown_sources_plain_requests_and_too_many_viewers(served: Served) -> None:
    assert asyncio.run(_handshake(served.url("nope"), BEARER)) == 404

    async def two_watching_then_a_third() -> int:
        async with aiohttp.ClientSession(trust_env=False) as session:
            first = await session.ws_connect(served.url(), headers=BEARER)
            second = await session.ws_connect(served.url(), headers=BEARER)
            try:
                return await _handshake(served.url(), BEARER)
            finally:
                await first.close()
                await second.close()

    assert asyncio.run(two_watching_then_a_third()) == 503
    assert served.book.refused == 1

    async def plain_get() -> tuple[int, str]:
        async with aiohttp.ClientSession(trust_env=False) as session:
            url = served.url().replace("ws://", "http://")
            async with session.get(url, headers=BEARER) as reply:
                return reply.status, await reply.text()

    status, text = asyncio.run(plain_get())
    assert status == 400 and "WebSocket" in text


def test_a_page_of_another_scheme_or_port_cannot_open_it(served: Served) -> None:
    """Issue 30, item 8: ``Origin: http://127.0.0.1`` (port 80) or ``https://...`` got 101."""
    port = served.server.port
    for origin in ("http://127.0.0.1", "https://127.0.0.1", f"https://127.0.0.1:{port}"):
        assert asyncio.run(_handshake(served.url(), {**BEARER, "Origin": origin})) == 403, origin


# -- viewers that stop reading, and viewers that vanish (issue 30, items 1 and 12) ---------------------


def _noisy_camera(book: LiveBook, stop: threading.Event) -> None:
    """Noise does not compress: a few hundred KB a second, so a viewer that stops reading backs up soon."""
    channel = book.add(SOURCE)
    writer = VideoWriter(None, fps_hint=30, low_latency=True, packets=channel.packets)
    channel.attach(writer)
    rng = np.random.default_rng(0)
    i = 0
    while not stop.is_set():
        writer.write(rng.integers(0, 255, (240, 320, 3), np.uint8), i / 30, captured=time.monotonic())
        i += 1
        time.sleep(1 / 30)
    writer.close()


@contextmanager
def _noisy(book: LiveBook, **extra: Any) -> Iterator[DashboardServer]:
    stop = threading.Event()
    camera = threading.Thread(target=_noisy_camera, args=(book, stop), daemon=True)
    camera.start()
    server = _server("127.0.0.1", TOKEN, (SOURCE,), live=book, **extra).start()
    try:
        yield server
    finally:
        server.stop()
        stop.set()
        camera.join(5)


def _upgrade(port: int, source: str = SOURCE) -> socket.socket:
    """A WebSocket handshake written by hand, from a socket with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /api/live/{source} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
    )
    return sock


def _stalled_viewer(port: int) -> socket.socket:
    """A viewer that completes the upgrade and then never reads."""
    sock = _upgrade(port)
    assert sock.recv(12) == b"HTTP/1.1 101"
    return sock


def _refused_with(port: int, source: str) -> tuple[int, str]:
    """The answer to a viewer that is turned away: status and text."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    try:
        conn.request("GET", f"/api/live/{source}", headers={**upgrade, "Sec-WebSocket-Key": key, **BEARER})
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_viewers_that_never_read_lose_their_slots_within_seconds() -> None:
    """Two such viewers used to hold both slots for as long as they stayed (150 s and counting)."""
    book = LiveBook(max_viewers=2)
    with _noisy(book, limits=ConnectionLimits(write_deadline_s=1.0)) as server:
        url = f"ws://127.0.0.1:{server.port}/api/live/{SOURCE}"
        stalled = [_stalled_viewer(server.port) for _ in range(2)]
        try:
            channel = book.channel(SOURCE)
            assert channel is not None and channel.viewers == 2
            assert asyncio.run(_handshake(url, BEARER)) == 503
            assert _wait_for(lambda: channel.viewers == 0)  # the write deadline (or the heartbeat)
            got = asyncio.run(_watch(url, 4, BEARER))  # a viewer that reads gets in, and gets video
            assert got[0]["type"] == "init" and got[2]["type"] == "frame"
        finally:
            for sock in stalled:
                sock.close()


def test_viewers_of_one_source_cannot_take_every_slot() -> None:
    """Slots used to be shared by all sources: viewers of one took every other source's."""
    book = LiveBook(max_viewers=2, max_per_source=1)  # dashboard.live_viewers_per_source
    book.add(SOURCE)
    book.add("yard")
    served = Served(_serve("127.0.0.1", TOKEN, book), book)

    async def one_watching_then_more() -> tuple[int, int, tuple[int, str]]:
        async with aiohttp.ClientSession(trust_env=False) as session:
            first = await session.ws_connect(served.url(), headers=BEARER)
            try:
                again = await _handshake(served.url(), BEARER)
                other = await _handshake(served.url("yard"), BEARER)
                return again, other, await asyncio.to_thread(_refused_with, served.server.port, SOURCE)
            finally:
                await first.close()

    try:
        again, other, (status, text) = asyncio.run(one_watching_then_more())
    finally:
        served.server.stop()
    assert (again, other) == (503, 101)
    assert status == 503 and "dashboard.live_viewers_per_source" in text


def test_a_viewer_that_vanishes_mid_send_is_one_quiet_line(caplog: pytest.LogCaptureFixture) -> None:
    """A reset while its data waited used to log a 35-line traceback (``ConnectionError: Connection
    lost``) at ERROR."""
    book = LiveBook(max_viewers=2)
    with caplog.at_level(logging.DEBUG), _noisy(book, limits=ConnectionLimits(write_deadline_s=60)) as server:
        sock = _stalled_viewer(server.port)
        channel = book.channel(SOURCE)
        assert channel is not None
        assert _wait_for(lambda: channel.dropped() > 0)  # its queue overflowed: the send has waited a while
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, as a crashed browser or a pulled cable (once noticed) gives
        assert _wait_for(lambda: channel.viewers == 0)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    about = [r for r in caplog.records if r.name == "streamseg.web.live"]
    assert len(about) == 1 and about[0].levelno == logging.DEBUG
