"""An identity per object and source: ByteTrack as Ultralytics runs it (``bytetrack``: its algorithm with
the arithmetic batched, five times cheaper; ids equal ``model.track(..., tracker="bytetrack.yaml")`` on
the same detections: ``tests/scene/test_tracking.py``), or Ultralytics' own BoT-SORT.

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

import functools
import math
from typing import Any

import numpy as np

from streamseg.scene.bytetrack import ByteTrack, Frame
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


def _timed_botsort(args: Any, masks: MaskStore | None) -> Any:
    """Ultralytics' BoT-SORT whose frame counter is set from time and whose Kalman filter predicts once
    per tick of a gap; with ``masks``, association by mask IoU."""
    from ultralytics.trackers import BOTSORT  # noqa: PLC0415
    from ultralytics.trackers.utils import matching  # noqa: PLC0415

    class Timed(BOTSORT):
        steps = 1

        def multi_predict(self, tracks: list[Any]) -> None:
            for _ in range(self.steps):
                super().multi_predict(tracks)

        def get_dists(self, tracks: list[Any], detections: list[Any]) -> Any:
            if masks is None:
                return super().get_dists(tracks, detections)
            box = matching.iou_distance(tracks, detections)
            dets = np.array([int(d.idx) for d in detections], dtype=np.int64)
            dists = mask_iou_distance(masks, tracks, dets, box)
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
        args = tracker_args(kind, self.lost_ticks)
        if kind == "bytetrack":
            masks = self._masks
            dists = None if masks is None else functools.partial(mask_iou_distance, masks)
            self._bytetrack: ByteTrack | None = ByteTrack(args, dists)
            self._botsort: Any = None
        else:
            self._bytetrack, self._botsort = None, _timed_botsort(args, self._masks)
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
        steps = min(MAX_PREDICT_STEPS, tick - self._tick) if self._tick else 1
        self._tick = tick
        if self._masks is not None:
            if masks is None:
                raise ValueError("match='mask' needs the instances' masks")
            self._masks.begin_frame(masks, xyxy)
        ids = np.full(len(score), -1, dtype=np.int64)
        if self._bytetrack is not None:
            index, track_ids = self._bytetrack.update(
                Frame(xyxy, score, class_id.astype(np.float32)), tick, steps
            )
            ids[index] = track_ids
            tracks = self._bytetrack.tracked
        else:
            tracker = self._botsort
            tracker.steps = steps
            tracker.frame_id = tick - 1  # its update() adds the one
            rows = tracker.update(Detections(xyxy, score, class_id.astype(np.float32)), image)
            if len(rows):
                ids[rows[:, -1].astype(np.int64)] = rows[:, 4].astype(np.int64)
            tracks = tracker.tracked_stracks
        if self._masks is not None:
            self._masks.end_frame(tracks, tick)
        return ids

    def velocities(self) -> dict[int, tuple[float, float]]:
        """Each followed track's box-centre velocity, px per second of stream time: its Kalman state's
        per-tick velocity (the state of both trackers starts x, y, ., ., vx, vy) times ticks per second.
        What a frame between two inferences moves the track's box and mask by."""
        if self._bytetrack is not None:
            tracks = [*self._bytetrack.tracked, *self._bytetrack.lost]
        else:
            tracks = [*self._botsort.tracked_stracks, *self._botsort.lost_stracks]
        return {
            int(t.track_id): (float(t.mean[4]) * self.tick_hz, float(t.mean[5]) * self.tick_hz)
            for t in tracks
            if t.is_activated and t.mean is not None
        }

    def live_ids(self) -> set[int]:
        """Tracks still followed (seen, or lost for less than ``lost_s``); ids not here have ended."""
        if self._bytetrack is not None:
            return self._bytetrack.live_ids()
        tracker = self._botsort
        return {int(t.track_id) for t in (*tracker.tracked_stracks, *tracker.lost_stracks) if t.is_activated}
