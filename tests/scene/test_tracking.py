"""Tracking: ids equal Ultralytics' own ``model.track`` on the same detections, and follow time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, SourceConfig, TrackConfig
from streamseg.scene.tracking import SourceTracker
from streamseg.types import InstanceMasks
from tests.conftest import FIXTURE_PT, VIDEOS, require_asset

CLIP = VIDEOS / "street_pedestrians_720p30.mp4"  # 30 fps: Ultralytics' 30-frame buffer is our 1 s
FRAMES = 45

Boxes = tuple[np.ndarray, np.ndarray, np.ndarray]  # one frame's xyxy, track ids (-1: none), scores


@pytest.fixture(scope="module")
def ultralytics_run() -> tuple[list[tuple[Any, np.ndarray]], list[Boxes]]:
    """``model.track`` with its defaults (conf 0.1, the checkpoint's imgsz): per frame, the detections its
    ByteTrack was given and its rows; and what it returned (the tracked boxes)."""
    from ultralytics import YOLO
    from ultralytics.trackers.byte_tracker import BYTETracker

    require_asset(CLIP)
    if not FIXTURE_PT.exists():
        pytest.skip(f"trained fixture model not present at {FIXTURE_PT}")
    seen: list[tuple[Any, np.ndarray]] = []
    returned: list[Boxes] = []
    original = BYTETracker.update

    def recording(self: Any, results: Any, img: Any = None, **kwargs: Any) -> np.ndarray:
        rows = original(self, results, img, **kwargs)
        seen.append(((results.xyxy.copy(), results.conf.copy(), results.cls.copy()), rows.copy()))
        return rows

    BYTETracker.update = recording  # type: ignore[method-assign]
    try:
        stream = YOLO(str(FIXTURE_PT)).track(
            source=str(CLIP), tracker="bytetrack.yaml", stream=True, verbose=False
        )
        for i, result in enumerate(stream):
            boxes = result.boxes
            ids = boxes.id.numpy().astype(np.int64) if boxes.id is not None else np.full(len(boxes), -1)
            returned.append((boxes.xyxy.numpy(), ids, boxes.conf.numpy()))
            if i + 1 >= FRAMES:
                break
    finally:
        BYTETracker.update = original  # type: ignore[method-assign]
    return seen, returned


@pytest.fixture(scope="module")
def ultralytics_tracks(
    ultralytics_run: tuple[list[tuple[Any, np.ndarray]], list[Boxes]],
) -> list[tuple[Any, np.ndarray]]:
    return ultralytics_run[0]


def test_ids_equal_ultralytics_model_track(ultralytics_tracks: list[tuple[Any, np.ndarray]]) -> None:
    tracker = SourceTracker("bytetrack", lost_s=1.0, tick_hz=30.0)
    compared = tracked = 0
    for frame, ((xyxy, conf, cls), rows) in enumerate(ultralytics_tracks):
        ids = tracker.update(frame / 30.0, xyxy, conf, cls.astype(np.int64))
        theirs = np.full(len(conf), -1, dtype=np.int64)
        if len(rows):
            theirs[rows[:, -1].astype(np.int64)] = rows[:, 4].astype(np.int64)
        np.testing.assert_array_equal(ids, theirs, err_msg=f"frame {frame}")
        compared += len(ids)
        tracked += int((ids >= 0).sum())
    assert len(ultralytics_tracks) == FRAMES
    assert compared > 10 * FRAMES and tracked > 5 * FRAMES  # a real test: many tracked instances


def test_the_pipeline_with_its_defaults_tracks_as_model_track_with_its(
    ultralytics_run: tuple[list[tuple[Any, np.ndarray]], list[Boxes]], engines_dir: Path
) -> None:
    """``streamseg run clip --model m.pt --track bytetrack`` against ``YOLO(m).track(clip)``, neither
    given conf nor imgsz: the same ids (one consistent mapping) on Ultralytics' tracked boxes, each
    matched to ours by box IoU and score; and what it shows, we show."""
    theirs = ultralytics_run[1]
    cfg = Config(
        sources=(SourceConfig(str(CLIP)),),
        model=ModelConfig(path=str(FIXTURE_PT), engines_dir=str(engines_dir)),
        track=TrackConfig(tracker="bytetrack"),
    )
    ours: list[Boxes] = []
    for result in Pipeline(config=cfg).results():
        ours.append((result.xyxy.copy(), result.track_id.copy(), result.score.copy()))
        if len(ours) >= FRAMES:
            break
    assert len(ours) == len(theirs) == FRAMES
    agree, total = _agreement(theirs, ours)
    assert total > 10 * FRAMES  # many tracked boxes, the low-scoring ones among them
    assert agree >= 0.99 * total, f"ids agree on {agree} of Ultralytics' {total} tracked boxes"
    # without a track id only what --conf's default 0.25 shows; with one, whatever the score (as theirs)
    assert all((score[ids < 0] > 0.25).all() for _, ids, score in ours)
    assert any((score[ids >= 0] <= 0.25).any() for _, ids, score in ours)


def _agreement(theirs: list[Boxes], ours: list[Boxes]) -> tuple[int, int]:
    """(Ultralytics' tracked boxes whose id maps to ours consistently, all its tracked boxes). A box is
    matched to the one of ours with the closest score among those overlapping it by IoU >= 0.5 (its boxes
    are its Kalman filter's, close to the detection; its score is the detection's)."""
    mapping: dict[int, int] = {}
    back: dict[int, int] = {}
    agree = total = 0
    for (t_xyxy, t_ids, t_score), (o_xyxy, o_ids, o_score) in zip(theirs, ours, strict=True):
        overlap = _iou(t_xyxy, o_xyxy)
        for i in np.flatnonzero(t_ids >= 0):
            total += 1
            candidates = np.flatnonzero(overlap[i] >= 0.5)
            if not len(candidates):
                continue
            j = candidates[np.argmin(np.abs(o_score[candidates] - t_score[i]))]
            a, b = int(t_ids[i]), int(o_ids[j])
            if b >= 0 and mapping.setdefault(a, b) == b and back.setdefault(b, a) == a:
                agree += 1
    return agree, total


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a, area_b = (a[:, 2:] - a[:, :2]).prod(1), (b[:, 2:] - b[:, :2]).prod(1)
    return np.asarray(inter / (area_a[:, None] + area_b[None] - inter + 1e-9))


def _box_at(x: float) -> np.ndarray:
    return np.array([[x, 100.0, x + 40.0, 200.0]], dtype=np.float32)


def _follow(tracker: SourceTracker, frames: list[int], speed: float, fps: float = 30.0) -> list[int]:
    one = np.array([0.9], dtype=np.float32)
    cls = np.zeros(1, dtype=np.int64)
    return [int(tracker.update(f / fps, _box_at(10 + speed * f), one, cls)[0]) for f in frames]


def test_a_moving_object_keeps_its_id_across_frames_left_out() -> None:
    """Every 4th frame processed (the latency ladder's stride): the filter predicts 4 steps per gap,
    so the object is looked for where it got to."""
    frames = list(range(0, 8)) + list(range(8, 80, 4))
    ids = _follow(SourceTracker(lost_s=1.0, tick_hz=30.0), frames, speed=12.0)
    assert ids[1] > 0 and set(ids[1:]) == {ids[1]}


def test_the_buffer_is_in_seconds_not_frames() -> None:
    """Gone 1.5 s at stride 4 (11 processed frames, fewer than 30): with a 1 s buffer the track has
    ended and the object comes back under a new id; with 2 s it keeps its id."""
    seen = list(range(0, 10))
    back = list(range(10 + 45, 10 + 45 + 12, 4))
    for lost_s, same in ((1.0, False), (2.0, True)):
        tracker = SourceTracker(lost_s=lost_s, tick_hz=30.0)
        one = np.array([0.9], dtype=np.float32)
        cls = np.zeros(1, dtype=np.int64)
        first = [int(tracker.update(f / 30, _box_at(300), one, cls)[0]) for f in seen][-1]
        empty = np.zeros((0, 4), np.float32)
        for f in range(10, 55, 4):  # processed frames with nothing detected
            tracker.update(f / 30, empty, np.zeros(0, np.float32), np.zeros(0, np.int64))
        later = [int(tracker.update(f / 30, _box_at(300), one, cls)[0]) for f in back][-1]
        assert (later == first) is same, (lost_s, first, later)
        assert (first in tracker.live_ids()) is same or later == first


def test_mask_matching_needs_masks_and_tracks() -> None:
    tracker = SourceTracker(match="mask")
    crop = np.ones((100, 40), dtype=bool)
    for f in range(5):
        x = 10 + 5 * f
        masks = InstanceMasks((crop,), np.array([[x, 100]], np.int32), (720, 1280))
        ids = tracker.update(
            f / 30, _box_at(x), np.array([0.9], np.float32), np.zeros(1, np.int64), masks=masks
        )
    assert ids[0] > 0
    with pytest.raises(ValueError, match="masks"):
        tracker.update(1.0, _box_at(40), np.array([0.9], np.float32), np.zeros(1, np.int64))


def test_botsort_is_ultralytics_own_and_follows_time_too() -> None:
    frames = list(range(0, 8)) + list(range(8, 80, 4))
    ids = _follow(SourceTracker("botsort", lost_s=1.0, tick_hz=30.0), frames, speed=12.0)
    assert ids[1] > 0 and set(ids[1:]) == {ids[1]}


def test_each_coordinate_stays_coupled_only_with_its_velocity() -> None:
    """What lets the Kalman gain be a division (``bytetrack._kalman_update``): after predictions,
    updates, gaps and re-finds, the position block of every covariance is still exactly diagonal."""
    tracker = SourceTracker(lost_s=1.0, tick_hz=30.0)
    frames = list(range(0, 20)) + list(range(30, 60, 3))
    _follow(tracker, frames, speed=7.0)
    inner = tracker._bytetrack
    assert inner is not None and inner.tracked
    for track in (*inner.tracked, *inner.lost):
        block = track.covariance[:4, :4]
        assert (block == np.diag(np.diag(block))).all()
