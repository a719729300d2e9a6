"""Hiding: inside the regions each style equals a naive whole-frame reference, outside nothing changes,
and the input is never written."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamseg.privacy import FILL_BGR, STYLES, Hider, Region, block_size, grown

SIZES = [(361, 641), (1, 1), (5, 7), (23, 9), (100, 130)]  # (H, W)


# ------------------------------------------------------------------------------ naive references
def naive_means(image: np.ndarray, block: int) -> np.ndarray:
    """Per-block, per-channel means over each block's real pixels, rounded half up, one block at a time."""
    height, width = image.shape[:2]
    grid = np.zeros((-(-height // block), -(-width // block), 3), np.uint8)
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            pixels = image[r * block : (r + 1) * block, c * block : (c + 1) * block].reshape(-1, 3)
            total, n = pixels.astype(np.int64).sum(axis=0), len(pixels)
            grid[r, c] = (2 * total + n) // (2 * n)
    return grid


def naive_pixelate(image: np.ndarray) -> np.ndarray:
    block = block_size(image.shape[:2])
    grid = naive_means(image, block)
    return np.repeat(np.repeat(grid, block, axis=0), block, axis=1)[: image.shape[0], : image.shape[1]]


def _weights(n_out: int, n_src: int, block: int) -> tuple[np.ndarray, ...]:
    """Source index i, i + 1 and weights (256 - c, c) of the bilinear sample at (x + 0.5) / B - 0.5:
    with t = 2x + 1 - B, i = floor(t / 2B) and f = (t - 2B i) / 2B exactly; c = round(256 f)."""
    t = 2 * np.arange(n_out) + 1 - block
    i = np.floor_divide(t, 2 * block)
    c = (256 * (t - 2 * block * i) + block) // (2 * block)
    low, high = i < 0, i >= n_src - 1
    i[low], c[low] = 0, 0
    i[high], c[high] = n_src - 1, 0
    return i, np.minimum(i + 1, n_src - 1), 256 - c, c


def naive_blur(image: np.ndarray) -> np.ndarray:
    """The bilinear upscale of the block means, in integers over the whole frame."""
    height, width = image.shape[:2]
    block = block_size((height, width))
    grid = naive_means(image, block).astype(np.int64)
    rows, cols = grid.shape[:2]
    y0, y1, wy0, wy1 = _weights(height, rows, block)
    x0, x1, wx0, wx1 = _weights(width, cols, block)
    across = grid[:, x0] * wx0[None, :, None] + grid[:, x1] * wx1[None, :, None]
    total = across[y0] * wy0[:, None, None] + across[y1] * wy1[:, None, None]
    return ((total + 2**15) >> 16).astype(np.uint8)


def naive_effect(style: str, image: np.ndarray) -> np.ndarray:
    if style == "pixelate":
        return naive_pixelate(image)
    if style == "blur":
        return naive_blur(image)
    return np.broadcast_to(np.array(FILL_BGR, np.uint8), image.shape)


# ------------------------------------------------------------------------------------ helpers
def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def ellipse(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (max(w // 2 - 1, 0), max(h // 2 - 1, 0)), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def footprint(regions: list[Region], frame_hw: tuple[int, int]) -> np.ndarray:
    """Union of the regions' pixels on the frame (regions may hang over the edges)."""
    height, width = frame_hw
    out = np.zeros(frame_hw, bool)
    for region in regions:
        for y, x in zip(*np.nonzero(region.crop), strict=True):
            fy, fx = region.origin[1] + y, region.origin[0] + x
            if 0 <= fy < height and 0 <= fx < width:
                out[fy, fx] = True
    return out


def people(frame_hw: tuple[int, int]) -> list[Region]:
    """Overlapping ellipses, one over the left edge and one over the bottom-right corner."""
    height, width = frame_hw
    return [
        Region(ellipse(120, 60), (100, 80)),
        Region(ellipse(150, 90), (130, 120)),
        Region(ellipse(90, 50), (-20, 200)),
        Region(ellipse(80, 80), (width - 40, height - 30)),
        Region(np.eye(40, dtype=bool), (400, 10)),
    ]


# -------------------------------------------------------------------------------------- tests
def test_the_blur_reference_is_opencvs_bit_exact_bilinear() -> None:
    image = noise(361, 641)
    block = block_size(image.shape[:2])
    grid = naive_means(image, block)
    size = (grid.shape[1] * block, grid.shape[0] * block)
    exact = cv2.resize(grid, size, interpolation=cv2.INTER_LINEAR_EXACT)[:361, :641]
    assert np.array_equal(naive_blur(image), exact)
    linear = cv2.resize(grid, size, interpolation=cv2.INTER_LINEAR)[:361, :641]  # the brief's wording
    assert np.abs(linear.astype(int) - exact).max() <= 1


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("frame_hw", [(361, 641), (720, 1280)])  # B = 11 and 22
def test_inside_equals_the_whole_frame_reference_and_outside_is_untouched(
    style: str, frame_hw: tuple[int, int]
) -> None:
    image = noise(*frame_hw)
    original = image.copy()
    regions = people(image.shape[:2])
    out = Hider(style).hide(image, regions)
    inside = footprint(regions, image.shape[:2])
    assert out is not image and out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[inside], naive_effect(style, image)[inside])
    assert np.array_equal(out[~inside], image[~inside])
    assert np.array_equal(image, original)
    assert (out[inside] != image[inside]).any()


@pytest.mark.parametrize("style", STYLES)
def test_a_read_only_input_is_fine(style: str) -> None:
    image = noise(100, 130)
    image.setflags(write=False)
    out = Hider(style).hide(image, [Region(ellipse(60, 40), (30, 20))])
    assert out.flags.writeable and out.base is not image


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("frame_hw", SIZES)
def test_odd_frame_sizes(style: str, frame_hw: tuple[int, int]) -> None:
    height, width = frame_hw
    image = noise(height, width, seed=height * width)
    crop = np.random.default_rng(3).random((height + 4, width + 4)) < 0.5
    regions = [Region(crop, (-2, -2))]
    out = Hider(style).hide(image, regions)
    inside = footprint(regions, frame_hw)
    assert np.array_equal(out[inside], naive_effect(style, image)[inside])
    assert np.array_equal(out[~inside], image[~inside])


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("frame_hw", SIZES)
def test_hide_all_equals_one_region_over_the_whole_frame(style: str, frame_hw: tuple[int, int]) -> None:
    image = noise(*frame_hw)
    hider = Hider(style)
    everything = [Region(np.ones(frame_hw, bool), (0, 0))]
    whole = hider.hide_all(image)
    assert np.array_equal(whole, hider.hide(image, everything))
    assert np.array_equal(whole, naive_effect(style, image))
    assert whole.flags.c_contiguous and whole.shape == image.shape


@pytest.mark.parametrize("style", STYLES)
def test_no_regions_gives_an_equal_copy(style: str) -> None:
    image = noise(50, 70)
    for regions in ([], [Region(np.ones((5, 5), bool), (200, 200))]):
        out = Hider(style).hide(image, regions)
        assert out is not image and np.array_equal(out, image)


@pytest.mark.parametrize("style", STYLES)
def test_a_region_looks_the_same_whatever_else_is_hidden(style: str) -> None:
    image = noise(361, 641)
    alone = Region(ellipse(100, 70), (300, 150))
    crowd = [alone, *people(image.shape[:2])]
    inside = footprint([alone], image.shape[:2])
    hider = Hider(style)
    assert np.array_equal(hider.hide(image, [alone])[inside], hider.hide(image, crowd)[inside])


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("grow", [1, 4])
def test_growing_inside_hide_equals_hiding_grown_regions(style: str, grow: int) -> None:
    image = noise(361, 641)
    regions = [*people(image.shape[:2]), Region(np.ones((6, 6), bool), (-8, 100))]
    grown_regions = [grown(r.crop, r.origin, grow, image.shape[:2]) for r in regions]
    want = Hider(style).hide(image, [r for r in grown_regions if r is not None])
    assert np.array_equal(Hider(style).hide(image, regions, grow=grow), want)


@pytest.mark.parametrize("style", ["blur", "pixelate"])
def test_texture_is_gone_inside_a_hidden_region(style: str) -> None:
    image = noise(360, 640, seed=7)
    region = Region(np.ones((150, 200), bool), (220, 100))
    out = Hider(style).hide(image, [region])
    before = image[100:250, 220:420].astype(np.float64)
    after = out[100:250, 220:420].astype(np.float64)

    def high_frequency(x: np.ndarray) -> float:
        return float(np.abs(cv2.Laplacian(x, cv2.CV_64F)[2:-2, 2:-2]).mean())

    assert high_frequency(after) < 0.1 * high_frequency(before)
    assert abs(np.corrcoef(before.ravel(), after.ravel())[0, 1]) < 0.3


def test_fill_is_the_fill_colour() -> None:
    out = Hider("fill").hide(noise(40, 40), [Region(np.ones((10, 10), bool), (5, 5))])
    assert (out[5:15, 5:15] == FILL_BGR).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown privacy style"):
        Hider("smudge")
    hider = Hider("blur")
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        hider.hide(np.zeros((10, 10), np.uint8), [])
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        hider.hide_all(np.zeros((10, 10, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grow"):
        hider.hide(np.zeros((10, 10, 3), np.uint8), [], grow=-1)


@pytest.mark.parametrize("style", ["blur", "pixelate"])
@pytest.mark.parametrize("frame_hw", [(361, 641), (320, 480)])  # B = 11 (odd) and 10 (even)
def test_small_regions_anywhere_match_the_reference(style: str, frame_hw: tuple[int, int]) -> None:
    """Each effect is computed over its own few blocks; wherever they sit, the pixels are the frame's."""
    image = noise(*frame_hw, seed=11)
    want = naive_effect(style, image)
    rng = np.random.default_rng(12)
    hider = Hider(style)
    for _ in range(40):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        x0, y0 = int(rng.integers(-20, frame_hw[1])), int(rng.integers(-20, frame_hw[0]))
        region = Region(np.ones((h, w), bool), (x0, y0))
        inside = footprint([region], frame_hw)
        out = hider.hide(image, [region])
        assert np.array_equal(out[inside], want[inside])
        assert np.array_equal(out[~inside], image[~inside])
