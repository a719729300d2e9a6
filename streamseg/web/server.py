"""The dashboard's HTTP server (aiohttp), on its own thread and event loop inside the pipeline process.

Routes: ``/`` page, ``/api/status`` JSON, ``/api/events`` live updates (SSE), ``/api/preview/<source>``
one JPEG (long-poll for a newer one) and ``/stream/<source>`` MJPEG (``pictures``), ``/api/live/<source>``
the live video (a WebSocket, ``live``), ``/metrics`` Prometheus, ``/healthz`` and ``/readyz``;
``POST``/``DELETE /api/prompts/<source>`` (clicks to segment, ``prompts``); with a ``control``,
``POST /api/sources`` and ``DELETE /api/sources/<name>`` (see ``sources_api``).
Off loopback every route but the two probes needs the token; ``guard`` says what else is refused, and
``connections`` how many connections it keeps and for how long.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from streamseg.errors import DashboardError
from streamseg.redact import redact_text
from streamseg.web.access import ListenAddress
from streamseg.web.bodies import MAX_BODY_BYTES
from streamseg.web.connections import ConnectionLimits, GatedSite, heard, write_or_drop
from streamseg.web.guard import COOKIE, RequestGuard
from streamseg.web.live import LiveRoutes
from streamseg.web.metrics import CONTENT_TYPE
from streamseg.web.pictures import PictureRoutes
from streamseg.web.prompts import PromptRoutes
from streamseg.web.sources_api import SourceControl, source_routes
from streamseg.web.status import History
from streamseg.web.views import MetricsView, PreviewView, StatusView

if TYPE_CHECKING:
    from streamseg.inference.sam.board import PromptBoard
    from streamseg.pipeline.live import LiveBook

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
TICK_S = 1.0
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; frame-ancestors 'none'"
    ),
}


class DashboardServer:
    """Start with ``start()`` (binds, or raises ``DashboardError``); ``stop()`` returns within a second."""

    def __init__(
        self,
        address: ListenAddress,
        token: str | None,
        status: StatusView,
        encoder: PreviewView,
        metrics: MetricsView,
        history_s: int = 300,
        control: SourceControl | None = None,
        prompts: PromptBoard | None = None,
        allowed_hosts: Sequence[str] = (),
        file_roots: Sequence[str] = (),
        live: LiveBook | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        """``allowed_hosts``: names it is reached by besides loopback and its own address;
        ``file_roots``: folders whose files ``POST /api/sources`` may start (``api.file_roots``);
        ``live``: the run's live video (none: the page shows JPEG previews only); ``limits``: connections
        at once and deadlines (``ConnectionLimits.of(config.dashboard)``)."""
        self.address = address
        self._access = RequestGuard(address, token, allowed_hosts)
        self._limits = limits or ConnectionLimits()
        self._file_roots = tuple(file_roots)
        self._prompts = PromptRoutes(prompts, SECURITY_HEADERS)  # click to segment (SAM)
        self._live = LiveRoutes(live, SECURITY_HEADERS, self._limits.write_deadline_s)
        self._token = token
        self._status = status
        self._encoder = encoder
        self._metrics = metrics
        self._control = control
        self._history = History(history_s)
        self._pages = {name: _static(name) for name in (*STATIC, "index.html")}
        # One worker: JPEG encoding and snapshots never take more than one core from the pipeline.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-work")
        deadline = self._limits.write_deadline_s
        self._pictures = PictureRoutes(
            status.names, encoder, self._pool, SECURITY_HEADERS, deadline, lambda: self._closing
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._done: asyncio.Event | None = None
        self._tick: asyncio.Event | None = None
        self._closing = False
        self._last: dict[str, Any] | None = None
        self._seq = 0
        self.port = address.port

    @property
    def url(self) -> str:
        return self.address.url(self.port)

    def start(self, timeout: float = 10.0) -> DashboardServer:
        self._thread = threading.Thread(target=self._serve, name="dashboard", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise DashboardError(f"dashboard did not start within {timeout:.0f} s")
        if self._error is not None:
            raise self._error
        logger.info("dashboard listening at %s", self.url)
        return self

    def stop(self, timeout: float = 1.0) -> None:
        loop, done = self._loop, self._done
        if loop is not None and done is not None and not loop.is_closed():
            self._closing = True
            loop.call_soon_threadsafe(done.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- lifecycle on the server thread --------------------------------------------------------------

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            runner = loop.run_until_complete(self._startup())
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._error = DashboardError(
                f"cannot listen on {self.address.host}:{self.address.port}: {reason}"
            )
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_until_complete(self._run_until_stopped(runner))
        finally:
            loop.close()

    async def _startup(self) -> web.AppRunner:
        self._done = asyncio.Event()
        self._tick = asyncio.Event()
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY_BYTES)
        app.add_routes(
            [
                web.get("/", self._index),
                web.get("/static/{name}", self._static_file),
                web.get("/api/status", self._api_status),
                web.get("/api/history", self._api_history),
                web.get("/api/events", self._events),
                *self._pictures.routes(),
                web.get("/metrics", self._prometheus),
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
                *self._prompts.routes(),
                *self._live.routes(),
            ]
        )
        if self._control is not None:
            app.add_routes(source_routes(self._control, SECURITY_HEADERS, self._file_roots))
        # aiohttp's keep-alive timeout is the deadline for the headers of a connection's next request
        keepalive = self._limits.header_timeout_s
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.25, keepalive_timeout=keepalive)
        await runner.setup()
        site = GatedSite(runner, self.address.host, self.address.port, self._limits)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        addresses = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        return runner

    async def _run_until_stopped(self, runner: web.AppRunner) -> None:
        sampler = asyncio.ensure_future(self._sample())
        done = self._done
        if done is not None:
            await done.wait()
        self._closing = True
        sampler.cancel()
        await runner.cleanup()
        # Connections still open (a viewer mid-request) end here, so the loop closes with nothing pending.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _sample(self) -> None:
        """Once a second: one status for every SSE viewer and one chart point."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                status = await loop.run_in_executor(self._pool, self._status.status)
            except RuntimeError:  # executor shut down while stopping
                return
            self._last = status
            self._history.add(self._status.point(status))
            self._seq += 1
            tick, self._tick = self._tick, asyncio.Event()
            if tick is not None:
                tick.set()
            await asyncio.sleep(TICK_S)

    # -- access ----------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Host, then the token (a guesser's wrong ones paused), then the site of a state change
        (``guard``); the two probes answer anyone, by any name."""
        heard(request)  # its headers came in time
        if request.path not in OPEN_PATHS:
            refused = self._access.refusal(request)
            if refused is not None:
                status, text, headers = refused
                return _plain(status, text, headers)
        response: web.StreamResponse = await handler(request)
        return response

    # -- pages -----------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        if "token" in request.query:  # keep the token out of the address bar and history: cookie it
            redirect = web.HTTPFound("./", headers=SECURITY_HEADERS)
            checked = self._access.cookie(request)  # only ever a token checked right
            if checked is not None:
                secure = self._access.scheme(request) == "https"
                redirect.set_cookie(COOKIE, checked, httponly=True, samesite="Strict", secure=secure)
            raise redirect
        return web.Response(
            text=self._pages["index.html"], content_type="text/html", headers=SECURITY_HEADERS
        )

    async def _static_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(text=self._pages[name], content_type=STATIC[name], headers=SECURITY_HEADERS)

    async def _api_status(self, request: web.Request) -> web.StreamResponse:
        status = await self._fresh_status()
        return _json_response(status)

    async def _api_history(self, request: web.Request) -> web.StreamResponse:
        return _json_response({"points": self._history.points()})

    async def _healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n", headers=SECURITY_HEADERS)

    async def _readyz(self, request: web.Request) -> web.StreamResponse:
        status = await self._fresh_status()
        live = sum(1 for s in status["sources"] if s["health"] == "live")
        total = len(status["sources"])
        if status["ready"]:
            return web.Response(text=f"ready: {live} of {total} sources live\n", headers=SECURITY_HEADERS)
        return web.Response(
            status=503, text=f"not ready: {live} of {total} sources live\n", headers=SECURITY_HEADERS
        )

    async def _prometheus(self, request: web.Request) -> web.StreamResponse:
        body = await asyncio.get_running_loop().run_in_executor(self._pool, self._metrics.exposition)
        return web.Response(
            body=redact_text(body.decode()).encode(),
            headers={"Content-Type": CONTENT_TYPE, **SECURITY_HEADERS},
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the chart history once, then one status a second."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no", **SECURITY_HEADERS}
        )
        await response.prepare(request)
        deadline = self._limits.write_deadline_s
        try:
            history = _sse("history", {"points": self._history.points()})
            await write_or_drop(request, response, history, deadline)
            seen = -1
            while not self._closing:
                if self._last is not None and self._seq != seen:
                    seen = self._seq
                    await write_or_drop(request, response, _sse("status", self._last), deadline)
                tick = self._tick
                if tick is None:
                    break
                try:
                    await asyncio.wait_for(tick.wait(), timeout=15.0)
                except asyncio.TimeoutError:
                    await write_or_drop(request, response, b": keep-alive\n\n", deadline)
        except ConnectionError:  # the viewer went away (reset, or lost while its data waited)
            pass
        return response

    # -- helpers ---------------------------------------------------------------------------------

    async def _fresh_status(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._status.status)


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers={**(headers or {}), **SECURITY_HEADERS})


def _json_response(data: dict[str, Any]) -> web.Response:
    return web.Response(
        text=redact_text(json.dumps(data, separators=(",", ":"))),
        content_type="application/json",
        headers=SECURITY_HEADERS,
    )


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {redact_text(json.dumps(data, separators=(',', ':')))}\n\n".encode()


def _static(name: str) -> str:
    return (resources.files("streamseg.web") / "static" / name).read_text(encoding="utf-8")
