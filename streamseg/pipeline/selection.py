"""Which frames the network sees: a source's detect rate (frames per second of stream time) and its motion
gate. Every other frame is still drawn, recorded, published and shown: it carries the latest result
(``pipeline/carry``). The batcher asks per frame, in each source's frame order.

- **Detect rate**: frames are picked by timestamp, one per ``1/fps`` seconds of stream time, on a fixed
  phase (the due time advances by the interval, so 7 fps from a 30 fps camera is 7 a second, not 6);
  a gap longer than an interval (a reconnect, dropped frames) or a timestamp going back restarts the
  phase at the frame after it. Never more than asked: a frame is picked only once its due time came.
- **Motion**: with motion on, a frame whose moved share is under ``min_area`` while the source has no
  live track is ``still`` (a parked car keeps its mask); motion, or a live track, lets the rate decide.
  A frame whose motion was not measured (decoded on a GPU) counts as moving.
- **The latency ladder** lowers a source's detect rate (``rate_scale``) before it strides decoding:
  frames it leaves out are still recorded and shown, carrying the latest result.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from streamseg.capture.motion import MotionDetector
from streamseg.config import Config
from streamseg.config.detect import DetectConfig, check_detect_rate, detect_for
from streamseg.types import Frame, UInt8Array

logger = logging.getLogger(__name__)

Motion = Callable[[UInt8Array], float]  # a host frame -> the share of it that moved
EPS_S = 1e-3  # timestamps a millisecond early still count as on time (rounded stream clocks)
MIN_SCALE = 0.05  # the latency ladder lowers a detect rate to a twentieth at most


@dataclass(slots=True)
class _SourceGate:
    interval: float | None  # seconds between inferred frames; None: every frame
    motion_min_area: float | None  # None: motion gating off
    due: float | None = None

    def moved(self, frame: Frame) -> bool:
        """Whether the frame's measured motion counts (unmeasured: it does)."""
        min_area = self.motion_min_area
        return min_area is None or frame.motion is None or frame.motion >= min_area

    def kind(self, frame: Frame, live_tracks: bool, scale: float = 1.0) -> str:
        if self.motion_min_area is not None and not live_tracks and not self.moved(frame):
            return "still"
        if self.interval is None:
            return "inferred"
        interval = self.interval / min(1.0, max(scale, MIN_SCALE))
        pts = frame.pts
        if self.due is None or pts < self.due - interval - EPS_S or pts >= self.due + interval:
            self.due = pts + interval  # the first frame, a gap, or time going back: a new phase
            return "inferred"
        if pts >= self.due - EPS_S:
            self.due += interval
            return "inferred"
        return "carried"


class FrameSelection:
    """The gates of the sources whose detect rate or motion leaves frames out; the others infer every
    frame. ``live_tracks(source)``: whether the source's tracker still follows someone (the render
    thread keeps it); ``count(source, kind)``: telemetry of each decision, and of frames with motion;
    ``rate_scale(source)``: the latency ladder's factor on the source's detect rate (1: as set)."""

    def __init__(
        self,
        live_tracks: Callable[[str], bool] = lambda _: False,
        count: Callable[[str, str], None] | None = None,
        rate_scale: Callable[[str], float] = lambda _: 1.0,
    ) -> None:
        self._gates: dict[str, _SourceGate] = {}
        self._motion: dict[str, Motion] = {}
        self._live_tracks = live_tracks
        self._count = count
        self._rate_scale = rate_scale
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self._gates)

    def add_source(self, name: str, detect: DetectConfig, source_fps: float = 0.0) -> None:
        """Gate ``name`` when its detect rate or motion leaves frames out (``ConfigError`` for a rate above
        the source's own, when that is known)."""
        check_detect_rate(detect.fps, source_fps, f"source {name}")
        motion = detect.motion.min_area if detect.motion.enabled else None
        interval = 1.0 / detect.fps if detect.fps else None
        if interval is None and motion is None:
            return
        with self._lock:
            self._gates[name] = _SourceGate(interval, motion)
            if motion is not None:
                self._motion[name] = MotionDetector(detect.motion).measure
        what = [f"{detect.fps:g} detections/s" if detect.fps else "", "motion first" if motion else ""]
        logger.info("source %s: %s", name, ", ".join(w for w in what if w))

    def gated(self, name: str) -> bool:
        """Whether some of ``name``'s frames may go without the network (it carries results)."""
        return name in self._gates

    def motion(self, name: str) -> Motion | None:
        """The source's motion detector, for its capture thread (None: motion off)."""
        return self._motion.get(name)

    def remove_source(self, name: str) -> None:
        with self._lock:
            self._gates.pop(name, None)
            self._motion.pop(name, None)

    def decide(self, frame: Frame) -> str:
        """Mark ``frame.inference`` (and return it): ``inferred``, ``carried`` or ``still``."""
        gate = self._gates.get(frame.source)
        source = frame.source
        kind = (
            "inferred"
            if gate is None
            else gate.kind(frame, self._live_tracks(source), self._rate_scale(source))
        )
        frame.inference = kind
        if self._count is not None:
            self._count(frame.source, kind)
            if frame.motion is not None and gate is not None and gate.moved(frame):
                self._count(frame.source, "moving")
        return kind


def may_leave_out(cfg: Config) -> bool:
    """Whether some source's frames may go without the network (a detect rate, motion): those frames are
    drawn on the host, from the latest result, so the device path draws none (``DrawPolicy``)."""
    run = cfg.detect
    if run.fps or run.motion.enabled:
        return True
    return any((d := detect_for(run, sc.detect)).fps or d.motion.enabled for sc in cfg.sources)
