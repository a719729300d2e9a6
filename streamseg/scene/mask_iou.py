"""Association by mask IoU (``track.match: mask``): each track keeps the mask it was last seen with,
moved by the Kalman filter's predicted motion, and is compared with this frame's masks. Only pairs
whose boxes overlap are computed; the rest are 0, as box IoU would say."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from streamseg.types import BoolArray, FloatArray, InstanceMasks, IntArray


@dataclass
class _Seen:
    crop: BoolArray
    x0: float
    y0: float
    centre: FloatArray  # of the box it was seen in
    area: int


class MaskStore:
    """This frame's detection masks, and each track's last one."""

    def __init__(self) -> None:
        self.current: list[_Seen] = []
        self.last: dict[int, _Seen] = {}

    def begin_frame(self, masks: InstanceMasks, xyxy: FloatArray) -> None:
        centres = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2], 1)
        self.current = [
            _Seen(crop, float(o[0]), float(o[1]), centres[i], int(np.count_nonzero(crop)))
            for i, (crop, o) in enumerate(zip(masks.crops, masks.origins, strict=True))
        ]

    def end_frame(self, tracks: list[Any], tick: int) -> None:
        """Tracks matched on this frame keep its mask; tracks no longer followed are forgotten."""
        keep: dict[int, _Seen] = {}
        for track in tracks:
            tid = int(track.track_id)
            idx = int(track.idx)
            if track.frame_id == tick and 0 <= idx < len(self.current):
                keep[tid] = self.current[idx]
            elif tid in self.last:
                keep[tid] = self.last[tid]
        self.last = keep


def mask_iou_distance(store: MaskStore, tracks: list[Any], dets: IntArray, box: FloatArray) -> FloatArray:
    """(T, D) 1 - mask IoU of ``tracks`` and this frame's detections ``dets`` (indices), where their
    boxes overlap (``box``: 1 - box IoU); a track with no mask yet (a new one) keeps its box cost."""
    dists = np.ones((len(tracks), len(dets)), dtype=np.float32)
    for i, track in enumerate(tracks):
        seen = store.last.get(int(track.track_id))
        if seen is None:
            dists[i] = box[i]
            continue
        shift = np.asarray(track.xywh[:2], dtype=np.float32) - seen.centre
        for j, det in enumerate(dets.tolist()):
            if box[i, j] >= 1.0:
                continue  # boxes apart: IoU 0
            dists[i, j] = 1.0 - _iou(seen, float(shift[0]), float(shift[1]), store.current[det])
    return dists


def _iou(a: _Seen, dx: float, dy: float, b: _Seen) -> float:
    ax0, ay0 = round(a.x0 + dx), round(a.y0 + dy)
    bx0, by0 = round(b.x0), round(b.y0)
    ah, aw = a.crop.shape
    bh, bw = b.crop.shape
    xs, ys = max(ax0, bx0), max(ay0, by0)
    xe, ye = min(ax0 + aw, bx0 + bw), min(ay0 + ah, by0 + bh)
    union_floor = a.area + b.area
    if xe <= xs or ye <= ys or union_floor == 0:
        return 0.0
    inter = int(
        np.count_nonzero(
            a.crop[ys - ay0 : ye - ay0, xs - ax0 : xe - ax0]
            & b.crop[ys - by0 : ye - by0, xs - bx0 : xe - bx0]
        )
    )
    return inter / (union_floor - inter)
