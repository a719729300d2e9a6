"""What a tracked run shows with ``conf`` unset (the network at 0.1, as Ultralytics' track): what the
tracker keeps whatever its score, and otherwise only what the shown threshold (0.25) lets through."""

from __future__ import annotations

import time

import numpy as np

from streamseg.config import Config, ModelConfig, SourceConfig, TrackConfig
from streamseg.config.confidence import PREDICT_CONF, TRACK_CONF, network_conf, shown_conf, tracks_any
from streamseg.inference.yolo.device.batch import BatchInstances, tracked
from streamseg.pipeline.scene_step import SceneStep
from streamseg.scene import SceneWatcher
from streamseg.scene.tracking import SourceTracker
from streamseg.scene.visible import HIDDEN, select_instances, shown
from streamseg.types import Frame, InstanceMasks, SegResult

W, H = 640, 480
BOXES = [(10, 10, 50, 90), (200, 10, 240, 90), (400, 10, 440, 90)]


def _result(index: int, scores: list[float], source: str = "cam", deferred: bool = False) -> SegResult:
    frame = Frame(source, index, index / 30, time.monotonic(), np.zeros((H, W, 3), np.uint8))
    crops = tuple(
        np.full((y1 - y0, x1 - x0), i + 1, dtype=np.uint8) > 0 for i, (x0, y0, x1, y1) in enumerate(BOXES)
    )
    origins = np.array([[b[0], b[1]] for b in BOXES], np.int32)
    masks = (
        InstanceMasks.deferred(origins, (H, W), lambda: crops)
        if deferred
        else InstanceMasks(crops, origins, (H, W))
    )
    n = len(BOXES)
    return SegResult(
        frame,
        np.array(BOXES, np.float32),
        np.zeros(n, np.int64),
        np.array(scores, np.float32),
        masks,
        ["person"],
    )


def test_unset_conf_is_ultralytics_predict_and_track_defaults() -> None:
    plain = Config(sources=(SourceConfig("a.mp4"),))
    assert (shown_conf(plain.model), network_conf(plain), tracks_any(plain)) == (0.25, 0.25, False)
    run_tracked = Config(sources=(SourceConfig("a.mp4"),), track=TrackConfig(tracker="bytetrack"))
    assert (network_conf(run_tracked), shown_conf(run_tracked.model)) == (TRACK_CONF, PREDICT_CONF)
    one = Config(sources=(SourceConfig("a.mp4"), SourceConfig("b.mp4", track="botsort")))
    assert network_conf(one) == 0.1  # one tracked source lowers the shared network's threshold
    given = Config(
        sources=(SourceConfig("a.mp4"),), model=ModelConfig(conf=0.4), track=TrackConfig("bytetrack")
    )
    assert (network_conf(given), shown_conf(given.model)) == (0.4, 0.4)  # a conf given is used for both


def test_a_tracked_source_shows_what_its_tracker_keeps_and_the_rest_above_conf() -> None:
    watcher = SceneWatcher("cam", tracker=SourceTracker(lost_s=1.0), frame_wh=(W, H), min_score=0.25)
    watcher.observe(_result(0, [0.9, 0.9, 0.2]))  # the first frame: tracks start (the 0.2 one does not)
    shown_result, ids, _ = watcher.observe(_result(1, [0.9, 0.15, 0.2]))
    # 0: tracked; 1: tracked on by ByteTrack's second association at 0.15; 2: never tracked, under 0.25
    assert len(shown_result) == 2 and (ids >= 0).all()
    np.testing.assert_array_equal(shown_result.score, np.array([0.9, 0.15], np.float32))
    assert shown_result.masks.full(1)[50, 220] and not shown_result.masks.full(1)[50, 30]


def test_an_untracked_source_of_a_tracked_run_shows_only_what_conf_does() -> None:
    cfg = Config(
        sources=(SourceConfig("a.mp4", name="a"), SourceConfig("b.mp4", name="b", track="off")),
        track=TrackConfig(tracker="bytetrack"),
    )
    step = SceneStep(cfg)  # b has no watcher: filtered all the same
    out = step(_result(0, [0.9, 0.25, 0.26], source="b", deferred=True))
    np.testing.assert_array_equal(out.score, np.array([0.9, 0.26], np.float32))
    assert not out.masks.on_host and out.masks.full(1)[50, 420]  # device masks stay there until read
    assert SceneStep(Config(sources=cfg.sources))(r := _result(0, [0.9, 0.1, 0.2], source="b")) is r


def test_select_and_shown_keep_order_and_tracked_ones() -> None:
    keep = shown(np.array([0.3, 0.1, 0.1], np.float32), np.array([-1, 4, -1]), 0.25)
    assert keep.tolist() == [True, True, False]
    result = _result(0, [0.3, 0.1, 0.1])
    assert select_instances(result, np.ones(3, bool)) is result
    picked = select_instances(result, keep)
    assert picked.xyxy.tolist() == result.xyxy[:2].tolist() and len(picked.masks) == 2


def test_the_device_path_drops_hidden_instances_before_masks() -> None:
    """``HIDDEN`` ids (never shown) leave the batch before its masks and drawing; the ranks close up,
    as the layout's per-frame slots count them."""

    class Overlay:
        def tracks(self, frames: object, frame: np.ndarray, *rest: object) -> np.ndarray:
            return np.array([3, HIDDEN, -1, HIDDEN, 5])

    inst = BatchInstances(
        frame=np.array([0, 0, 0, 1, 1]),
        rank=np.array([0, 1, 2, 0, 1]),
        anchor=np.arange(5),
        xyxy=np.zeros((5, 4), np.float32),
        score=np.array([0.9, 0.1, 0.5, 0.2, 0.15], np.float32),
        class_id=np.zeros(5, np.int64),
    )
    out = tracked(inst, [], Overlay())  # type: ignore[arg-type]
    assert out.frame.tolist() == [0, 0, 1] and out.rank.tolist() == [0, 1, 0]
    assert (
        out.anchor.tolist() == [0, 2, 4] and out.track_id is not None and out.track_id.tolist() == [3, -1, 5]
    )
