"""``/api/preview/<source>``: the newest JPEG of a source (long-polled); ``/stream/<source>``: Motion JPEG
for players and plain ``<img>`` tags elsewhere. The pictures where the live video is off or unsupported.

JPEGs are encoded on the server's one worker thread (never more than one core from the pipeline), at
most ``dashboard.preview_fps`` a second per source, only while someone asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from aiohttp import web

from streamseg.web.connections import write_or_drop
from streamseg.web.preview import Jpeg
from streamseg.web.views import PreviewView

LONG_POLL_S = 10.0
POLL_STEP_S = 0.05


class PictureRoutes:
    """``names``: the sources shown now; ``pool``: where JPEGs are encoded; ``closing``: the server is
    stopping (streams end); ``write_deadline_s``: an MJPEG client that takes nothing this long is dropped."""

    def __init__(
        self,
        names: Callable[[], Sequence[str]],
        encoder: PreviewView,
        pool: Executor,
        headers: dict[str, str],
        write_deadline_s: float,
        closing: Callable[[], bool],
    ) -> None:
        self._names = names
        self._encoder = encoder
        self._pool = pool
        self._headers = headers
        self._write_deadline_s = write_deadline_s
        self._closing = closing

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/preview/{source}", self._preview), web.get("/stream/{source}", self._mjpeg)]

    async def _preview(self, request: web.Request) -> web.StreamResponse:
        """The newest JPEG of a source, newer than ``?after=SEQ``; waits up to 10 s, else 204."""
        source = self._known_source(request)
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="after must be an integer") from None
        jpeg = await self._next_jpeg(source, after, LONG_POLL_S)
        if jpeg is None:
            return web.Response(status=204, headers=self._headers)
        return web.Response(
            body=jpeg.data,
            content_type="image/jpeg",
            headers={"X-Preview-Seq": str(jpeg.seq), "X-Frame-Index": str(jpeg.frame_index), **self._headers},
        )

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        """Motion JPEG at the preview rate, until the viewer leaves (or stops reading)."""
        source = self._known_source(request)
        response = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame", **self._headers}
        )
        await response.prepare(request)
        seq = 0
        try:
            while not self._closing():
                jpeg = await self._next_jpeg(source, seq, LONG_POLL_S)
                if jpeg is None:
                    continue
                seq = jpeg.seq
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg.data)}\r\n\r\n"
                part = head.encode() + jpeg.data + b"\r\n"
                await write_or_drop(request, response, part, self._write_deadline_s)
        except ConnectionError:  # the viewer went away (reset, or lost while its data waited)
            pass
        return response

    def _known_source(self, request: web.Request) -> str:
        source = request.match_info["source"]
        if source not in self._names():
            raise web.HTTPNotFound(text="no such source")
        return source

    async def _next_jpeg(self, source: str, after: int, timeout: float) -> Jpeg | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._closing() and loop.time() < deadline:
            wait = self._encoder.ready_after(source, after)
            if wait == 0.0:
                try:
                    jpeg = await loop.run_in_executor(self._pool, self._encoder.jpeg, source)
                except RuntimeError:  # executor shut down while stopping
                    return None
                if jpeg is not None and jpeg.seq > after:
                    return jpeg
                wait = POLL_STEP_S
            await asyncio.sleep(min(POLL_STEP_S if wait is None else max(wait, 0.005), 0.25))
        return None
