"""``LiveSource``: a camera or stream that reconnects forever (or ``max_retries`` times) and never hangs.

It wraps a factory of ordinary sources (PyAV for RTSP/HTTP/HLS, OpenCV for webcams). When the inner
source fails, times out or ends, it is closed and a new one is opened after an exponential backoff
with jitter. Every frame is re-stamped: indices keep counting across reconnects and presentation
times come from ``LiveClock`` (the stream's clock while it keeps real time, re-anchored to the wall
clock after each reconnect), so one recording spans the whole run with each outage visible as a gap of
its real length.

Health, read from any thread: ``connecting`` (first attempt), ``live`` (frames arriving), ``stalled``
(connected but no frame for ``stall_s``), ``reconnecting`` (lost, retrying), ``failed`` (gave up),
``ended`` (closed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamseg.capture.backoff import Backoff, probe_address, wait
from streamseg.capture.base import FrameGate, FrameSource, GatedSource, SourceBase, SourceStats
from streamseg.capture.live_clock import LiveClock
from streamseg.errors import SourceError, SourceGaveUp
from streamseg.redact import redact_text, redact_uri
from streamseg.types import Frame

logger = logging.getLogger(__name__)

CONNECTING, LIVE, STALLED, RECONNECTING, FAILED, ENDED = (
    "connecting",
    "live",
    "stalled",
    "reconnecting",
    "failed",
    "ended",
)
HEALTH_STATES = (CONNECTING, LIVE, STALLED, RECONNECTING, FAILED, ENDED)


@dataclass(frozen=True)
class ReconnectPolicy:
    initial_s: float = 0.5
    max_s: float = 10.0
    jitter: float = 0.2
    max_retries: int = -1  # failed attempts in a row allowed after the first; -1 = forever
    stall_s: float = 2.0


class LiveSource(SourceBase):
    """A live source that survives its server going away; see the module docstring."""

    def __init__(
        self,
        factory: Callable[[], FrameSource],
        *,
        name: str,
        uri: str,
        policy: ReconnectPolicy | None = None,
        eager: bool = False,
        inner: FrameSource | None = None,
    ) -> None:
        self._factory = factory
        self._name = name
        self._uri = uri
        self._label = redact_uri(uri)
        self._policy = policy or ReconnectPolicy()
        self._eager = eager
        self._backoff = Backoff(self._policy.initial_s, self._policy.max_s, self._policy.jitter)
        self._probe = probe_address(uri)
        self._clock = LiveClock(label=self._label)
        self._closing = threading.Event()
        self._busy = threading.Lock()  # held by the reader thread inside read()
        self._inner: FrameSource | None = inner
        self._past = SourceStats()  # counters of inner sources already closed
        self._state = LIVE if inner is not None else CONNECTING
        self._ever_connected = inner is not None
        self._last_frame: float | None = None
        self._connected_at: float | None = time.monotonic() if inner is not None else None
        self._resolution = inner.resolution_wh if inner is not None else (0, 0)
        self._fps = inner.nominal_fps if inner is not None else None
        self._index = 0
        self._gate: FrameGate | None = None
        self.reconnects = 0  # connections re-established after a loss
        self.last_error: str | None = None  # redacted, for telemetry and the summary

    # -- FrameSource properties -------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        return True

    @property
    def frame_count(self) -> int | None:
        return None

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    @property
    def stats(self) -> SourceStats:
        inner = self._inner
        now = inner.stats if inner is not None else SourceStats()
        return SourceStats(
            frames_decoded=self._past.frames_decoded + now.frames_decoded,
            decode_errors=self._past.decode_errors + now.decode_errors,
            damaged_frames=self._past.damaged_frames + now.damaged_frames,
            decode_seconds=self._past.decode_seconds + now.decode_seconds,
        )

    @property
    def health(self) -> str:
        """The current state; ``stalled`` is judged now, from the time of the last frame."""
        state = self._state
        if state in (LIVE, CONNECTING, RECONNECTING) and self._connected_at is not None:
            since = self._last_frame or self._connected_at
            quiet = getattr(self._inner, "skipped_packet_at", None)  # keyframes only: packets say it lives
            if quiet is not None and self._last_frame is not None:
                since = max(since, quiet)
            if self._inner is not None and time.monotonic() - since > self._policy.stall_s:
                return STALLED
        return state

    def health_info(self) -> dict[str, Any]:
        """What telemetry shows per source: health, reconnect count, the last error (redacted)."""
        info: dict[str, Any] = {"health": self.health, "reconnects": self.reconnects}
        if self.last_error:
            info["last_error"] = self.last_error
        return info

    # -- lifecycle --------------------------------------------------------------------------------

    def open(self) -> None:
        """Eager sources (webcams) fail here if they cannot be opened at all; others connect in ``read``."""
        if self._eager:
            self.connect_now()

    def connect_now(self) -> None:
        """Make the first connection on the caller's thread, raising ``SourceError`` when it fails (a
        camera added to a running pipeline is refused at once when unreachable, not retried forever)."""
        if self._inner is not None:
            return
        src = self._factory()
        try:
            src.open()
        except BaseException:
            src.close()
            raise
        self._adopt(src)
        self._ever_connected = True

    def read(self) -> Frame | None:
        """The next frame, reconnecting as often as needed; ``None`` only once closed."""
        with self._busy:
            try:
                while not self._closing.is_set():
                    inner = self._inner
                    if inner is None:
                        self._connect()
                        continue
                    try:
                        frame = inner.read()
                    except SourceError as exc:
                        self._lost(_reason(exc, self._label))
                        continue
                    if frame is None:
                        if not self._closing.is_set():
                            self._lost("the stream ended")
                        continue
                    if getattr(inner, "draining", False):
                        # The connection is gone; these are the decoder's last frames. Deliver them,
                        # but health says so now, not "live" (the loss is logged after the last one).
                        self._state = RECONNECTING
                        return self._stamp(frame, live=False)
                    return self._stamp(frame)
                return None
            finally:
                if self._closing.is_set():
                    self._release()

    def set_gate(self, gate: FrameGate | None) -> None:
        """The latency ladder's gate (``FrameGate``), handed to every connection's decoder: frames it
        refuses are passed over before conversion and still take a number of ours, so the ladder's
        round-robin phases hold across them."""
        self._gate = gate
        inner = self._inner
        if isinstance(inner, GatedSource):
            inner.set_gate(_Renumbered(self, gate) if gate is not None else None)

    def close(self) -> None:
        """Never blocks: a reader stuck in a network read notices within its timeout and cleans up."""
        self._closing.set()
        if self._busy.acquire(blocking=False):
            try:
                self._release()
            finally:
                self._busy.release()

    # -- internals --------------------------------------------------------------------------------

    def _connect(self) -> None:
        """One attempt; on failure wait the backoff (or raise ``SourceGaveUp`` past ``max_retries``)."""
        self._state = RECONNECTING if self._ever_connected else CONNECTING
        src = self._factory()
        try:
            src.open()
        except SourceError as exc:
            src.close()
            self._failed_attempt(_reason(exc, self._label))
            return
        if self._closing.is_set():
            src.close()
            return
        self._adopt(src)
        if self._ever_connected:
            self.reconnects += 1
            logger.warning("%s: reconnected (reconnect %d)", self._label, self.reconnects)
        else:
            logger.info("%s: connected", self._label)
        self._ever_connected = True

    def _adopt(self, src: FrameSource) -> None:
        self._inner = src
        if self._gate is not None and isinstance(src, GatedSource):
            src.set_gate(_Renumbered(self, self._gate))
        self._connected_at = time.monotonic()
        self._last_frame = None
        self._clock.reset()
        self._state = LIVE
        if src.resolution_wh != (0, 0):
            self._resolution = src.resolution_wh
        self._fps = src.nominal_fps or self._fps

    def _failed_attempt(self, reason: str) -> None:
        attempts = self._backoff.failures + 1
        limit = self._policy.max_retries
        self.last_error = reason
        if limit >= 0 and attempts > limit:
            self._state = FAILED
            raise SourceGaveUp(
                f"{self._label}: unreachable after {attempts} attempt{'s' * (attempts != 1)}: {reason}"
            )
        delay = self._backoff.next_delay()
        level = logging.WARNING if attempts == 1 else logging.DEBUG
        logger.log(level, "%s: %s; retrying in %.1f s", self._label, reason, delay)
        wait(delay, self._closing, self._probe)

    def _lost(self, reason: str) -> None:
        logger.warning("%s: connection lost (%s); reconnecting", self._label, reason)
        self.last_error = reason
        self._state = RECONNECTING
        self._release()

    def _stamp(self, frame: Frame, live: bool = True) -> Frame:
        """Our index and clock on ``frame``; ``live``: it proves the connection works (health, backoff)."""
        now = frame.capture_time
        if live:
            if self._last_frame is None:
                self._backoff.reset()  # frames flow again: the next outage starts with a short wait
                self._resolution = frame.resolution_wh
            self._last_frame = now
            self._state = LIVE
        pts = self._clock.pts(frame.pts, now)
        out = frame.replace(source=self._name, index=self._index, pts=pts)
        self._index += 1
        return out

    def _release(self) -> None:
        inner, self._inner = self._inner, None
        if inner is None:
            return
        stats = inner.stats
        self._past.frames_decoded += stats.frames_decoded
        self._past.decode_errors += stats.decode_errors
        self._past.damaged_frames += stats.damaged_frames
        self._past.decode_seconds += stats.decode_seconds
        try:
            inner.close()
        except Exception:
            logger.debug("%s: closing the old connection failed", self._label, exc_info=True)
        if self._closing.is_set() and self._state != FAILED:
            self._state = ENDED


class _Renumbered:
    """The gate as a connection's decoder sees it: asked with the connection's frame numbers, answered
    for ours (which keep counting across reconnects); a refused frame uses up its number."""

    def __init__(self, live: LiveSource, gate: FrameGate) -> None:
        self._live = live
        self._gate = gate

    def admits(self, index: int) -> bool:
        live = self._live
        if self._gate.admits(live._index):
            return True
        live._index += 1
        return False

    @property
    def skip_frame(self) -> str:
        return self._gate.skip_frame


def _reason(exc: BaseException, label: str) -> str:
    """The inner source's message, redacted, without the URL it repeats (our own lines start with it)."""
    text = redact_text(str(exc)).replace(f" {label}:", ":").removeprefix(f"{label}: ")
    return text or type(exc).__name__
