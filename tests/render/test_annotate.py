"""Drawing behaviour: what changes, what must not, and the flags that switch parts off."""

from __future__ import annotations

import numpy as np
import pytest

from streamseg.config import RenderConfig
from streamseg.gpu.palette import DEFAULT_PALETTE, Palette
from streamseg.render import BoxAnnotator, FrameAnnotator, HudAnnotator, LabelAnnotator, MaskAnnotator
from streamseg.render.hud import hud_lines
from tests.render.conftest import Instance, MakeResult, build_result, ellipse_crop

ONLY_MASKS = RenderConfig(masks=True, boxes=False, labels=False, hud=False)
NOTHING = RenderConfig(masks=False, boxes=False, labels=False, hud=False)


def person(x0: int, y0: int, w: int, h: int, *, class_id: int = 0, score: float = 0.9) -> Instance:
    return ((x0, y0, x0 + w, y0 + h), class_id, score, ellipse_crop(h, w), (x0, y0))


def expected_blend(base: np.ndarray, color: tuple[int, int, int], alpha: float) -> np.ndarray:
    return np.rint(alpha * np.array(color, float) + (1 - alpha) * base.astype(float))


def test_mask_pixels_move_to_class_colour_and_nothing_else_changes(gray_frame: np.ndarray) -> None:
    original = gray_frame.copy()
    inst = person(200, 100, 120, 260, class_id=2)
    result = build_result(gray_frame, [inst])
    out = FrameAnnotator(ONLY_MASKS).annotate(result, 30.0, 12.0)

    assert out is gray_frame  # in place by default
    full = result.masks.full(0)
    color = DEFAULT_PALETTE.color(2)
    want = expected_blend(original[full], color, 0.45)
    assert np.abs(out[full].astype(int) - want).max() <= 1
    before = np.abs(original[full].astype(int) - color).sum(axis=1)
    after = np.abs(out[full].astype(int) - color).sum(axis=1)
    assert (after < before).all()
    assert np.array_equal(out[~full], original[~full])  # bit-exact outside the mask


def test_everything_outside_masks_boxes_labels_and_hud_is_untouched(make_result: MakeResult) -> None:
    image = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    original = image.copy()
    result = make_result(image, [person(300, 200, 100, 200), person(450, 150, 80, 220, class_id=1)])
    FrameAnnotator(RenderConfig()).annotate(result, 25.0, 40.0)
    changed = np.any(image != original, axis=2)
    allowed = np.zeros_like(changed)
    allowed[0:140, 0:260] = True  # HUD panel
    for x0, y0, x1, y1 in result.xyxy.astype(int):
        # the box, its outline and the tag above it
        allowed[max(0, y0 - 30) : y1 + 3, max(0, x0 - 3) : x1 + 3] = True
    assert changed.any()
    assert not (changed & ~allowed).any()


def test_label_region_changes_and_is_filled_with_class_colour(gray_frame: np.ndarray) -> None:
    original = gray_frame.copy()
    result = build_result(gray_frame, [person(200, 150, 120, 200, class_id=3, score=0.87)])
    LabelAnnotator().annotate(gray_frame, result)
    tag = gray_frame[120:150, 200:300]
    assert np.any(tag != original[120:150, 200:300])
    color = np.array(DEFAULT_PALETTE.color(3))
    assert np.all(gray_frame[148, 200] == color)  # the tag's background just above the box corner
    assert np.array_equal(gray_frame[160:, :], original[160:, :])  # nothing drawn below the tag


def test_label_moves_inside_box_at_top_edge_and_stays_on_frame(gray_frame: np.ndarray) -> None:
    original = gray_frame.copy()
    result = build_result(gray_frame, [person(600, 0, 39, 100)])  # top edge, nearly off the right side
    LabelAnnotator().annotate(gray_frame, result)
    assert np.any(gray_frame[0:25, 540:640] != original[0:25, 540:640])


def test_boxes_are_outlined_in_class_colour(gray_frame: np.ndarray) -> None:
    result = build_result(gray_frame, [person(100, 100, 50, 80, class_id=1)])
    BoxAnnotator(thickness=2).annotate(gray_frame, result)
    color = np.array(DEFAULT_PALETTE.color(1))
    assert np.all(gray_frame[100, 120] == color)  # top edge
    assert np.all(gray_frame[140, 150] == color)  # right edge
    assert np.all(gray_frame[140, 125] == 100)  # interior untouched


@pytest.mark.parametrize(
    ("config", "mask_on", "box_on", "label_on", "hud_on"),
    [
        (RenderConfig(), True, True, True, True),
        (RenderConfig(masks=False), False, True, True, True),
        (RenderConfig(boxes=False), True, False, True, True),
        (RenderConfig(labels=False), True, True, False, True),
        (RenderConfig(hud=False), True, True, True, False),
        (NOTHING, False, False, False, False),
    ],
)
def test_flags_turn_parts_off(
    config: RenderConfig, mask_on: bool, box_on: bool, label_on: bool, hud_on: bool
) -> None:
    image = np.full((480, 640, 3), 100, np.uint8)
    original = image.copy()
    result = build_result(image, [person(300, 250, 120, 200)])
    FrameAnnotator(config).annotate(result, 30.0, 10.0)
    diff = np.any(image != original, axis=2)
    assert diff[350, 360] == mask_on  # mask centre
    assert diff[300, 300] == box_on  # left box edge, outside the ellipse
    assert diff[240, 304:330].any() == label_on  # tag above the box
    assert diff[20:60, 20:80].any() == hud_on
    if not any((mask_on, box_on, label_on, hud_on)):
        assert not diff.any()


def test_zero_instances(gray_frame: np.ndarray) -> None:
    original = gray_frame.copy()
    result = build_result(gray_frame, [])
    out = FrameAnnotator(RenderConfig(hud=False)).annotate(result, None, None)
    assert np.array_equal(out, original)
    out = FrameAnnotator(RenderConfig()).annotate(result, None, None)
    changed = np.any(out != original, axis=2)
    assert changed[:140, :260].any() and not changed[140:, :].any() and not changed[:, 260:].any()


def test_overlapping_crops_later_instance_wins_and_is_blended_once(gray_frame: np.ndarray) -> None:
    original = gray_frame.copy()
    first = ((100, 100, 200, 200), 0, 0.9, np.ones((100, 100), bool), (100, 100))
    second = ((150, 150, 250, 250), 1, 0.8, np.ones((100, 100), bool), (150, 150))
    result = build_result(gray_frame, [first, second])
    MaskAnnotator(alpha=0.5).annotate(gray_frame, result)
    c0, c1 = DEFAULT_PALETTE.color(0), DEFAULT_PALETTE.color(1)
    base = original[0, 0]
    assert np.abs(gray_frame[120, 120].astype(int) - expected_blend(base, c0, 0.5)).max() <= 1
    assert np.abs(gray_frame[175, 175].astype(int) - expected_blend(base, c1, 0.5)).max() <= 1  # overlap
    assert np.abs(gray_frame[225, 225].astype(int) - expected_blend(base, c1, 0.5)).max() <= 1
    assert np.array_equal(gray_frame[120, 230], original[120, 230])  # in neither mask: the union's corner


def test_crops_at_and_past_frame_edges(gray_frame: np.ndarray) -> None:
    h, w = gray_frame.shape[:2]
    original = gray_frame.copy()
    instances = [
        ((w - 40, h - 30, w, h), 0, 0.9, np.ones((30, 40), bool), (w - 40, h - 30)),  # flush with the corner
        ((-20, -10, 30, 40), 1, 0.8, np.ones((50, 50), bool), (-20, -10)),  # hangs off the top-left
        ((620, 200, 700, 260), 2, 0.7, np.ones((60, 80), bool), (620, 200)),  # hangs off the right
        ((700, 700, 720, 720), 3, 0.6, np.ones((20, 20), bool), (700, 700)),  # entirely outside
    ]
    result = build_result(gray_frame, instances)
    FrameAnnotator(RenderConfig(hud=False)).annotate(result, 30.0, 5.0)
    diff = np.any(gray_frame != original, axis=2)
    assert diff[h - 1, w - 1] and diff[0, 0] and diff[230, w - 1]
    assert not diff[100:180, 100:500].any()


def test_more_than_255_instances(gray_frame: np.ndarray) -> None:
    instances = [
        ((x, y, x + 8, y + 8), i % 5, 0.5, np.ones((8, 8), bool), (x, y))
        for i, (x, y) in enumerate((x, y) for y in range(0, 480, 20) for x in range(0, 640, 40))
    ]
    assert len(instances) > 255
    result = build_result(gray_frame, instances)
    MaskAnnotator().annotate(gray_frame, result)
    x, y = instances[-1][4]
    assert not np.array_equal(gray_frame[y + 4, x + 4], [100, 100, 100])


def test_copy_mode_and_read_only_frames(gray_frame: np.ndarray) -> None:
    original = gray_frame.copy()
    result = build_result(gray_frame, [person(100, 100, 80, 120)])
    out = FrameAnnotator(RenderConfig(), copy=True).annotate(result, 30.0, 9.0)
    assert out is not gray_frame
    assert np.array_equal(gray_frame, original) and not np.array_equal(out, original)

    gray_frame.flags.writeable = False
    out = FrameAnnotator(RenderConfig()).annotate(result, 30.0, 9.0)
    assert out is not gray_frame and not np.array_equal(out, original)
    with pytest.raises(ValueError, match="read-only"):
        MaskAnnotator().annotate(gray_frame, result)


def test_non_bool_crops_are_treated_as_masks(gray_frame: np.ndarray) -> None:
    crop = np.zeros((20, 20), np.uint8)
    crop[5:15, 5:15] = 255
    result = build_result(gray_frame, [((10, 10, 30, 30), 0, 0.9, crop, (10, 10))])
    MaskAnnotator().annotate(gray_frame, result)
    assert np.all(gray_frame[12, 12] == 100) and not np.all(gray_frame[20, 20] == 100)


def test_hud_shows_values_and_unknowns() -> None:
    assert hud_lines("cam0", 29.97, 41.6, 3) == ["cam0", "FPS 30.0", "latency 42 ms", "instances 3"]
    assert hud_lines("", None, None, 0) == ["-", "FPS -", "latency - ms", "instances 0"]
    tiny = np.zeros((6, 6, 3), np.uint8)
    HudAnnotator().annotate(tiny, "x", float("nan"), None, 0)  # smaller than the margin: no error


def test_hud_panel_is_semi_transparent() -> None:
    image = np.full((240, 320, 3), 200, np.uint8)
    HudAnnotator(opacity=0.5).annotate(image, "cam0", 30.0, 20.0, 1)
    panel_bg = image[10, 10]
    assert np.all(panel_bg == 100)  # darkened, not painted over: the scene still shows through


def test_real_720p_frame_with_16_people(real_frames: list[tuple[np.ndarray, float]]) -> None:
    image = real_frames[0][0].copy()
    original = image.copy()
    rng = np.random.default_rng(3)
    instances = []
    for i in range(16):
        w, h = int(rng.integers(90, 200)), int(rng.integers(220, 460))
        x0, y0 = int(rng.integers(0, 1280 - w)), int(rng.integers(0, 720 - h))
        instances.append(person(x0, y0, w, h, class_id=i % 3))
    result = build_result(image, instances, source="office")
    out = FrameAnnotator(RenderConfig()).annotate(result, 29.5, 35.0)
    assert out.shape == (720, 1280, 3) and out.dtype == np.uint8
    union = np.zeros((720, 1280), bool)
    for i in range(len(result)):
        union |= result.masks.full(i)
    assert np.mean(np.any(out != original, axis=2)[union]) > 0.95


def test_palette_is_deterministic_and_distinct() -> None:
    p = Palette()
    assert [p.color(i) for i in range(20)] == [Palette().color(i) for i in range(20)]
    assert len({p.color(i) for i in range(80)}) == 80  # every COCO class its own colour
    assert np.array_equal(p.colors([0, 5, 300]), np.array([p.color(0), p.color(5), p.color(300)], np.uint8))
    assert Palette(((1, 2, 3),)).color(7) == (1, 2, 3)
    with pytest.raises(ValueError):
        Palette(())
