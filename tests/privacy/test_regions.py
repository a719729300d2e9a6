"""Regions: grown masks are exact square dilations clipped to the frame, areas are the zone's bitmap."""

from __future__ import annotations

import numpy as np
import pytest

from streamseg.privacy import Region, area_region, block_size, grown, grown_many, mask_regions
from streamseg.scene.geometry import rasterise, to_pixels
from streamseg.types import InstanceMasks

HW = (50, 60)  # (H, W)


def footprint(region: Region | None, frame_hw: tuple[int, int]) -> np.ndarray:
    """The region as a full-frame bitmap (empty for None); the region must lie inside the frame."""
    out = np.zeros(frame_hw, bool)
    if region is not None:
        x0, y0 = region.origin
        assert x0 >= 0 and y0 >= 0 and region.x1 <= frame_hw[1] and region.y1 <= frame_hw[0]
        out[y0 : region.y1, x0 : region.x1] = region.crop
    return out


def naive_grown(
    crop: np.ndarray, origin: tuple[int, int], grow: int, frame_hw: tuple[int, int]
) -> np.ndarray:
    """Every set pixel stamps a (2 * grow + 1) square, on a canvas wide enough for any origin, then cut."""
    pad = 2 * grow + 200
    canvas = np.zeros((frame_hw[0] + 2 * pad, frame_hw[1] + 2 * pad), bool)
    for y, x in zip(*np.nonzero(crop), strict=True):
        cy, cx = origin[1] + y + pad, origin[0] + x + pad
        canvas[cy - grow : cy + grow + 1, cx - grow : cx + grow + 1] = True
    return canvas[pad : pad + frame_hw[0], pad : pad + frame_hw[1]]


def dot() -> np.ndarray:
    return np.ones((1, 1), bool)


def test_one_pixel_grown_by_3_is_a_7x7_square() -> None:
    region = grown(dot(), (20, 15), 3, HW)
    assert region is not None
    assert region.origin == (17, 12) and region.crop.shape == (7, 7) and region.crop.all()
    want = np.zeros(HW, bool)
    want[12:19, 17:24] = True
    assert np.array_equal(footprint(region, HW), want)


@pytest.mark.parametrize(
    ("origin", "rows", "cols"),
    [
        ((0, 0), slice(0, 4), slice(0, 4)),
        ((59, 49), slice(46, 50), slice(56, 60)),
        ((1, 48), slice(45, 50), slice(0, 5)),
    ],
)
def test_grown_square_is_clipped_at_the_frame_edges(
    origin: tuple[int, int], rows: slice, cols: slice
) -> None:
    want = np.zeros(HW, bool)
    want[rows, cols] = True
    assert np.array_equal(footprint(grown(dot(), origin, 3, HW), HW), want)


def test_grow_zero_is_the_crop_itself() -> None:
    crop = np.random.default_rng(0).random((10, 12)) < 0.4
    region = grown(crop, (5, 7), 0, HW)
    assert region is not None and region.origin == (5, 7)
    assert np.array_equal(region.crop, crop)


def test_grow_zero_clips_a_crop_hanging_over_the_edge() -> None:
    crop = np.ones((10, 10), bool)
    region = grown(crop, (-4, 45), 0, HW)
    assert region is not None and region.origin == (0, 45) and region.crop.shape == (5, 6)


@pytest.mark.parametrize("grow", [0, 3])
@pytest.mark.parametrize("origin", [(-10, 5), (5, -10), (64, 5), (5, 54), (-30, -30)])
def test_wholly_outside_the_frame_is_none(origin: tuple[int, int], grow: int) -> None:
    assert grown(np.ones((5, 5), bool), origin, grow, HW) is None


def test_growing_can_reach_into_the_frame_from_outside() -> None:
    region = grown(np.ones((5, 5), bool), (-7, 10), 3, HW)
    assert region is not None and region.origin == (0, 7) and region.crop.shape == (11, 1)


def test_an_empty_crop_is_none() -> None:
    assert grown(np.zeros((8, 8), bool), (10, 10), 2, HW) is None
    assert grown(np.zeros((0, 8), bool), (10, 10), 2, HW) is None


def test_grown_matches_a_naive_dilation() -> None:
    rng = np.random.default_rng(1)
    for origin, grow in [((3, 4), 2), ((-3, 40), 4), ((50, -2), 1), ((20, 20), 7)]:
        crop = rng.random((13, 17)) < 0.05
        want = naive_grown(crop, origin, grow, HW)
        assert np.array_equal(footprint(grown(crop, origin, grow, HW), HW), want)


def test_negative_grow_is_an_error() -> None:
    with pytest.raises(ValueError, match="grow"):
        grown(dot(), (0, 0), -1, HW)


def test_grown_many_equals_grown_one_by_one() -> None:
    rng = np.random.default_rng(2)
    frame_hw = (720, 1280)
    crops, origins = [], []
    for i in range(45):  # wide enough for several shelves
        h, w = int(rng.integers(1, 300)), int(rng.integers(1, 220))
        crops.append(rng.random((h, w)) < (0.0 if i % 11 == 0 else 0.02))
        origins.append((int(rng.integers(-200, 1300)), int(rng.integers(-300, 730))))
    crops.append(np.zeros((0, 5), bool))
    origins.append((10, 10))
    for grow in (0, 4):
        batch = grown_many(crops, origins, grow, frame_hw)
        single = [grown(c, o, grow, frame_hw) for c, o in zip(crops, origins, strict=True)]
        assert len(batch) == len(single)
        for a, b in zip(batch, single, strict=True):
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert a.origin == b.origin and np.array_equal(a.crop, b.crop)


def test_mask_regions_grows_every_mask_and_drops_empty_ones() -> None:
    frame_hw = (40, 50)
    crops = (np.ones((3, 3), bool), np.zeros((4, 4), bool), np.eye(5, dtype=bool))
    masks = InstanceMasks(crops, np.array([[2, 2], [10, 10], [40, 30]], np.int32), frame_hw)
    regions = mask_regions(masks, grow=1)
    assert len(regions) == 2
    assert footprint(regions[0], frame_hw)[1:6, 1:6].all()
    assert np.array_equal(footprint(regions[1], frame_hw), naive_grown(crops[2], (40, 30), 1, frame_hw))
    only = mask_regions(masks, indices=[2])
    assert len(only) == 1 and only[0].origin == (40, 30)


def test_region_edges_and_shift() -> None:
    region = Region(np.ones((4, 6), bool), (10, 20))
    assert (region.x1, region.y1) == (16, 24)
    moved = region.shifted(5, -3, HW)
    assert moved is not None and moved.origin == (15, 17) and moved.crop.shape == (4, 6)
    clipped = region.shifted(47, 0, HW)
    assert clipped is not None and clipped.origin == (57, 20) and clipped.crop.shape == (4, 3)
    assert region.shifted(100, 0, HW) is None


def test_region_needs_a_2d_bool_crop() -> None:
    with pytest.raises(ValueError, match="bool"):
        Region(np.ones((4, 4), np.uint8), (0, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2-D"):
        Region(np.ones((4, 4, 1), bool), (0, 0))


def test_area_region_is_the_zone_bitmap_as_a_crop() -> None:
    frame_wh = (64, 48)
    polygon = to_pixels(((0.1, 0.2), (0.7, 0.1), (0.9, 0.8), (0.3, 0.95)), True, frame_wh, "test")
    region = area_region(polygon, (frame_wh[1], frame_wh[0]))
    assert region is not None
    want = rasterise(polygon, frame_wh)
    assert np.array_equal(footprint(region, (48, 64)), want)
    assert (
        region.crop[0].any()
        and region.crop[-1].any()
        and region.crop[:, 0].any()
        and region.crop[:, -1].any()
    )


def test_area_region_partly_outside_is_clipped() -> None:
    polygon = np.array([[-20, -10], [40, -5], [90, 70], [10, 60]], np.float32)
    region = area_region(polygon, (48, 64))
    assert region is not None
    assert np.array_equal(footprint(region, (48, 64)), rasterise(polygon, (64, 48)))


def test_area_region_wholly_outside_or_degenerate_is_none() -> None:
    assert area_region(np.array([[100, 100], [120, 100], [110, 130]], np.float32), (48, 64)) is None
    assert area_region(np.array([[1, 1], [20, 20]], np.float32), (48, 64)) is None


def test_area_region_rejects_malformed_polygons() -> None:
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        area_region(np.zeros((4, 3), np.float32), (48, 64))
    with pytest.raises(ValueError, match="non-finite"):
        area_region(np.array([[0, 0], [np.inf, 0], [5, 5]], np.float32), (48, 64))


def test_block_size_follows_the_frame() -> None:
    assert block_size((720, 1280)) == 22
    assert block_size((1080, 1920)) == 33
    assert block_size((5, 7)) == 8
