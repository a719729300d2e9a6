"""The pictures the self-check decodes and segments: made here, so it needs none of our media."""

from __future__ import annotations

import numpy as np


def pattern_picture(i: int, hw: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 BGR: smooth gradients (colour in every plane) and a block that moves with
    ``i`` (edges that differ from one picture to the next, so a mixed-up batch position shows)."""
    h, w = hw
    rows = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    cols = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    planes: list[np.ndarray] = [
        np.broadcast_to(cols, (h, w)),
        np.broadcast_to(rows, (h, w)),
        (rows + cols) / 2,
    ]
    bgr = np.stack(planes, axis=-1).astype(np.uint8)
    bw, bh = max(w // 5, 8), max(h // 4, 8)
    x = (i * 17) % max(w - bw, 1)
    bgr[h // 4 : h // 4 + bh, x : x + bw] = (40, 200, 240)
    y = (i * 11) % max(h - bh, 1)
    bgr[y : y + bh, w - bw - x // 2 : w - x // 2] = (200, 60, 30)
    return np.ascontiguousarray(bgr)
