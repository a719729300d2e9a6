"""``I420Picture``: an annotated frame in the encoder's own format (planar yuv420p), as the GPU path
downloads it. The render thread hands it on with its text still to draw (``render.i420``); the
source's encoder thread (``record``) or the dashboard finishes it. Host memory, numpy and OpenCV only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from streamseg.types import UInt8Array

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
