"""Annotated frames in the encoder's own format (planar yuv420p), and text drawn onto them.

On the GPU path a frame comes back from the device already blended and converted to yuv420p
(``render/device_overlay``). Labels and the HUD are text, which the host draws best; rather than
convert the whole frame to BGR for them, each tag or panel is drawn on a small patch: the patch is
cut out (aligned to the 2x2 chroma blocks), converted to BGR, drawn with the same code as the CPU
renderer (``labels.draw_tag``, ``hud.draw_panel``) and written back. Cost grows with the text, not
with the frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from streamseg.config import RenderConfig
from streamseg.gpu.palette import DEFAULT_PALETTE, Palette
from streamseg.render.hud import HudAnnotator, draw_panel, hud_lines
from streamseg.render.labels import LabelAnnotator, draw_tag
from streamseg.types import SegResult, UInt8Array

Painter = Callable[[UInt8Array, int, int], None]  # (BGR patch, dx, dy): draw as if at (x - dx, y - dy)


class I420Picture:
    """A frame as planar yuv420p: ``data`` is (H * 3 / 2, W) with H and W even (Y, then U, then V).

    ``keepalive`` is whatever owns ``data``'s memory (a pinned host tensor the device copied into),
    held for as long as the picture is. ``pending`` is drawing still to be done on it (the labels and
    HUD): whoever uses the picture first calls ``finish`` (the source's encoder thread, or the
    dashboard), so the render thread, one for all sources, never draws text itself.
    """

    __slots__ = ("_lock", "data", "height", "keepalive", "pending", "width")

    def __init__(
        self, data: UInt8Array, keepalive: Any = None, pending: Callable[[I420Picture], None] | None = None
    ) -> None:
        rows, width = data.shape
        if data.dtype != np.uint8 or rows % 3 or width % 2 or (rows * 2 // 3) % 2:
            raise ValueError(f"yuv420p needs an even (H*3/2, W) uint8 array, got {data.shape} {data.dtype}")
        self.data = data
        self.height = rows * 2 // 3
        self.width = width
        self.keepalive = keepalive
        self.pending = pending
        self._lock = threading.Lock()

    def finish(self) -> I420Picture:
        """Do the pending drawing (once, whichever thread comes first) and return the picture."""
        if self.pending is not None:
            with self._lock:
                pending, self.pending = self.pending, None
                if pending is not None:
                    pending(self)
        return self

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, 3), as a BGR frame of the same picture would be."""
        return self.height, self.width, 3

    def bgr(self) -> UInt8Array:
        """The whole picture as BGR (for the dashboard preview; the encoder takes yuv420p as is)."""
        self.finish()
        return np.asarray(cv2.cvtColor(self.data, cv2.COLOR_YUV2BGR_I420), dtype=np.uint8)

    def planes(self) -> tuple[UInt8Array, UInt8Array, UInt8Array]:
        """Y (H, W), U and V (H/2, W/2): views into ``data``."""
        h, w = self.height, self.width
        flat = self.data.reshape(-1)
        quarter = (h // 2) * (w // 2)
        y = flat[: h * w].reshape(h, w)
        u = flat[h * w : h * w + quarter].reshape(h // 2, w // 2)
        v = flat[h * w + quarter :].reshape(h // 2, w // 2)
        return y, u, v

    def paint(self, x0: int, y0: int, x1: int, y1: int, painter: Painter) -> None:
        """Run ``painter`` on the BGR patch covering [x0, x1) x [y0, y1), then write it back."""
        x0, y0 = max(0, x0 - x0 % 2), max(0, y0 - y0 % 2)
        x1, y1 = min(self.width, x1 + x1 % 2), min(self.height, y1 + y1 % 2)
        if x1 <= x0 or y1 <= y0:
            return
        y, u, v = self.planes()
        h, w = y1 - y0, x1 - x0
        cy = (slice(y0 // 2, y1 // 2), slice(x0 // 2, x1 // 2))
        small = np.concatenate([y[y0:y1, x0:x1].ravel(), u[cy].ravel(), v[cy].ravel()]).reshape(h * 3 // 2, w)
        patch: UInt8Array = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_YUV2BGR_I420), dtype=np.uint8)
        painter(patch, -x0, -y0)
        back = cv2.cvtColor(patch, cv2.COLOR_BGR2YUV_I420).reshape(-1)
        quarter = (h // 2) * (w // 2)
        y[y0:y1, x0:x1] = back[: h * w].reshape(h, w)
        u[cy] = back[h * w : h * w + quarter].reshape(h // 2, w // 2)
        v[cy] = back[h * w + quarter :].reshape(h // 2, w // 2)


class I420TextAnnotator:
    """Labels and the HUD onto an ``I420Picture``, looking as the CPU renderer draws them."""

    def __init__(self, config: RenderConfig, palette: Palette = DEFAULT_PALETTE) -> None:
        self.labels = LabelAnnotator(palette) if config.labels else None
        self.hud = HudAnnotator() if config.hud else None

    def later(
        self,
        result: SegResult,
        fps: float | None,
        latency_ms: float | None,
        record_stage: Callable[[str, float, str | None], None] | None = None,
    ) -> Callable[[I420Picture], None]:
        """The drawing as a ``pending`` callback for ``I420Picture`` (done by whoever uses it first),
        timed as the ``render`` stage."""

        def draw(picture: I420Picture) -> None:
            started = time.perf_counter()
            self.annotate(picture, result, fps, latency_ms)
            if record_stage is not None:
                record_stage("render", time.perf_counter() - started, result.source)

        return draw

    def annotate(
        self, picture: I420Picture, result: SegResult, fps: float | None, latency_ms: float | None
    ) -> I420Picture:
        w, h = picture.width, picture.height
        if self.labels is not None:
            for tag in self.labels.tags(result, w, h):
                picture.paint(
                    tag.left,
                    tag.top,
                    tag.left + tag.width,
                    tag.top + tag.height,
                    lambda patch, dx, dy, tag=tag: draw_tag(patch, tag, dx, dy),  # type: ignore[misc]
                )
        if self.hud is not None:
            panel = self.hud.panel(w, h, hud_lines(result.source, fps, latency_ms, len(result)))
            if panel is not None:
                picture.paint(
                    panel.x0,
                    panel.y0,
                    panel.x1,
                    panel.y1,
                    lambda patch, dx, dy: draw_panel(patch, panel, dx, dy),
                )
        return picture


def as_bgr(annotated: UInt8Array | I420Picture) -> UInt8Array:
    """A sink's view of an annotated frame as BGR, whichever form the render stage produced."""
    return annotated.bgr() if isinstance(annotated, I420Picture) else annotated
