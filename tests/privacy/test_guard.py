"""The fail-closed rules of one source's privacy: objects hidden by their masks, a missed object hidden
where it is predicted, frames without inference hidden with the latest masks, whole frames past
``max_gap``."""

from __future__ import annotations

import numpy as np

from streamseg.config.privacy import PrivacyArea, PrivacyConfig
from streamseg.privacy.guard import Hiding, SourceGuard
from streamseg.scene.geometry import rasterise
from streamseg.types import BoolArray, Frame, InstanceMasks, SegResult

H, W = 120, 200
NAMES = ("person", "car")
SIDE = 20


def _square(x0: int, y0: int) -> BoolArray:
    mask = np.zeros((H, W), dtype=bool)
    mask[max(0, y0) : y0 + SIDE, max(0, x0) : x0 + SIDE] = True
    return mask


def _result(
    index: int,
    objects: list[tuple[int, int, int, int]],
    *,
    fps: float = 10.0,
    inference: str = "inferred",
) -> SegResult:
    """``objects``: (x0, y0, class id, track id) of SIDE x SIDE squares in frame ``index``."""
    frame = Frame("cam", index, index / fps, 0.0, np.zeros((H, W, 3), np.uint8))
    crops = tuple(np.ones((SIDE, SIDE), dtype=bool) for _ in objects)
    origins = np.array([[x, y] for x, y, _, _ in objects], dtype=np.int32).reshape(-1, 2)
    return SegResult(
        frame,
        np.array([[x, y, x + SIDE, y + SIDE] for x, y, _, _ in objects], np.float32).reshape(-1, 4),
        np.array([c for _, _, c, _ in objects], np.int64),
        np.full(len(objects), 0.9, np.float32),
        InstanceMasks(crops, origins, (H, W)),
        NAMES,
        track_id=np.array([t for _, _, _, t in objects], np.int64),
        inference=inference,
    )


def _covered(hiding: Hiding) -> BoolArray:
    out = np.zeros((H, W), dtype=bool)
    for r in hiding.regions:
        x0, y0 = r.origin
        out[y0 : y0 + r.crop.shape[0], x0 : x0 + r.crop.shape[1]] |= r.crop
    return out


def _guard(max_gap: float = 1.0) -> SourceGuard:
    return SourceGuard(PrivacyConfig(objects=("person",), grow=2, max_gap=max_gap))


def test_instances_of_hidden_classes_are_hidden_by_their_grown_masks() -> None:
    guard = _guard()
    hiding = guard.plan(_result(0, [(30, 40, 0, -1), (120, 40, 1, -1)]))
    assert hiding.hidden.tolist() == [True, False]
    assert not hiding.full_frame and hiding.ghosts == 0
    covered = _covered(hiding)
    grown = np.zeros((H, W), bool)
    grown[38 : 40 + SIDE + 2, 28 : 30 + SIDE + 2] = True
    assert np.array_equal(covered, grown)  # the person grown by 2 px; the car left alone
    assert guard.counts.hidden_objects == 1


def test_a_tracked_object_missed_for_three_frames_stays_hidden_where_it_is_predicted() -> None:
    guard = _guard()
    step = 6  # px per frame, to the right
    for i in range(4):
        guard.plan(_result(i, [(20 + step * i, 50, 0, 7)]))
    for i in range(4, 7):  # the model misses it
        hiding = guard.plan(_result(i, []))
        truth = _square(20 + step * i, 50)
        assert hiding.ghosts == 1
        assert (_covered(hiding) & truth).sum() == truth.sum(), f"frame {i}: part of the object shows"
    seen_again = guard.plan(_result(7, [(20 + step * 7, 50, 0, 7)]))
    assert seen_again.ghosts == 0  # found again: its ghost is gone
    assert guard.counts.ghosts == 3


def test_an_untracked_object_missed_moves_on_with_the_motion_of_its_overlapping_sightings() -> None:
    guard = _guard()
    step = 6
    for i in range(4):
        guard.plan(_result(i, [(20 + step * i, 50, 0, -1)]))
    for i in range(4, 7):
        truth = _square(20 + step * i, 50)
        assert (_covered(guard.plan(_result(i, []))) & truth).sum() == truth.sum(), f"frame {i}"


def test_an_untracked_object_missed_stays_hidden_where_it_was_until_max_gap() -> None:
    guard = _guard(max_gap=0.5)
    guard.plan(_result(0, [(60, 30, 0, -1)]))
    truth = _square(60, 30)
    for i in (1, 2, 3, 4, 5):  # 0.1 .. 0.5 s
        hiding = guard.plan(_result(i, []))
        assert (_covered(hiding) & truth).sum() == truth.sum()
    assert guard.plan(_result(6, [])).ghosts == 0  # 0.6 s: taken to have left


def test_an_untracked_object_seen_again_leaves_no_ghost() -> None:
    guard = _guard()
    for i in range(5):
        hiding = guard.plan(_result(i, [(60 + i, 30, 0, -1)]))
        assert hiding.ghosts == 0


def test_frames_without_inference_are_hidden_with_the_latest_masks_moved() -> None:
    guard = _guard()
    guard.plan(_result(0, [(20, 50, 0, 3)]))
    guard.plan(_result(1, [(30, 50, 0, 3)]))  # 100 px/s to the right
    for i in (2, 3, 4):
        hiding = guard.plan(_result(i, [], inference="carried"))
        truth = _square(30 + 10 * (i - 1), 50)
        assert not hiding.full_frame
        assert (_covered(hiding) & truth).sum() == truth.sum()
    assert guard.counts.carried_frames == 3


def test_whole_frames_are_hidden_past_max_gap_and_before_any_inference() -> None:
    guard = _guard(max_gap=0.25)
    assert guard.plan(_result(0, [], inference="carried")).full_frame  # nothing inferred yet
    guard.plan(_result(1, [(20, 50, 0, 3)]))
    assert not guard.plan(_result(3, [], inference="carried")).full_frame  # 0.2 s
    assert guard.plan(_result(4, [], inference="carried")).full_frame  # 0.3 s
    assert not guard.plan(_result(5, [])).full_frame  # inference is back
    assert guard.plan(_result(2, [], inference="still")).full_frame  # time went back: a gap
    assert guard.counts.full_frames == 3


def test_areas_are_hidden_in_every_frame_fractions_or_pixels() -> None:
    fractions = PrivacyArea(((0.0, 0.5), (0.25, 0.5), (0.25, 1.0), (0.0, 1.0)))
    pixels = PrivacyArea(((150.0, 0.0), (400.0, 0.0), (400.0, 30.0), (150.0, 30.0)))  # past the right edge
    guard = SourceGuard(PrivacyConfig(areas=(fractions, pixels)))
    for i, inference in enumerate(("inferred", "carried", "inferred")):
        covered = _covered(guard.plan(_result(i, [(100, 60, 0, -1)], inference=inference)))
        expected = rasterise(np.array([[0, 60], [50, 60], [50, 120], [0, 120]], np.float32), (W, H))
        expected[0:30, 150:W] = True
        assert np.array_equal(covered, expected)  # no objects configured: the person is not hidden


def test_still_frames_keep_the_latest_masks_held_past_max_gap() -> None:
    """No motion and no live track: nothing moved, so the person is where they were, however long."""
    guard = _guard(max_gap=0.25)
    guard.plan(_result(0, [(20, 50, 0, 3)]))
    guard.plan(_result(1, [(30, 50, 0, 3)]))  # moving when last inferred
    truth = _square(30, 50)
    for i in (2, 5, 40):
        hiding = guard.plan(_result(i, [], inference="still"))
        assert not hiding.full_frame
        assert (_covered(hiding) & truth).sum() == truth.sum()
    assert guard.counts.full_frames == 0
