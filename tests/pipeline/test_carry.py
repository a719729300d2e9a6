"""Frames the network did not see carry their source's latest result: tracked instances moved by their
tracks' velocities, untracked ones and still frames held, crops cut at the frame's edges."""

from __future__ import annotations

import numpy as np

from streamseg.pipeline.carry import Carrier
from streamseg.types import Frame, InstanceMasks, SegResult

H, W = 60, 100


def _frame(pts: float, inference: str = "inferred", hw: tuple[int, int] = (H, W)) -> Frame:
    frame = Frame("cam", int(pts * 10), pts, 0.0, np.zeros((*hw, 3), np.uint8))
    frame.inference = inference
    return frame


def _latest() -> SegResult:
    crops = (np.ones((10, 8), bool), np.ones((6, 6), bool))
    return SegResult(
        _frame(1.0),
        np.array([[80, 20, 88, 30], [10, 10, 16, 16]], np.float32),
        np.array([0, 2], np.int64),
        np.array([0.9, 0.8], np.float32),
        InstanceMasks(crops, np.array([[80, 20], [10, 10]], np.int32), (H, W)),
        ("person", "bicycle", "car"),
        track_id=np.array([4, -1], np.int64),
    )


def test_a_carried_frame_moves_tracked_instances_by_their_velocity() -> None:
    carrier = Carrier(lambda source: {4: (50.0, -20.0)})  # px per second
    carrier.remember(_latest())
    carried = carrier.carry(_frame(1.2, "carried"))
    assert carried.inference == "carried" and carried.frame.pts == 1.2
    np.testing.assert_array_equal(carried.xyxy[0], [90, 16, 98, 26])  # moved 10, -4
    np.testing.assert_array_equal(carried.xyxy[1], [10, 10, 16, 16])  # untracked: held
    np.testing.assert_array_equal(carried.masks.origins, [[90, 16], [10, 10]])
    assert carried.masks.crops[0].shape == (10, 8)
    assert carried.class_names == ("person", "bicycle", "car") and carried.track_id.tolist() == [4, -1]
    assert carried.events == ()


def test_a_crop_moved_past_the_edge_is_cut_there() -> None:
    carrier = Carrier(lambda source: {4: (100.0, 0.0)})
    carrier.remember(_latest())
    carried = carrier.carry(_frame(1.1, "carried"))  # 10 px right: 90..98 fits, 100 would not
    carried = carrier.carry(_frame(1.2, "carried"))  # 20 px: x 100..108, all past the right edge
    assert carried.masks.crops[0].shape[1] == 0
    assert carried.masks.dense().shape == (2, H, W)  # still a valid set of masks
    assert carried.xyxy[0][0] == W


def test_still_frames_hold_every_instance() -> None:
    carrier = Carrier(lambda source: {4: (50.0, -20.0)})
    carrier.remember(_latest())
    still = carrier.carry(_frame(3.0, "still"))
    np.testing.assert_array_equal(still.xyxy, _latest().xyxy)
    assert still.inference == "still"


def test_no_result_yet_or_a_new_frame_size_carries_nothing() -> None:
    carrier = Carrier()
    assert len(carrier.carry(_frame(0.1, "carried"))) == 0
    carrier.remember(_latest())
    assert len(carrier.carry(_frame(1.1, "carried", hw=(120, 200)))) == 0
    carrier.forget("cam")
    assert len(carrier.carry(_frame(1.2, "carried"))) == 0


def test_a_source_that_never_carries_is_not_remembered_and_its_masks_stay_where_they_are() -> None:
    """On a GPU a result's masks come down only when read: a source without a detect rate or motion
    never has them read for carrying."""
    latest = _latest()

    def fetch() -> tuple[np.ndarray, ...]:
        raise AssertionError("the masks were fetched")

    deferred = InstanceMasks.deferred(latest.masks.origins, (H, W), fetch)
    result = SegResult(latest.frame, latest.xyxy, latest.class_id, latest.score, deferred, latest.class_names)
    carrier = Carrier(carries=lambda source: False)
    carrier.remember(result)
    assert len(carrier.carry(_frame(1.1, "carried"))) == 0
