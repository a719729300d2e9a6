"""SAM's 256x256 mask logits -> box-sized crops at frame resolution, only where the mask is.

Ultralytics resizes every mask to the whole frame (``ops.scale_masks``: one bilinear sampling of the
low-resolution logits, through ``interpolate`` or ``grid_sample`` depending on rounding) and then
thresholds at 0. Bilinear sampling is separable, so the same numbers come from two small matrices,
``out = Wy @ logits @ Wx.T``; restricted to the rows and columns that a positive logit can reach, each
mask costs its own box, not the frame, and nothing full-frame is ever made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamseg.types import FloatArray, InstanceMasks

LOW_RES = 256  # SAM's mask decoder output, for a 1024x1024 input


def axis_weights(out_size: int, content: float, grid: bool, low: int = LOW_RES) -> FloatArray:
    """(out_size, low) bilinear weights, as PyTorch samples with ``align_corners=False``.

    ``content``: how many low-resolution cells the picture covers (the rest is padding). ``grid``: the
    ``grid_sample`` path (coordinates clamped to the whole grid) rather than ``interpolate`` of the crop.
    """
    scale = np.float32(content / out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    limit = low - 1 if grid else max(round(content), 1) - 1
    src = np.clip(src, 0, low - 1) if grid else np.maximum(src, 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), limit)
    i1 = np.minimum(i0 + 1, limit)
    lam = (src - i0).astype(np.float32)
    weights = np.zeros((out_size, low), np.float32)
    rows = np.arange(out_size)
    np.add.at(weights, (rows, i0), 1 - lam)
    np.add.at(weights, (rows, i1), lam)
    return weights


class MaskUpsampler:
    """For one frame size: logits (N, 256, 256) -> ``InstanceMasks`` crops and their boxes."""

    def __init__(self, frame_hw: tuple[int, int], input_size: int, device: Any) -> None:
        import torch  # noqa: PLC0415

        h, w = frame_hw
        gain = min(input_size / h, input_size / w)
        content_h = round(h * gain) * LOW_RES / input_size
        content_w = round(w * gain) * LOW_RES / input_size
        grid = abs(content_h - max(round(content_h), 1)) + abs(content_w - max(round(content_w), 1)) > 0.001
        wy, wx = axis_weights(h, content_h, grid), axis_weights(w, content_w, grid)
        self.frame_hw = frame_hw
        self._wy = torch.from_numpy(wy).to(device)
        self._wx = torch.from_numpy(wx).to(device)
        # Which low-resolution rows/columns each output row/column reads: a mask can only be positive
        # where one of them is.
        self._reads_y = wy > 0
        self._reads_x = wx > 0

    def __call__(self, logits: Any) -> tuple[InstanceMasks, FloatArray]:
        """Crops where logits > 0 (Ultralytics' threshold), each tight to its mask; boxes x1, y1, x2, y2
        with x2, y2 one past the last pixel. An empty mask is an empty crop with a zero box."""
        import torch  # noqa: PLC0415

        logits = logits.float()
        positive = logits > 0
        rows_any = positive.any(2).cpu().numpy()
        cols_any = positive.any(1).cpu().numpy()
        regions: list[tuple[int, int, int, int] | None] = []
        pieces = []
        for n in range(logits.shape[0]):
            ys = np.flatnonzero((self._reads_y & rows_any[n]).any(1))
            xs = np.flatnonzero((self._reads_x & cols_any[n]).any(1))
            if not len(ys) or not len(xs):
                regions.append(None)
                continue
            y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
            regions.append((y0, y1, x0, x1))
            pieces.append(((self._wy[y0:y1] @ logits[n]) @ self._wx[x0:x1].T > 0).flatten())
        flat = torch.cat(pieces).cpu().numpy() if pieces else np.zeros(0, bool)  # one copy to the host
        crops, origins, boxes = [], [], []
        offset = 0
        for region in regions:
            if region is None:
                crops.append(np.zeros((0, 0), bool))
                origins.append((0, 0))
                boxes.append((0.0, 0.0, 0.0, 0.0))
                continue
            y0, y1, x0, x1 = region
            full = flat[offset : offset + (y1 - y0) * (x1 - x0)].reshape(y1 - y0, x1 - x0)
            offset += full.size
            crop, (cx, cy) = _tighten(full)
            crops.append(crop)
            origins.append((x0 + cx, y0 + cy))
            boxes.append(
                (
                    float(x0 + cx),
                    float(y0 + cy),
                    float(x0 + cx + crop.shape[1]),
                    float(y0 + cy + crop.shape[0]),
                )
                if crop.size
                else (0.0, 0.0, 0.0, 0.0)
            )
        masks = InstanceMasks(tuple(crops), np.array(origins, np.int32).reshape(-1, 2), self.frame_hw)
        return masks, np.array(boxes, np.float32).reshape(-1, 4)


def _tighten(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The smallest crop holding every set pixel, and its offset inside ``mask``."""
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    if not len(ys):
        return np.zeros((0, 0), bool), (0, 0)
    return np.ascontiguousarray(mask[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]), (int(xs[0]), int(ys[0]))
