"""Frames the network did not see carry the latest result of their source (``pipeline/selection``).

A ``carried`` frame (between two inferences at the source's detect rate) gets the latest result with each
tracked instance moved by its track's velocity (the tracker's Kalman filter, in px per second of stream
time) over the time since that result: boxes shifted, mask crops shifted (cut at the frame's edges).
Untracked instances, and every instance of a ``still`` frame (no motion, no live track), are held where
they were. Events and zones are not judged on carried frames (they were on the inferred ones); the
zones' marks are the latest. A source without a result yet, or whose frame size changed, carries none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streamseg.types import BoolArray, FloatArray, Frame, InstanceMasks, IntArray, SceneMarks, SegResult

Velocities = Callable[[str], Mapping[int, tuple[float, float]]]  # source -> track id -> (vx, vy) px/s


@dataclass(frozen=True, slots=True)
class _Latest:
    """What a carried frame takes from its source's latest inferred result."""

    pts: float
    frame_hw: tuple[int, int]
    xyxy: FloatArray
    class_id: IntArray
    score: FloatArray
    masks: InstanceMasks
    class_names: Sequence[str]
    track_id: IntArray
    scene: SceneMarks | None


@dataclass(frozen=True, slots=True)
class CarriedFrame:
    """A frame the inference thread passed on without the network (``frame.inference`` says why)."""

    frame: Frame


class Carrier:
    """The latest inferred result per source (``remember``, in frame order on the render thread), and
    carried results made from it (``carry``)."""

    def __init__(
        self, velocities: Velocities | None = None, carries: Callable[[str], bool] | None = None
    ) -> None:
        """``carries(source)``: whether the source's frames may go without the network (None: all may);
        only those sources' results are kept."""
        self._velocities = velocities
        self._carries = carries
        self._latest: dict[str, _Latest] = {}
        self._lock = threading.Lock()

    def remember(self, result: SegResult) -> None:
        """Keep what a carried frame needs of ``result``: not its frame (on a GPU that would hold a ring
        slot), and its masks on the host now (a device batch's outputs are reused by the next one):
        only for a source that may carry, so no other source's masks come down for it."""
        if self._carries is not None and not self._carries(result.source):
            return
        kept = _Latest(
            result.pts,
            result.frame.frame_hw,
            result.xyxy,
            result.class_id,
            result.score,
            InstanceMasks(result.masks.crops, result.masks.origins, result.masks.frame_hw),
            result.class_names,
            result.track_id,
            result.scene,
        )
        with self._lock:
            self._latest[result.source] = kept

    def forget(self, source: str) -> None:
        with self._lock:
            self._latest.pop(source, None)

    def carry(self, frame: Frame) -> SegResult:
        latest = self._latest.get(frame.source)
        if latest is None or latest.frame_hw != frame.frame_hw:
            return _empty(frame)
        shifts = np.zeros((len(latest.class_id), 2), dtype=np.float32)
        if frame.inference == "carried" and self._velocities is not None and len(latest.class_id):
            velocity = self._velocities(frame.source)
            dt = max(0.0, frame.pts - latest.pts)
            for i, track in enumerate(latest.track_id.tolist()):
                if track >= 0 and track in velocity:
                    shifts[i] = (velocity[track][0] * dt, velocity[track][1] * dt)
        moved = np.round(shifts).astype(np.int32)
        masks = latest.masks if not moved.any() else _shifted(latest.masks, moved)
        xyxy = latest.xyxy + np.tile(moved.astype(np.float32), 2)
        h, w = frame.frame_hw
        xyxy = np.clip(xyxy, 0, np.array([w, h, w, h], dtype=np.float32)).astype(np.float32)
        return SegResult(
            frame,
            xyxy,
            latest.class_id,
            latest.score,
            masks,
            latest.class_names,
            track_id=latest.track_id,
            scene=latest.scene,
            inference=frame.inference,
        )


def _shifted(masks: InstanceMasks, moved: np.ndarray) -> InstanceMasks:
    """Each crop moved by its (dx, dy), the part past the frame's edges cut off."""
    h, w = masks.frame_hw
    crops: list[BoolArray] = []
    origins = np.zeros((len(masks), 2), dtype=np.int32)
    for i, crop in enumerate(masks.crops):
        x0 = int(masks.origins[i][0]) + int(moved[i][0])
        y0 = int(masks.origins[i][1]) + int(moved[i][1])
        cx0, cy0 = min(max(x0, 0), w), min(max(y0, 0), h)
        cx1, cy1 = max(min(x0 + crop.shape[1], w), cx0), max(min(y0 + crop.shape[0], h), cy0)
        crops.append(crop[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0])
        origins[i] = (cx0, cy0)
    return InstanceMasks(tuple(crops), origins, (h, w))


def _empty(frame: Frame) -> SegResult:
    return SegResult(
        frame,
        np.zeros((0, 4), np.float32),
        np.zeros(0, np.int64),
        np.zeros(0, np.float32),
        InstanceMasks.empty(frame.frame_hw),
        (),
        inference=frame.inference,
    )
