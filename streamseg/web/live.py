"""``GET /api/live/<source>`` (a WebSocket): the source's annotated video as fMP4 for the page's Media
Source Extensions player.

Why MSE over a WebSocket rather than WebRTC: the encoder's H.264 packets go to the browser as they are
(one encode for the recording, the clips, the publisher and every viewer), over the dashboard's own
port, behind its token and Host/Origin checks, with no ICE/STUN/TURN and no extra dependency; a
WebRTC stack (aiortc) would re-packetize into RTP and needs UDP paths that proxies and firewalls close.
The cost is a little more latency than WebRTC (one frame of muxing, the browser's buffer), well inside
the one second we aim for on a LAN.

Messages, in order: ``{"type": "init", "codec", "width", "height"}`` then the init segment (binary);
then per frame ``{"type": "frame", "t", "age", "key"}`` then its fragment (binary). ``t``: the frame's
time on the video element's timeline; ``age``: seconds from its capture to its sending, so the page
can show capture-to-screen latency without comparing clocks across machines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web

from streamseg.pipeline.live import LiveBook
from streamseg.record.fmp4 import InitSegment
from streamseg.record.live import LiveItem, LiveViewer

logger = logging.getLogger(__name__)

HEARTBEAT_S = 15.0  # a viewer whose connection died silently is noticed within this


class LiveRoutes:
    """The live route, served when the run has a ``LiveBook`` (a cluster's controller has none)."""

    def __init__(self, book: LiveBook | None, headers: dict[str, str]) -> None:
        self._book = book
        self._headers = headers

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/live/{source}", self._live)]

    async def _live(self, request: web.Request) -> web.StreamResponse:
        source = request.match_info["source"]
        book = self._book
        if book is None or book.channel(source) is None:
            return self._plain(404, f"404: no live video of {source!r} (not a video source of this run)")
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=4096)
        if not ws.can_prepare(request).ok:
            return self._plain(400, "400: this is a WebSocket: open it with new WebSocket(url)")
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(ready.set)

        viewer = book.join(source, wake)
        if viewer is None:
            limit = book.max_viewers
            return self._plain(
                503, f"503: {limit} live viewers already (dashboard.live_viewers); JPEGs still work"
            )
        try:
            await ws.prepare(request)
            await self._send_until_closed(ws, viewer, ready)
        finally:
            book.leave(viewer)
            await ws.close()
        return ws

    async def _send_until_closed(
        self, ws: web.WebSocketResponse, viewer: LiveViewer, ready: asyncio.Event
    ) -> None:
        closed = asyncio.ensure_future(_until_closed(ws))
        try:
            while not closed.done():
                woken = asyncio.ensure_future(ready.wait())
                await asyncio.wait({woken, closed}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                ready.clear()
                for item in viewer.take():
                    if closed.done():
                        return
                    await _send(ws, item)
        except (ConnectionResetError, RuntimeError):  # the viewer went away mid-send
            return
        finally:
            closed.cancel()

    def _plain(self, status: int, text: str) -> web.Response:
        return web.Response(status=status, text=text + "\n", headers=self._headers)


async def _send(ws: web.WebSocketResponse, item: LiveItem) -> None:
    if isinstance(item, InitSegment):
        head: dict[str, Any] = {
            "type": "init",
            "codec": item.codec,
            "width": item.width,
            "height": item.height,
        }
    else:
        age = time.monotonic() - item.captured if item.captured is not None else None
        head = {"type": "frame", "t": round(item.media_time, 6), "age": age, "key": item.keyframe}
    await ws.send_str(json.dumps(head))
    await ws.send_bytes(item.data)


async def _until_closed(ws: web.WebSocketResponse) -> None:
    """Reads (and ignores) what the page sends, until it closes."""
    async for message in ws:
        if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            return
