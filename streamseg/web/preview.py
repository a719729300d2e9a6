"""The latest processed frame of every source, and JPEGs of it made only when someone is watching.

The render thread pays one dict assignment per frame (``PreviewSink.write``); drawing (when no
recording drew already), downscaling and JPEG encoding happen on the dashboard's side, at most
``max_fps`` times a second per source and only for sources a viewer asked for.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from streamseg.gpu.picture import I420Picture
from streamseg.render.i420 import as_bgr
from streamseg.types import InstanceMasks, SegResult, UInt8Array

logger = logging.getLogger(__name__)

Annotate = Callable[[SegResult], UInt8Array]


@dataclass(frozen=True, slots=True)
class Latest:
    """What the render thread last handed over for one source."""

    seq: int  # 1, 2, 3 ... per source, so viewers can ask for "anything newer than N"
    result: SegResult
    annotated: UInt8Array | I420Picture | None
    shown_at: float  # time.monotonic() when it was rendered


@dataclass(frozen=True, slots=True)
class Jpeg:
    seq: int
    frame_index: int
    data: bytes


class PreviewSink:
    """A pipeline sink that keeps only a reference to the newest result per source (no copy, no work)."""

    needs_annotated = False

    def __init__(self) -> None:
        self._latest: dict[str, Latest] = {}
        self._seq: dict[str, int] = {}
        self.closed = False

    def write(self, result: SegResult, annotated: UInt8Array | I420Picture | None) -> None:
        seq = self._seq.get(result.source, 0) + 1
        self._seq[result.source] = seq
        self._latest[result.source] = Latest(seq, result, annotated, time.monotonic())

    def close(self) -> None:
        self.closed = True

    def latest(self, source: str) -> Latest | None:
        return self._latest.get(source)

    def frame_age(self, source: str, now: float | None = None) -> float | None:
        """Seconds since the newest shown frame of ``source`` was captured (grows while it stalls)."""
        latest = self._latest.get(source)
        if latest is None:
            return None
        return (time.monotonic() if now is None else now) - latest.result.frame.capture_time

    def idle_for(self, source: str, now: float | None = None) -> float | None:
        """Seconds since ``source`` last had a frame rendered; None before its first."""
        latest = self._latest.get(source)
        if latest is None:
            return None
        return (time.monotonic() if now is None else now) - latest.shown_at


class PreviewEncoder:
    """Turns the newest frame of a source into a small JPEG, at most ``max_fps`` per source.

    Several viewers of one source share each JPEG. ``annotate`` draws the frame when the pipeline
    did not (no recording): only for the few frames that are actually shown.
    """

    def __init__(
        self,
        sink: PreviewSink,
        annotate: Annotate | None,
        *,
        max_fps: float = 2.0,
        max_width: int = 640,
        quality: int = 70,
    ) -> None:
        if max_fps <= 0:
            raise ValueError(f"max_fps must be > 0, got {max_fps}")
        self._sink = sink
        self._annotate = annotate
        self.interval = 1.0 / max_fps
        self._max_width = max_width
        self._params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
        self._cache: dict[str, Jpeg] = {}
        self._encoded_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self.encoded = 0  # JPEGs made, for the benchmark and tests

    def ready_after(self, source: str, seq: int) -> float | None:
        """Seconds to wait before a frame newer than ``seq`` may be served; None when there is none yet."""
        latest = self._sink.latest(source)
        cached = self._cache.get(source)
        if cached is not None and cached.seq > seq:
            return 0.0
        if latest is None or latest.seq <= seq:
            return None
        return max(0.0, self._encoded_at.get(source, -1e9) + self.interval - time.monotonic())

    def jpeg(self, source: str) -> Jpeg | None:
        """The JPEG of the newest frame, re-encoded only when the throttle allows (blocking: run off-loop)."""
        with self._lock:
            latest = self._sink.latest(source)
            cached = self._cache.get(source)
            if latest is None:
                return cached
            fresh_enough = time.monotonic() - self._encoded_at.get(source, -1e9) < self.interval
            if cached is not None and (cached.seq >= latest.seq or fresh_enough):
                return cached
            self._encoded_at[source] = time.monotonic()
            data = self._encode(latest)
            if data is None:
                return cached
            jpeg = Jpeg(latest.seq, latest.result.frame_index, data)
            self._cache[source] = jpeg
            self.encoded += 1
            return jpeg

    def _encode(self, latest: Latest) -> bytes | None:
        image: Any = as_bgr(latest.annotated) if latest.annotated is not None else None
        if image is None:
            # Shrink first, then draw: a quarter of the pixels to blend, and the text stays legible.
            small = downscaled(latest.result, self._max_width)
            image = self._annotate(small) if self._annotate is not None else small.frame.image
        h, w = image.shape[:2]
        if w > self._max_width:
            size = (self._max_width, max(1, round(h * self._max_width / w)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, self._params)
        if not ok:
            logger.debug("JPEG encoding failed for %s", latest.result.source)
            return None
        return bytes(buf.tobytes())


def downscaled(result: SegResult, max_width: int) -> SegResult:
    """``result`` with its frame, boxes and mask crops scaled to at most ``max_width`` pixels wide."""
    h, w = result.frame.image.shape[:2]
    if w <= max_width:
        return result
    scale = max_width / w
    size_wh = (max_width, max(1, round(h * scale)))
    image: UInt8Array = np.asarray(cv2.resize(result.frame.image, size_wh, interpolation=cv2.INTER_AREA))
    crops, origins = [], []
    for crop, (x0, y0) in zip(result.masks.crops, result.masks.origins, strict=True):
        nx, ny = min(round(x0 * scale), size_wh[0] - 1), min(round(y0 * scale), size_wh[1] - 1)
        cw = max(1, min(round(crop.shape[1] * scale), size_wh[0] - nx))
        ch = max(1, min(round(crop.shape[0] * scale), size_wh[1] - ny))
        small = cv2.resize(crop.view(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST)
        crops.append(small.astype(bool))
        origins.append((nx, ny))
    masks = InstanceMasks(
        tuple(crops), np.array(origins, dtype=np.int32).reshape(-1, 2), (size_wh[1], size_wh[0])
    )
    frame = result.frame.replace(image=image)
    return dataclasses.replace(result, frame=frame, xyxy=result.xyxy * scale, masks=masks)
