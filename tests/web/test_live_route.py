"""``/api/live/<source>``: the live video's WebSocket, its messages, and who may open it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import pytest

from streamseg.pipeline.live import LiveBook
from streamseg.record.writer import VideoWriter
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
