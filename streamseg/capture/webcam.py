"""Local cameras through OpenCV (V4L2 on Linux): an integer index or a ``/dev/videoN`` path.

Cameras deliver in real time whether or not anyone reads, so the pipeline's own queue policy decides
what is dropped; this class only grabs, stamps and reports.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from streamseg.capture.base import SourceBase, SourceStats
from streamseg.config import default_source_name
from streamseg.errors import SourceError, SourceTimeout
from streamseg.types import Frame, UInt8Array

logger = logging.getLogger(__name__)

_DEV_RE = re.compile(r"^/dev/video(\d+)$")
_MAX_FAILED_GRABS = 5


def parse_webcam_uri(uri: str) -> int | str | None:
    """``"0"`` -> 0, ``"/dev/video2"`` -> the path; anything else is not a webcam (``None``)."""
    text = uri.strip()
    if text.isdigit():
        return int(text)
    if _DEV_RE.match(text) or text.startswith("/dev/v4l/"):
        return text
    return None


class WebcamSource(SourceBase):
    """A live camera; ``frame_count`` is ``None`` and ``pts`` counts from the first frame."""

    def __init__(
        self,
        device: int | str,
        name: str | None = None,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._device = device
        self._uri = str(device)
        self._label = f"webcam {device}"
        self._name = name or default_source_name(self._uri)
        self._request = (width, height, fps)
        self._timeout_s = timeout_s
        self._stats = SourceStats()
        self._lock = threading.Lock()
        self._cap: cv2.VideoCapture | None = None
        self._closing = False
        self._resolution: tuple[int, int] | None = None
        self._fps: float | None = None
        self._index = 0
        self._t0: float | None = None  # monotonic time of the first frame
        self._pos0: float | None = None  # driver timestamp (ms) of the first frame
        self._use_pos_msec = True
        self._last_pts = -1.0

    @property
    def is_live(self) -> bool:
        return True

    @property
    def frame_count(self) -> int | None:
        return None

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    def open(self) -> None:
        """Open the device and apply the requested mode; fails fast when the device does not exist."""
        if self._cap is not None:
            return
        self._check_device_node()
        cap = self._create_capture()
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self._label} could not be opened (no such device?)")
        self._apply_request(cap)
        self._cap = cap
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self._resolution = (width, height) if width > 0 and height > 0 else None
        self._fps = fps if fps > 0 else None
        logger.info(
            "opened %s: %dx%d @ %.3g fps (requested %s)", self._label, width, height, fps, self._request
        )

    def read(self) -> Frame | None:
        """The next camera frame; ``SourceTimeout``/``SourceError`` if the camera stops delivering."""
        with self._lock:
            if self._closing:
                self._release()
                return None
            cap = self._cap
            if cap is None:
                raise SourceError(f"{self._label}: read() before open()")
            started = time.perf_counter()
            failures = 0
            while True:
                ok, image = cap.read()
                if ok and image is not None:
                    break
                failures += 1
                self._stats.decode_errors += 1
                if self._closing:
                    self._release()
                    return None
                if time.perf_counter() - started > self._timeout_s:
                    raise SourceTimeout(f"{self._label}: no frame for {self._timeout_s:g} s")
                if failures >= _MAX_FAILED_GRABS:
                    raise SourceError(f"{self._label} stopped delivering frames (unplugged?)")
                time.sleep(0.05)
            frame = self._to_frame(cap, np.asarray(image))
            self._stats.decode_seconds += time.perf_counter() - started
            return frame

    def close(self) -> None:
        self._closing = True
        if self._lock.acquire(timeout=5.0):
            try:
                self._release()
            finally:
                self._lock.release()

    # -- helpers ----------------------------------------------------------------------------------

    def _check_device_node(self) -> None:
        """On Linux a missing /dev node means no camera: say so before OpenCV probes (and logs)."""
        if not sys.platform.startswith("linux"):
            return
        node = Path(f"/dev/video{self._device}") if isinstance(self._device, int) else Path(self._device)
        if not node.exists():
            raise SourceError(f"{self._label} could not be opened (no such device: {node})")

    def _create_capture(self) -> cv2.VideoCapture:
        # V4L2 directly on Linux: the default probes GStreamer/FFmpeg backends too, which can stall.
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        timeout_ms = int(self._timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        try:
            return cv2.VideoCapture(self._device, api, params)
        except cv2.error as exc:
            raise SourceError(f"{self._label} could not be opened: {exc}") from None

    def _apply_request(self, cap: cv2.VideoCapture) -> None:
        width, height, fps = self._request
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(height))
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))

    def _to_frame(self, cap: cv2.VideoCapture, raw: npt.NDArray[Any]) -> Frame:
        now = time.monotonic()
        if raw.ndim == 2:  # some drivers hand out grey frames
            raw = np.asarray(cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR))
        image: UInt8Array = np.ascontiguousarray(raw, dtype=np.uint8)
        pts = self._pts(now, float(cap.get(cv2.CAP_PROP_POS_MSEC)))
        if self._resolution is None or self._index == 0:
            self._resolution = (int(image.shape[1]), int(image.shape[0]))
        frame = Frame(source=self._name, index=self._index, pts=pts, capture_time=now, image=image)
        self._index += 1
        self._stats.frames_decoded += 1
        return frame

    def _pts(self, now: float, pos_msec: float) -> float:
        """Driver timestamps when they look sane (positive, increasing), else arrival time."""
        if self._t0 is None:
            self._t0 = now
            self._pos0 = pos_msec if pos_msec > 0 else None
        if self._use_pos_msec and self._pos0 is not None and pos_msec > 0:
            pts = (pos_msec - self._pos0) / 1000.0
            if pts > self._last_pts or self._index == 0:
                self._last_pts = pts
                return pts
            logger.info("%s: driver timestamps went backwards; using arrival times", self._label)
            self._use_pos_msec = False
        pts = max(now - self._t0, self._last_pts + 1e-6)
        self._last_pts = pts
        return pts

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
