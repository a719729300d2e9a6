"""COCO compressed RLE of a full-frame mask, computed straight from its crop.

Masks travel as crops (see ``streamseg.types``); materialising an (H, W) bitmap per instance just to
run-length encode it would cost more than the encoding itself. A crop covers a rectangle, so in
column-major order every frame column is: zeros above the crop, the crop column, zeros below.
Only the crop's own transitions need computing; their full-frame offsets follow arithmetically.

The output is byte-identical to ``pycocotools.mask.encode(np.asfortranarray(full))["counts"]``
(decoded to ``str``), so any COCO tool can read it; pycocotools itself is not needed at run time.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import numpy.typing as npt


class CocoRle(TypedDict):
    """The COCO ``segmentation`` object for one mask: frame size and compressed run lengths."""

    size: list[int]
    counts: str


def encode_crop(crop: npt.ArrayLike, x0: int, y0: int, frame_hw: tuple[int, int]) -> CocoRle:
    """COCO compressed RLE of a frame of ``frame_hw`` that is zero except ``crop`` placed at (x0, y0).

    Parts of the crop that fall outside the frame are dropped, as when pasting it into the frame.
    """
    h, w = int(frame_hw[0]), int(frame_hw[1])
    if h < 0 or w < 0:
        raise ValueError(f"frame_hw must be non-negative, got {frame_hw}")
    runs = full_frame_runs(crop, int(x0), int(y0), (h, w))
    return {"size": [h, w], "counts": encode_counts(runs)}


def full_frame_runs(
    crop: npt.ArrayLike, x0: int, y0: int, frame_hw: tuple[int, int]
) -> npt.NDArray[np.int64]:
    """Uncompressed COCO run lengths (column-major, starting with a zero run) of the pasted crop."""
    h, w = frame_hw
    mask = np.asarray(crop)
    if mask.ndim != 2:
        raise ValueError(f"crop must be a 2-D mask, got shape {mask.shape}")
    # Clip the crop to the frame.
    top, left = max(0, -y0), max(0, -x0)
    bottom = min(mask.shape[0], h - y0)
    right = min(mask.shape[1], w - x0)
    total = h * w
    if bottom <= top or right <= left:
        return np.array([total], dtype=np.int64)
    mask = mask[top:bottom, left:right]
    x0, y0 = x0 + left, y0 + top
    ch, cw = mask.shape

    # Each crop column (rows of mask.T), padded with a zero on both ends; a change between
    # neighbours marks a run start (0->1) or end (1->0). np.flatnonzero walks columns in order,
    # so starts and ends alternate.
    padded = np.zeros((cw, ch + 2), dtype=bool)
    padded[:, 1:-1] = mask.T if mask.dtype == np.bool_ else mask.T != 0
    edges = np.flatnonzero(padded[:, 1:] != padded[:, :-1])
    if edges.size == 0:
        return np.array([total], dtype=np.int64)
    col, row = np.divmod(edges, ch + 1)
    pos = (col + x0) * h + (row + y0)  # offsets in the column-major full frame

    # A run ending at the bottom of one column and one starting at the top of the next touch
    # (only possible when the crop spans the full height): merge them.
    if ch == h:
        touching = pos[1:-1:2] == pos[2::2]
        if touching.any():
            keep = np.ones(pos.size, dtype=bool)
            idx = np.flatnonzero(touching) * 2 + 1
            keep[idx] = False
            keep[idx + 1] = False
            pos = pos[keep]

    bounds = np.empty(pos.size + 2, dtype=np.int64)
    bounds[0] = 0
    bounds[1:-1] = pos
    bounds[-1] = total
    counts = np.diff(bounds)
    if counts[-1] == 0:  # the mask ends with ones: pycocotools has no trailing empty zero run
        counts = counts[:-1]
    return counts


def encode_counts(counts: npt.NDArray[np.int64]) -> str:
    """The pycocotools ``rleToString`` text form of run lengths, vectorised.

    Each value (minus the run two back, from the fourth run on) is written as little-endian 5-bit
    chunks in ASCII from '0'; bit 0x20 flags that another chunk follows, and the last chunk's
    0x10 bit is the sign.
    """
    raw = np.asarray(counts, dtype=np.int64)
    x = raw.copy()
    if x.size > 3:
        x[3:] -= raw[1:-2]
    if x.size == 0:
        return ""
    # Enough chunks for the widest value, sign bit included (~v is the magnitude of a negative v).
    widest = max(int(x.max()), int(~x.min()), 0)
    n = max(1, -(-(widest.bit_length() + 1) // 5))
    shifted = x[:, None] >> (5 * np.arange(n + 1, dtype=np.int64))[None, :]  # arithmetic, like C
    chunks = shifted[:, :n] & 0x1F
    rest = shifted[:, 1:]
    more = np.where((chunks & 0x10) != 0, rest != -1, rest != 0)  # True up to the last chunk
    used = np.ones_like(more)
    used[:, 1:] = more[:, :-1]
    chars = chunks + 48
    chars[more] += 0x20
    text: bytes = chars[used].astype(np.uint8).tobytes()
    return text.decode("ascii")
