"""encode_crop must be byte-identical to pycocotools on the full-frame mask, for any crop placement."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from streamseg.export.rle import encode_counts, encode_crop, full_frame_runs

# pycocotools' decode trips a numpy 2 deprecation warning that is not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _paste(crop: np.ndarray, x0: int, y0: int, hw: tuple[int, int]) -> np.ndarray:
    """The reference full-frame bitmap (clipping whatever lies outside the frame)."""
    h, w = hw
    ch, cw = crop.shape
    # Paste into a canvas big enough for any placement, then cut the frame out of it.
    canvas = np.zeros((h + 2 * ch, w + 2 * cw), dtype=np.uint8)
    if 0 <= y0 + ch <= canvas.shape[0] - ch and 0 <= x0 + cw <= canvas.shape[1] - cw:
        canvas[y0 + ch : y0 + 2 * ch, x0 + cw : x0 + 2 * cw] = crop != 0
    return np.ascontiguousarray(canvas[ch : ch + h, cw : cw + w])


def _reference(full: np.ndarray) -> str:
    counts: bytes = coco_mask.encode(np.asfortranarray(full.astype(np.uint8)))["counts"]
    return counts.decode()


def _check(crop: np.ndarray, x0: int, y0: int, hw: tuple[int, int]) -> None:
    full = _paste(crop, x0, y0, hw)
    rle = encode_crop(crop, x0, y0, hw)
    assert rle["size"] == [hw[0], hw[1]]
    assert rle["counts"] == _reference(full), (crop.shape, x0, y0, hw)
    decoded = coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    np.testing.assert_array_equal(decoded, full)


def _random_case(rng: np.random.Generator, max_side: int) -> tuple[np.ndarray, int, int, tuple[int, int]]:
    h, w = (int(v) for v in rng.integers(1, max_side, 2))
    ch, cw = int(rng.integers(0, h + 1)), int(rng.integers(0, w + 1))
    y0 = int(rng.choice([0, h - ch, rng.integers(0, h - ch + 1)]))
    x0 = int(rng.choice([0, w - cw, rng.integers(0, w - cw + 1)]))
    kind = rng.integers(0, 5)
    if kind == 0:
        crop = np.zeros((ch, cw), bool)
    elif kind == 1:
        crop = np.ones((ch, cw), bool)
    elif kind == 2:  # a blob, like a real instance mask
        yy, xx = np.mgrid[:ch, :cw]
        r2 = ((yy - ch / 2) / max(ch / 2, 1)) ** 2 + ((xx - cw / 2) / max(cw / 2, 1)) ** 2
        crop = r2 < rng.uniform(0.3, 1.5)
    else:
        crop = rng.random((ch, cw)) < rng.choice([0.03, 0.5, 0.97])
    return crop, x0, y0, (h, w)


@pytest.mark.parametrize("seed", range(8))
def test_random_crops_match_pycocotools(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(150):
        _check(*_random_case(rng, max_side=40))


@pytest.mark.parametrize(
    ("shape", "x0", "y0", "hw"),
    [
        ((5, 7), 0, 0, (5, 7)),  # crop is the whole frame
        ((5, 3), 2, 0, (5, 7)),  # full height: runs merge across columns
        ((1, 7), 0, 4, (5, 7)),  # bottom row
        ((5, 1), 6, 0, (5, 7)),  # right-most column
        ((1, 1), 0, 0, (1, 1)),
        ((0, 0), 3, 2, (5, 7)),  # empty crop
        ((3, 0), 3, 2, (5, 7)),
    ],
)
@pytest.mark.parametrize("fill", ["zeros", "ones", "checker"])
def test_edge_placements(shape: tuple[int, int], x0: int, y0: int, hw: tuple[int, int], fill: str) -> None:
    if fill == "zeros":
        crop = np.zeros(shape, bool)
    elif fill == "ones":
        crop = np.ones(shape, bool)
    else:
        crop = (np.indices(shape).sum(axis=0) % 2).astype(bool)
    _check(crop, x0, y0, hw)


def test_large_frame_and_long_runs() -> None:
    """Run lengths and deltas that need several 5-bit chunks, positive and negative."""
    rng = np.random.default_rng(42)
    crop = np.zeros((700, 900), bool)
    crop[10:690, 5:895] = rng.random((680, 890)) < 0.999
    _check(crop, 300, 10, (720, 1280))
    _check(np.ones((720, 1), bool), 1279, 0, (720, 1280))
    _check(np.ones((1, 1), bool), 0, 0, (720, 1280))


def test_crop_outside_frame_is_clipped() -> None:
    crop = np.ones((6, 6), bool)
    for x0, y0 in [(-2, -3), (5, 4), (-10, 0), (20, 20)]:
        _check(crop, x0, y0, (8, 9))


def test_accepts_uint8_crops() -> None:
    crop = np.array([[0, 3], [1, 0]], dtype=np.uint8)
    assert encode_crop(crop, 1, 1, (4, 4)) == encode_crop(crop.astype(bool), 1, 1, (4, 4))


def test_empty_frame() -> None:
    assert encode_crop(np.zeros((0, 0), bool), 0, 0, (0, 0)) == {"size": [0, 0], "counts": "0"}


def test_runs_start_with_zero_run() -> None:
    runs = full_frame_runs(np.ones((2, 2), bool), 0, 0, (2, 3))
    assert runs.tolist() == [0, 4, 2]
    assert encode_counts(np.array([0, 4, 2])) == _reference(_paste(np.ones((2, 2)), 0, 0, (2, 3)))


def test_rejects_non_2d_crop() -> None:
    with pytest.raises(ValueError, match="2-D"):
        encode_crop(np.zeros((2, 2, 1), bool), 0, 0, (4, 4))


def test_library_does_not_import_pycocotools() -> None:
    import subprocess
    import sys

    code = "import sys, streamseg.export; assert 'pycocotools' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
