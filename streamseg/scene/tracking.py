"""An identity per object and source, from Ultralytics' own ByteTrack and BoT-SORT (the library the
model already comes from, so ids equal ``model.track(..., tracker="bytetrack.yaml")`` on the same
detections: ``tests/scene/test_tracking.py``).

Two changes to how they are driven, both about time:
- a track is kept ``lost_s`` seconds of the stream, not a number of frames: frames are numbered by
  their timestamps (``tick_hz`` ticks per second, the source's frame rate), so frames the latency
  ladder leaves out or a reconnect loses leave a gap the buffer counts in seconds;
- across such a gap the Kalman filter predicts once per missed tick, so a moving object is looked for
  where it has got to, not where it was one frame ago.

``match="mask"`` associates by mask IoU instead of box IoU (crowds, where boxes overlap and masks do not),
with each track's last mask moved by its predicted motion.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streamseg.scene.mask_iou import MaskStore, mask_iou_distance
from streamseg.types import FloatArray, InstanceMasks, IntArray, UInt8Array

MAX_PREDICT_STEPS = 300  # a longer gap predicts no further (and the track is long lost by then)


class Detections:
    """What Ultralytics' trackers read of a frame's detections: ``conf``, ``cls``, ``xywh``/``xyxy``,
    ``len`` and boolean indexing (their ``Boxes`` after ``.cpu().numpy()``)."""

    def __init__(self, xyxy: FloatArray, conf: FloatArray, cls: FloatArray) -> None:
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, dtype=np.float32).reshape(-1)
        self.cls = np.asarray(cls, dtype=np.float32).reshape(-1)

    @property
    def xywh(self) -> FloatArray:
        xy = self.xyxy
        return np.stack(
            [(xy[:, 0] + xy[:, 2]) / 2, (xy[:, 1] + xy[:, 3]) / 2, xy[:, 2] - xy[:, 0], xy[:, 3] - xy[:, 1]],
            1,
        )

    def __getitem__(self, index: Any) -> Detections:
        return Detections(self.xyxy[index], self.conf[index], self.cls[index])

    def __len__(self) -> int:
        return len(self.conf)


def tracker_args(kind: str, lost_ticks: int) -> Any:
    """Ultralytics' own defaults file for ``kind`` (bytetrack.yaml, botsort.yaml), buffer in ticks."""
    from ultralytics.utils import YAML, IterableSimpleNamespace  # noqa: PLC0415
    from ultralytics.utils.checks import check_yaml  # noqa: PLC0415

    args = IterableSimpleNamespace(**YAML.load(check_yaml(f"{kind}.yaml")))  # type: ignore[no-untyped-call]
    args.track_buffer = lost_ticks
    args.with_reid = False  # BoT-SORT's ReID would download a model; off as in its defaults
    return args


def _timed_tracker(kind: str, args: Any, masks: MaskStore | None) -> Any:
    """An Ultralytics tracker whose frame counter is set from time and whose Kalman filter predicts
    once per tick of a gap; with ``masks``, association by mask IoU."""
    from ultralytics.trackers import BOTSORT, BYTETracker  # noqa: PLC0415
    from ultralytics.trackers.utils import matching  # noqa: PLC0415

    base: type[Any] = BYTETracker if kind == "bytetrack" else BOTSORT

    class Timed(base):  # type: ignore[misc]
        steps = 1

        def multi_predict(self, tracks: list[Any]) -> None:
            for _ in range(self.steps):
                super().multi_predict(tracks)

        def get_dists(self, tracks: list[Any], detections: list[Any]) -> Any:
            if masks is None:
                return super().get_dists(tracks, detections)
            dists = mask_iou_distance(masks, tracks, detections)
            return matching.fuse_score(dists, detections) if self.args.fuse_score else dists

    return Timed(args)


class SourceTracker:
    """One source's tracker: ``update`` gives each detection its track id, or -1 while it is not (yet)
    a confirmed track (an object is confirmed on its second frame, as in ByteTrack)."""

    def __init__(
        self, kind: str = "bytetrack", *, lost_s: float = 1.0, tick_hz: float = 30.0, match: str = "box"
    ):
        if kind not in ("bytetrack", "botsort"):
            raise ValueError(f"unknown tracker {kind!r}")
        self.kind = kind
        self.match = match
        self.tick_hz = tick_hz if tick_hz > 0 and math.isfinite(tick_hz) else 30.0
        self.lost_ticks = max(1, round(lost_s * self.tick_hz))
        self._masks = MaskStore() if match == "mask" else None
        self._tracker = _timed_tracker(kind, tracker_args(kind, self.lost_ticks), self._masks)
        self._origin: float | None = None
        self._tick = 0

    def tick_of(self, t: float) -> int:
        """Frame number from stream time: 1 for the first frame, then one per 1/tick_hz seconds, always
        at least one more than the last (timestamps that jitter or repeat still advance)."""
        if self._origin is None:
            self._origin = t
        return max(self._tick + 1, 1 + round((t - self._origin) * self.tick_hz))

    def update(
        self,
        t: float,
        xyxy: FloatArray,
        score: FloatArray,
        class_id: IntArray,
        masks: InstanceMasks | None = None,
        image: UInt8Array | None = None,
    ) -> IntArray:
        """(N,) track ids for the detections of the frame at stream time ``t`` (seconds).

        ``masks``: needed with ``match="mask"``. ``image``: BoT-SORT's camera-motion compensation
        uses it when given (a host frame)."""
        tick = self.tick_of(t)
        tracker = self._tracker
        tracker.steps = min(MAX_PREDICT_STEPS, tick - self._tick) if self._tick else 1
        tracker.frame_id = tick - 1  # its update() adds the one
        self._tick = tick
        if self._masks is not None:
            if masks is None:
                raise ValueError("match='mask' needs the instances' masks")
            self._masks.begin_frame(masks, xyxy)
        rows = tracker.update(Detections(xyxy, score, class_id.astype(np.float32)), image)
        ids = np.full(len(score), -1, dtype=np.int64)
        if len(rows):
            ids[rows[:, -1].astype(np.int64)] = rows[:, 4].astype(np.int64)
        if self._masks is not None:
            self._masks.end_frame(tracker.tracked_stracks, tick)
        return ids

    def live_ids(self) -> set[int]:
        """Tracks still followed (seen, or lost for less than ``lost_s``); ids not here have ended."""
        tracker = self._tracker
        return {int(t.track_id) for t in (*tracker.tracked_stracks, *tracker.lost_stracks) if t.is_activated}
