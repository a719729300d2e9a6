"""How much of a source's picture moved, cheaply enough to run on every decoded frame on the capture
thread, so the network sees only frames where something happens (``config.detect``)."""

from __future__ import annotations

import cv2
import numpy as np

from streamseg.config.detect import MotionConfig
from streamseg.scene.geometry import rasterise, to_pixels
from streamseg.types import FloatArray, UInt8Array

_OPEN = np.ones((3, 3), dtype=np.uint8)
_BLUR = (5, 5)  # at 320 px wide: a 5x5 block is ~20x20 px of a 720p frame, far below anything tracked


class MotionDetector:
    """One source's motion: each frame downscaled to ``config.width`` px wide, grey, blurred a little
    (sensor noise), compared with a running background (``cv2.accumulateWeighted``, float32); the pixels
    differing by more than ``threshold`` outside the ignore areas, opened (one 3x3 erosion and dilation,
    so specks of noise do not count), as a share of the downscaled frame.

    Measured (median of 200 frames, width 320, OpenCV 5.1 on the 2-core dev CPU): 0.15 ms a frame at
    720p, 0.20 ms at 1080p (0.2 and 0.3 ms with the machine busy), half of it the downscale; width 640
    costs 2 to 3 times that.

    Exposure: a global step of a few grey levels (below ``threshold``) never counts. A larger one (40
    levels) counts as the whole frame until the background has learnt it: 40 x (1 - learn)^n falls
    under 25 after 9 to 10 frames at learn 0.05, so a light switched on sends about 10 frames through.
    """

    def __init__(self, config: MotionConfig, where: str = "motion") -> None:
        self._config = config
        self._where = where  # names the source in the warning for an ignore area past the frame
        self._frame_wh: tuple[int, int] | None = None
        self._small_wh = (0, 0)
        self._counted: UInt8Array | None = None  # 255 where motion counts; None: no ignore areas
        self._background: FloatArray | None = None
        self._share = 0.0

    @property
    def config(self) -> MotionConfig:
        return self._config

    @property
    def share(self) -> float:
        """What the last ``measure`` returned (0.0 before the first)."""
        return self._share

    @property
    def moved(self) -> bool:
        """The last measured share is at least ``config.min_area``."""
        return moved(self._share, self._config)

    def reset(self) -> None:
        """Forget the background (a reconnect: the next frame may show a different scene)."""
        self._frame_wh = None
        self._background = None

    def measure(self, image: UInt8Array) -> float:
        """The share of the frame that moved (0..1), and the background updated. The first frame (and
        the first after the frame size changes, or ``reset``) returns 1.0: no background yet, so
        everything counts as motion."""
        h, w = image.shape[:2]
        if (w, h) != self._frame_wh:
            self._restart((w, h))
        small = image
        if self._small_wh != (w, h):  # linear, not area: 0.08 ms against 0.73 at 720p; the blur averages
            small = np.asarray(cv2.resize(image, self._small_wh, interpolation=cv2.INTER_LINEAR))
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        grey = cv2.GaussianBlur(grey, _BLUR, 0)
        background = self._background
        if background is None:
            self._background = grey.astype(np.float32)
            self._share = 1.0
            return 1.0
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(background))
        _, moving = cv2.threshold(diff, self._config.threshold, 255, cv2.THRESH_BINARY)
        if self._counted is not None:
            moving = cv2.bitwise_and(moving, self._counted)
        moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, _OPEN)
        cv2.accumulateWeighted(grey, background, self._config.learn)
        self._share = cv2.countNonZero(moving) / float(moving.size)
        return self._share

    def _restart(self, frame_wh: tuple[int, int]) -> None:
        """A new frame size: a new background, and the ignore areas drawn at the downscaled size (once)."""
        w, h = frame_wh
        small_w = min(self._config.width, w)
        small_h = max(1, round(h * small_w / w))
        self._frame_wh, self._small_wh, self._background = frame_wh, (small_w, small_h), None
        self._counted = None
        if not self._config.ignore:
            return
        ignored = np.zeros((small_h, small_w), dtype=bool)
        scale = np.array([small_w / w, small_h / h], dtype=np.float32)
        for i, area in enumerate(self._config.ignore):
            where = f"{self._where}.ignore[{i}]"
            polygon = to_pixels(area.polygon, area.in_fractions, frame_wh, where, strict=False) * scale
            ignored |= rasterise(polygon, (small_w, small_h))
        self._counted = np.where(ignored, 0, 255).astype(np.uint8)


def moved(share: float, config: MotionConfig) -> bool:
    """Whether a measured share counts as motion under ``config``."""
    return share >= config.min_area
