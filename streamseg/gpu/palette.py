"""Fixed per-class colours, so a class keeps its colour across frames, runs and sources."""

from __future__ import annotations

import colorsys

import numpy as np
import numpy.typing as npt

from streamseg.types import UInt8Array

BGR = tuple[int, int, int]

# 20 colours picked to be told apart at a glance (Trubetskoy's list), written as RGB hex and stored as BGR.
# Class 0 (COCO "person", the common case) gets the strong red.
_BASE_RGB_HEX = (
    "e6194b", "3cb44b", "4363d8", "f58231", "911eb4", "42d4f4", "f032e6", "bfef45", "ffe119", "469990",
    "dcbeff", "9a6324", "fabed4", "800000", "aaffc3", "808000", "ffd8b1", "000075", "a9a9a9", "fffac8",
)  # fmt: skip
_TABLE_SIZE = 256  # ids beyond the table wrap around; 256 covers COCO (80) and most custom models
_GOLDEN = 0.618033988749895


def _hex_to_bgr(hex_rgb: str) -> BGR:
    r, g, b = (int(hex_rgb[i : i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def _generated_bgr(class_id: int) -> BGR:
    """Colours past the fixed list: golden-ratio hue steps keep neighbours far apart, deterministically."""
    hue = (class_id * _GOLDEN) % 1.0
    sat = 0.55 + 0.35 * ((class_id * 7) % 3) / 2
    val = 0.95 - 0.2 * ((class_id * 5) % 2)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return round(b * 255), round(g * 255), round(r * 255)


class Palette:
    """Maps a class id to a BGR colour; ``colors`` does a whole array at once for the hot path."""

    def __init__(self, colors_bgr: tuple[BGR, ...] | None = None) -> None:
        if colors_bgr is None:
            base = [_hex_to_bgr(h) for h in _BASE_RGB_HEX]
            base += [_generated_bgr(i) for i in range(len(base), _TABLE_SIZE)]
        else:
            if not colors_bgr:
                raise ValueError("a palette needs at least one colour")
            base = list(colors_bgr)
        self._table: UInt8Array = np.array(base, dtype=np.uint8).reshape(-1, 3)

    def __len__(self) -> int:
        return int(self._table.shape[0])

    def color(self, class_id: int) -> BGR:
        b, g, r = (int(v) for v in self._table[int(class_id) % len(self)])
        return b, g, r

    def colors(self, class_ids: npt.ArrayLike) -> UInt8Array:
        """(N, 3) uint8 BGR, one row per id."""
        ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
        return self._table[ids % len(self)]


DEFAULT_PALETTE = Palette()


def text_color_for(bgr: BGR) -> BGR:
    """Black text on light fills, white on dark ones (Rec. 601 luma)."""
    b, g, r = bgr
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 150 else (255, 255, 255)
