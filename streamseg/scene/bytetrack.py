"""ByteTrack as Ultralytics runs it, step for step, with the arithmetic done for all tracks at once.

Why not Ultralytics' ``BYTETracker`` itself: ``python -m tools.bench_tracking`` measured it at 1.6 ms per
frame with 30 instances on this project's CPU (one Python object per track and detection, a Kalman update
and a box conversion per object), five times the 0.3 ms a frame may cost. This keeps its algorithm and
its order of operations exactly: the same thresholds, the same association stages and list bookkeeping
(including which tracks are kept, lost and removed), and the same functions where the numbers are
made (Ultralytics' ``bbox_ioa``, ``linear_assignment`` and Kalman ``multi_predict``); only the Kalman
update and initiation are batched. ``tests/scene/test_tracking.py`` checks the ids against
``model.track(..., tracker="bytetrack.yaml")`` on a real clip, frame by frame.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from streamseg.types import FloatArray, IntArray

F64 = npt.NDArray[np.float64]  # Kalman states: Ultralytics keeps them in float64

TRACKED, LOST, REMOVED = 1, 2, 3
REMOVED_KEPT = 1000  # Ultralytics keeps the last 1000 removed tracks (their ids leave the lost pool)
STD_POSITION, STD_VELOCITY = 1.0 / 20, 1.0 / 160  # KalmanFilterXYAH's weights
_DIAGONAL3 = np.array([0, 1, 3])  # x, y and h share the position noise; a has its own
_DIAGONAL8 = np.arange(8)
_DIAGONAL4 = np.arange(4)
# KalmanFilterXYAH's motion noise: a standard deviation per state, most of them proportional to the height
_NOISE_PER_HEIGHT = np.array(
    [STD_POSITION] * 2 + [0.0, STD_POSITION] + [STD_VELOCITY] * 2 + [0.0, STD_VELOCITY]
)
_NOISE_FIXED = np.array([0.0, 0.0, 1e-2, 0.0, 0.0, 0.0, 1e-5, 0.0])


class Track:
    """One track; the fields Ultralytics' ``STrack`` has, no more."""

    __slots__ = (
        "cls",
        "covariance",
        "frame_id",
        "idx",
        "is_activated",
        "mean",
        "score",
        "start_frame",
        "state",
        "track_id",
        "tracklet_len",
    )

    def __init__(self, track_id: int, mean: F64, covariance: F64, frame_id: int) -> None:
        self.track_id = track_id
        self.mean = mean
        self.covariance = covariance
        self.state = TRACKED
        self.is_activated = False
        self.frame_id = frame_id
        self.start_frame = frame_id
        self.tracklet_len = 0
        self.score = 0.0
        self.cls = 0.0
        self.idx = -1

    @property
    def xywh(self) -> F64:
        """Centre and size of the predicted box (what mask association shifts masks by)."""
        x, y, a, h = self.mean[:4]
        return np.array([x, y, a * h, h])


class Frame:
    """This frame's detections as the tracker sees them (Ultralytics' conversions, in its dtypes)."""

    def __init__(self, xyxy: FloatArray, conf: FloatArray, cls: FloatArray) -> None:
        xy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        centre, size = (xy[:, :2] + xy[:, 2:]) / 2, xy[:, 2:] - xy[:, :2]  # Boxes.xywh, in float32
        corner = (
            centre.astype(np.float64) - size.astype(np.float64) / 2
        )  # xywh2ltwh after parse_bboxes (float64)
        self.tlwh = np.concatenate([corner.astype(np.float32), size], 1)
        self.xyxy = self.tlwh.copy()
        self.xyxy[:, 2:] += self.xyxy[:, :2]
        self.xyah = self.tlwh.copy()
        self.xyah[:, :2] += self.xyah[:, 2:] / 2
        self.xyah[:, 2] /= self.xyah[:, 3]
        self.valid = (size[:, 0] > 0) & (size[:, 1] > 0)
        self.conf = np.asarray(conf, dtype=np.float32).reshape(-1)
        self.cls = np.asarray(cls, dtype=np.float32).reshape(-1)


def track_boxes(tracks: list[Track]) -> FloatArray:
    """(T, 4) float32 xyxy of each track's state, as ``STrack.xyxy`` computes it."""
    if not tracks:
        return np.zeros((0, 4), dtype=np.float32)
    tlwh = np.array([t.mean for t in tracks])[:, :4]
    tlwh[:, 2] *= tlwh[:, 3]
    tlwh[:, :2] -= tlwh[:, 2:] / 2
    tlwh[:, 2:] += tlwh[:, :2]
    return np.ascontiguousarray(tlwh, dtype=np.float32)


Dists = Callable[[list[Track], IntArray, FloatArray], FloatArray]  # (tracks, detections, box costs)


class ByteTrack:
    """``update(frame, frame_id)`` -> (detection index, track id) of every confirmed track on the frame.

    ``frame_id`` is the caller's (numbered by time, see ``tracking``); ``steps`` predictions are made
    across a gap. ``dists(tracks, detections)``: association costs other than box IoU (mask IoU)."""

    def __init__(self, args: Any, dists: Dists | None = None) -> None:
        import lap  # type: ignore[import-untyped]  # noqa: PLC0415 - what Ultralytics' linear_assignment calls
        from ultralytics.utils.metrics import bbox_ioa  # noqa: PLC0415

        self.args = args
        self.max_frames_lost = int(args.track_buffer)
        self.tracked: list[Track] = []
        self.lost: list[Track] = []
        self.removed: collections.deque[int] = collections.deque()  # ids of the last REMOVED_KEPT removed
        self._removed_ids: collections.Counter[int] = collections.Counter()
        self.frame_id = 0
        self._next_id = 1
        self._dists = dists
        self._frame: Frame | None = None
        self._lapjv = lap.lapjv
        self._ioa = bbox_ioa

    # ------------------------------------------------------------------------------------------ a frame
    def update(self, frame: Frame, frame_id: int, steps: int = 1) -> tuple[IntArray, IntArray]:
        self.frame_id = frame_id
        self._frame = frame
        a = self.args
        high = frame.valid & (frame.conf >= a.track_high_thresh)
        low = frame.valid & (frame.conf > a.track_low_thresh) & (frame.conf < a.track_high_thresh)
        dets, dets_low = np.flatnonzero(high), np.flatnonzero(low)
        activated: list[Track] = []
        refind: list[Track] = []
        lost: list[Track] = []
        removed: list[Track] = []

        unconfirmed = [t for t in self.tracked if not t.is_activated]
        pool = _joint([t for t in self.tracked if t.is_activated], self.lost)
        self._predict(pool, steps)

        matches, u_track, u_det = self._assign(self._costs(pool, dets, fuse=True), thresh=a.match_thresh)
        self._apply(matches, pool, dets, activated, refind)

        r_tracked = [pool[i] for i in u_track.tolist() if pool[i].state == TRACKED]
        if r_tracked and len(dets_low):
            costs = self._costs(r_tracked, dets_low, fuse=False, by_box=True)
            matches, u_second, _ = self._assign(costs, thresh=0.5)
            self._apply(matches, r_tracked, dets_low, activated, refind)
        else:
            u_second = np.arange(len(r_tracked))
        for i in u_second.tolist():
            r_tracked[i].state = LOST
            lost.append(r_tracked[i])

        left = dets[u_det]
        if unconfirmed:
            matches, u_unconfirmed, u_left = self._assign(
                self._costs(unconfirmed, left, fuse=True), thresh=0.7
            )
            self._apply(matches, unconfirmed, left, activated, refind)
            for i in u_unconfirmed.tolist():
                unconfirmed[i].state = REMOVED
                removed.append(unconfirmed[i])
        else:
            u_left = np.arange(len(left))
        self._start(left[u_left], activated)

        for track in self.lost:
            if self.frame_id - track.frame_id > self.max_frames_lost:
                track.state = REMOVED
                removed.append(track)
        self._merge(activated, refind, lost, removed)
        shown = [t for t in self.tracked if t.is_activated]
        return (
            np.array([t.idx for t in shown], dtype=np.int64),
            np.array([t.track_id for t in shown], dtype=np.int64),
        )

    def live_ids(self) -> set[int]:
        return {t.track_id for t in (*self.tracked, *self.lost) if t.is_activated}

    # ------------------------------------------------------------------------------------------ steps
    def _assign(self, costs: FloatArray, thresh: float) -> tuple[IntArray, IntArray, IntArray]:
        """Ultralytics' ``linear_assignment`` (the same ``lap.lapjv`` call), its answer as arrays."""
        rows, cols = costs.shape
        if costs.size == 0:
            return np.zeros((0, 2), np.int64), np.arange(rows), np.arange(cols)
        _, x, y = self._lapjv(costs, extend_cost=True, cost_limit=thresh)
        matched = np.flatnonzero(x >= 0)
        return np.stack([matched, x[matched]], 1), np.flatnonzero(x < 0), np.flatnonzero(y < 0)

    def _predict(self, pool: list[Track], steps: int) -> None:
        """KalmanFilterXYAH.multi_predict: its motion matrix adds each velocity to its position once per
        step (done here as those additions), plus its motion noise."""
        if not pool:
            return
        mean = np.array([t.mean for t in pool])
        covariance = np.array([t.covariance for t in pool])
        not_tracked = np.array([t.state != TRACKED for t in pool])
        for _ in range(steps):
            mean[not_tracked, 7] = 0  # STrack.multi_predict: a lost track's height stops changing
            noise = np.square(mean[:, 3:4] * _NOISE_PER_HEIGHT + _NOISE_FIXED)
            mean[:, :4] += mean[:, 4:]
            covariance[:, :4] += covariance[:, 4:]  # rows: F @ P
            covariance[:, :, :4] += covariance[:, :, 4:]  # columns: (F @ P) @ F.T
            covariance[:, _DIAGONAL8, _DIAGONAL8] += noise
        for t, m, c in zip(pool, mean, covariance, strict=True):
            t.mean, t.covariance = m, c

    def _costs(self, tracks: list[Track], dets: IntArray, fuse: bool, by_box: bool = False) -> FloatArray:
        """1 - IoU (Ultralytics' ``iou_distance``), optionally fused with the detection scores."""
        frame = self._frame
        if frame is None:
            raise RuntimeError("no frame")
        if not len(tracks) or not len(dets):
            return np.ones((len(tracks), len(dets)), dtype=np.float32)
        costs = 1 - self._ioa(track_boxes(tracks), np.ascontiguousarray(frame.xyxy[dets]), iou=True)
        if self._dists is not None and not by_box:
            costs = self._dists(tracks, dets, costs)
        if fuse and self.args.fuse_score:
            costs = 1 - (1 - costs) * frame.conf[dets][None].repeat(costs.shape[0], axis=0)
        return costs

    def _apply(
        self,
        pairs: IntArray,
        tracks: list[Track],
        dets: IntArray,
        activated: list[Track],
        refind: list[Track],
    ) -> None:
        """Matched tracks take their detections: one batched Kalman update, then each track's fields."""
        if not len(pairs):
            return
        chosen = [tracks[i] for i in pairs[:, 0]]
        det = dets[pairs[:, 1]]
        frame = self._frame
        if frame is None:
            raise RuntimeError("no frame")
        means, covariances = self._kalman_update(chosen, frame.xyah[det])
        for t, d, m, c in zip(chosen, det.tolist(), means, covariances, strict=True):
            was_tracked = t.state == TRACKED
            t.mean, t.covariance = m, c
            t.tracklet_len = t.tracklet_len + 1 if was_tracked else 0
            t.state = TRACKED
            t.is_activated = True
            t.frame_id = self.frame_id
            t.score, t.cls, t.idx = frame.conf[d], frame.cls[d], d
            (activated if was_tracked else refind).append(t)

    def _kalman_update(self, tracks: list[Track], xyah: FloatArray) -> tuple[F64, F64]:
        """KalmanFilterXYAH.update for every track at once."""
        mean = np.asarray([t.mean for t in tracks])
        covariance = np.asarray([t.covariance for t in tracks])
        h = mean[:, 3]
        projected = covariance[:, :4, :4].copy()
        position = np.square(STD_POSITION * h)
        projected[:, _DIAGONAL3, _DIAGONAL3] += position[:, None]
        projected[:, 2, 2] += np.square(1e-1)
        # KalmanFilterXYAH's np.linalg.solve(projected, P[:, :4].T).T. Its state keeps each coordinate
        # coupled only with its own velocity (F adds velocity i to position i; the noises are diagonal),
        # so the projected covariance is diagonal and solving it is a division: 48 of 300 us per frame.
        gain = covariance[:, :, :4] / projected[:, _DIAGONAL4, _DIAGONAL4][:, None, :]
        innovation = xyah - mean[:, :4]
        new_mean = mean + np.matmul(innovation[:, None, :], gain.transpose(0, 2, 1))[:, 0]
        new_covariance = covariance - gain @ projected @ gain.transpose(0, 2, 1)
        return new_mean, new_covariance

    def _start(self, dets: IntArray, activated: list[Track]) -> None:
        """New tracks from what is left (ids are given in detection order, as Ultralytics does)."""
        frame = self._frame
        if frame is None or not len(dets):
            return
        dets = dets[frame.conf[dets] >= self.args.new_track_thresh]
        if not len(dets):
            return
        measurement = frame.xyah[dets].astype(np.float64)
        h = measurement[:, 3]
        std = np.stack(
            [
                2 * STD_POSITION * h,
                2 * STD_POSITION * h,
                np.full_like(h, 1e-2),
                2 * STD_POSITION * h,
                10 * STD_VELOCITY * h,
                10 * STD_VELOCITY * h,
                np.full_like(h, 1e-5),
                10 * STD_VELOCITY * h,
            ],
            1,
        )
        means = np.concatenate([measurement, np.zeros_like(measurement)], 1)
        covariances = _diagonals(np.square(std))
        for d, m, c in zip(dets.tolist(), means, covariances, strict=True):
            track = Track(self._next_id, m, c, self.frame_id)
            self._next_id += 1
            track.is_activated = self.frame_id == 1
            track.score, track.cls, track.idx = frame.conf[d], frame.cls[d], d
            activated.append(track)

    def _merge(
        self, activated: list[Track], refind: list[Track], lost: list[Track], removed: list[Track]
    ) -> None:
        """Ultralytics' ``merge_track_pools``, list for list."""
        tracked = [t for t in self.tracked if t.state == TRACKED]
        tracked = _joint(_joint(tracked, activated), refind)
        kept_lost = _sub(self.lost, tracked)
        kept_lost.extend(lost)
        kept_lost = [t for t in kept_lost if t.track_id not in self._removed_ids]
        self.tracked, self.lost = self._without_duplicates(tracked, kept_lost)
        for track in removed:
            self.removed.append(track.track_id)
            self._removed_ids[track.track_id] += 1
        while len(self.removed) > REMOVED_KEPT:
            gone = self.removed.popleft()
            self._removed_ids[gone] -= 1
            if not self._removed_ids[gone]:
                del self._removed_ids[gone]

    def _without_duplicates(self, a: list[Track], b: list[Track]) -> tuple[list[Track], list[Track]]:
        """``remove_duplicate_stracks``: a tracked and a lost track on the same box (IoU > 0.85): the
        younger goes."""
        if not a or not b:
            return a, b
        distance = 1 - self._ioa(track_boxes(a), track_boxes(b), iou=True)
        drop_a, drop_b = set(), set()
        for p, q in zip(*np.where(distance < 0.15), strict=True):
            if a[p].frame_id - a[p].start_frame > b[q].frame_id - b[q].start_frame:
                drop_b.add(int(q))
            else:
                drop_a.add(int(p))
        return [t for i, t in enumerate(a) if i not in drop_a], [
            t for i, t in enumerate(b) if i not in drop_b
        ]


_DIAGONAL3 = np.array([0, 1, 3])  # x, y and h share the position noise; a has its own
_DIAGONAL8 = np.arange(8)
_DIAGONAL4 = np.arange(4)
# KalmanFilterXYAH's motion noise: a standard deviation per state, most of them proportional to the height
_NOISE_PER_HEIGHT = np.array(
    [STD_POSITION] * 2 + [0.0, STD_POSITION] + [STD_VELOCITY] * 2 + [0.0, STD_VELOCITY]
)
_NOISE_FIXED = np.array([0.0, 0.0, 1e-2, 0.0, 0.0, 0.0, 1e-5, 0.0])


def _diagonals(values: F64) -> F64:
    """(N, K) -> (N, K, K) diagonal matrices."""
    n, k = values.shape
    out = np.zeros((n, k, k))
    out[:, range(k), range(k)] = values
    return out


def _joint(a: list[Track], b: list[Track]) -> list[Track]:
    ids = {t.track_id for t in a}
    return a + [t for t in b if t.track_id not in ids]


def _sub(a: list[Track], b: list[Track]) -> list[Track]:
    ids = {t.track_id for t in b}
    return [t for t in a if t.track_id not in ids]
