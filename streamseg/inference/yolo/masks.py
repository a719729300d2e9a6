"""Mask decoding that never builds a full-frame bitmap.

For each instance we evaluate the prototype mixture only on the prototype cells under its box,
bilinearly upsample only the box's frame pixels, and threshold. The sampling follows Ultralytics'
``process_mask_native`` exactly: an optional first upsample by 2 or 4 (when the letterbox padding is
not a whole number of prototype cells), a crop of the padding, then a resize to the frame, all
``align_corners=False``. Both stages are linear and separable, so per axis they fold into a small
"tap" table (source cell indices and weights per frame pixel) built once per frame size; a box then
slices that table.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from streamseg.inference.letterbox import Letterbox, proto_scale
from streamseg.types import BoolArray, FloatArray, InstanceMasks

IndexArray = npt.NDArray[np.int64]


def _bilinear_taps(n_out: int, n_in: int, scale: float) -> tuple[IndexArray, FloatArray]:
    """PyTorch ``interpolate(mode='bilinear', align_corners=False)`` along one axis: 2 taps per output."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = src - i0
    return np.stack([i0, i1], axis=1), np.stack([1.0 - w1, w1], axis=1).astype(np.float32)


def _axis_taps(
    frame: int, proto: int, factor: int, pad_cells: int, content: int
) -> tuple[IndexArray, FloatArray]:
    """Frame pixel -> prototype cells along one axis, through both resampling stages."""
    idx2, w2 = _bilinear_taps(frame, content, content / frame)  # stage 2: content -> frame
    idx2 = idx2 + pad_cells  # content starts after the padding in the upsampled grid
    if factor == 1:
        return idx2, w2
    idx1, w1 = _bilinear_taps(proto * factor, proto, 1.0 / factor)  # stage 1: proto -> proto * factor
    idx = idx1[idx2].reshape(frame, 4)
    w = (w2[:, :, None] * w1[idx2]).reshape(frame, 4)
    return idx, w.astype(np.float32)


class MaskDecoder:
    """Decodes the masks of one frame size from prototypes (C, mh, mw) and per-instance coefficients."""

    def __init__(self, letterbox: Letterbox, proto_hw: tuple[int, int]) -> None:
        h0, w0 = letterbox.frame_hw
        mh, mw = proto_hw
        self.frame_hw = letterbox.frame_hw
        self.proto_hw = proto_hw
        stride = proto_scale(letterbox.input_hw, proto_hw)
        # First-stage factor, as process_mask_native picks it: the smallest upsample that turns the
        # letterbox padding into whole cells.
        in_h, in_w = round(stride * mh), round(stride * mw)
        gain = min(in_h / h0, in_w / w0)
        pad = (in_h - max(round(h0 * gain), 1)) | (in_w - max(round(w0 * gain), 1))
        factor = int(stride) // math.gcd(int(stride), pad | pad // 2)
        # Second stage (scale_masks): crop the padding of the upsampled grid, resize to the frame.
        up_h, up_w = mh * factor, mw * factor
        gain2 = min(up_h / h0, up_w / w0)
        content_h, content_w = max(round(h0 * gain2), 1), max(round(w0 * gain2), 1)
        top = round((up_h - content_h) / 2 - 0.1)
        left = round((up_w - content_w) / 2 - 0.1)
        self._rows = _axis_taps(h0, mh, factor, top, content_h)
        self._cols = _axis_taps(w0, mw, factor, left, content_w)

    @property
    def taps(self) -> tuple[tuple[IndexArray, FloatArray], tuple[IndexArray, FloatArray]]:
        """(rows, cols) tap tables: per frame pixel, prototype cell indices and weights (the device
        decoder in ``yolo/device/masks`` samples with these same tables)."""
        return self._rows, self._cols

    def decode(self, protos: FloatArray, coeffs: FloatArray, xyxy: FloatArray) -> InstanceMasks:
        """Masks cropped to ``xyxy`` in frame pixels: (r, c) is inside iff x1 <= c < x2 and y1 <= r < y2."""
        h0, w0 = self.frame_hw
        mw = self.proto_hw[1]
        flat = protos.reshape(protos.shape[0], -1)
        crops: list[BoolArray] = []
        origins = np.zeros((len(xyxy), 2), dtype=np.int32)
        for k, (x1, y1, x2, y2) in enumerate(xyxy.tolist()):
            c0, c1 = max(math.ceil(x1), 0), min(math.ceil(x2), w0)
            r0, r1 = max(math.ceil(y1), 0), min(math.ceil(y2), h0)
            origins[k] = (c0, r0)
            if c1 <= c0 or r1 <= r0:
                crops.append(np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=bool))
                continue
            row_idx, row_w = self._rows[0][r0:r1], self._rows[1][r0:r1]
            col_idx, col_w = self._cols[0][c0:c1], self._cols[1][c0:c1]
            pr0, pr1 = int(row_idx.min()), int(row_idx.max()) + 1
            pc0, pc1 = int(col_idx.min()), int(col_idx.max()) + 1
            if pc0 == 0 and pc1 == mw:  # whole prototype rows: a view, no gather
                window = flat[:, pr0 * mw : pr1 * mw]
            else:
                window = np.ascontiguousarray(protos[:, pr0:pr1, pc0:pc1]).reshape(protos.shape[0], -1)
            grid = (coeffs[k] @ window).reshape(pr1 - pr0, pc1 - pc0)
            along_x = _resample(grid, col_idx - pc0, col_w, axis=1)
            crops.append(_resample(along_x, row_idx - pr0, row_w, axis=0) > 0)
        return InstanceMasks(tuple(crops), origins, (h0, w0))


def _resample(values: FloatArray, idx: IndexArray, weights: FloatArray, axis: int) -> FloatArray:
    """Weighted sum of taps along ``axis``: out[..., i] = sum_t values[..., idx[i, t]] * weights[i, t]."""
    out: FloatArray | None = None
    for t in range(idx.shape[1]):
        taps = values[:, idx[:, t]] * weights[:, t] if axis == 1 else values[idx[:, t]] * weights[:, t, None]
        out = taps if out is None else out + taps
    if out is None:
        raise ValueError("no taps")
    return out
