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

A viewer that stops reading is dropped within seconds, so it cannot keep a slot: each message must be
taken by its network within ``write_deadline_s`` (else the connection is reset: closing it would wait
for the unsent data forever), and a ping every ``HEARTBEAT_S`` must be answered (that catches a stalled
viewer while its unsent data still fits the socket's buffers). Measured before: 16 viewers that never
read kept all 16 slots for 150 s. A viewer that goes away is one debug line, not a traceback.
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
from streamseg.web.connections import drop

logger = logging.getLogger(__name__)

HEARTBEAT_S = 5.0  # a ping this long after the page last spoke; no pong within half of it: dropped
WRITE_DEADLINE_S = 5.0
CLOSE_S = 1.0  # the goodbye to a viewer that is still there
GONE = (ConnectionError, RuntimeError)  # how aiohttp says the viewer went away mid-send


class LiveRoutes:
    """The live route, served when the run has a ``LiveBook`` (a cluster's controller has none)."""

    def __init__(
        self, book: LiveBook | None, headers: dict[str, str], write_deadline_s: float = WRITE_DEADLINE_S
    ) -> None:
        self._book = book
        self._headers = headers
        self._write_deadline_s = write_deadline_s

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
            bound = book.full(source) or "dashboard.live_viewers"
            return self._plain(503, f"503: too many live viewers ({bound}); JPEGs still work")
        try:
            await ws.prepare(request)
            why = await self._send_until_closed(ws, viewer, ready)
        except GONE as exc:
            why = f"went away ({exc or type(exc).__name__})"
        finally:
            book.leave(viewer)
        logger.debug("live viewer of %s: %s", source, why)
        await _close(ws, request)
        return ws

    async def _send_until_closed(
        self, ws: web.WebSocketResponse, viewer: LiveViewer, ready: asyncio.Event
    ) -> str:
        """Sends what ``viewer`` is given until the page closes or stops taking it; says which."""
        closed = asyncio.ensure_future(_until_closed(ws))
        try:
            while not closed.done():
                woken = asyncio.ensure_future(ready.wait())
                await asyncio.wait({woken, closed}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                ready.clear()
                for item in viewer.take():
                    if closed.done():
                        break
                    try:
                        await asyncio.wait_for(_send(ws, item), self._write_deadline_s)
                    except asyncio.TimeoutError:
                        return f"dropped: its network took nothing for {self._write_deadline_s:.0f} s"
            return "closed"
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
    """Reads (and ignores) what the page sends, until it closes (or misses a heartbeat)."""
    async for message in ws:
        if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            return


async def _close(ws: web.WebSocketResponse, request: web.Request) -> None:
    """Says goodbye where the viewer still listens; a connection with unsent data left is aborted, as
    closing it would wait for a reader that is not there."""
    transport = request.transport
    if transport is None:
        return
    if transport.get_write_buffer_size() == 0:
        try:
            await asyncio.wait_for(ws.close(), CLOSE_S)
            return
        except (asyncio.TimeoutError, *GONE):
            pass
    drop(transport)
