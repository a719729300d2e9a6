"""Masks for every instance of a batch at once: one mixture product, then every box pixel in one pass.

The instances of all frames are laid out back to back as rectangles of frame pixels (their boxes,
``device.rects.PixelRects``). For each pixel the prototype mixture is sampled with ``MaskDecoder``'s
tap tables, in the same order of float32 operations as the NumPy path, so the masks are identical to
it. The number of launches does not depend on how many instances there are; a large layout is walked
in a few passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from streamseg.gpu.rects import RectPixels
from streamseg.inference.yolo.masks import MaskDecoder

if TYPE_CHECKING:
    import torch

I64 = npt.NDArray[np.int64]


def box_bounds(xyxy: npt.NDArray[np.float32], frame_hw: tuple[int, int]) -> I64:
    """(N, 4) r0, c0, height, width of each box's pixels, as ``MaskDecoder.decode`` crops them."""
    h0, w0 = frame_hw
    if len(xyxy) == 0:
        return np.zeros((0, 4), np.int64)
    up = np.ceil(xyxy.astype(np.float64))
    c0 = np.maximum(up[:, 0], 0).astype(np.int64)
    c1 = np.minimum(up[:, 2], w0).astype(np.int64)
    r0 = np.maximum(up[:, 1], 0).astype(np.int64)
    r1 = np.minimum(up[:, 3], h0).astype(np.int64)
    return np.stack([r0, c0, np.maximum(r1 - r0, 0), np.maximum(c1 - c0, 0)], axis=1)


class PackedMaskDecoder:
    """``MaskDecoder.decode`` for all instances of a batch of frames of one size, on the device."""

    def __init__(self, decoder: MaskDecoder, device: torch.device) -> None:
        import torch  # noqa: PLC0415

        self.frame_hw = decoder.frame_hw
        self.proto_hw = decoder.proto_hw
        (ri, rw), (ci, cw) = decoder.taps
        self._rows = (torch.from_numpy(ri).to(device), torch.from_numpy(rw).to(device))
        self._cols = (torch.from_numpy(ci).to(device), torch.from_numpy(cw).to(device))

    def sample(self, mixtures: torch.Tensor, pixels: RectPixels, slot: torch.Tensor) -> Any:
        """Mask value > 0 at each pixel of ``pixels`` (owners are instance numbers; ``slot`` (M,) the
        row of each instance's mixture in ``mixtures`` viewed as (rows, mh * mw))."""
        mh, mw = self.proto_hw
        flat = mixtures.reshape(-1)
        base = slot[pixels.owner] * (mh * mw)
        ri, rw = self._rows[0][pixels.y], self._rows[1][pixels.y]  # (P, taps)
        ci, cw = self._cols[0][pixels.x], self._cols[1][pixels.x]
        value: Any = None
        for t in range(ri.shape[1]):  # the NumPy path's order: along x first, then along y
            row_base = base + ri[:, t] * mw
            along_x: Any = None
            for s in range(ci.shape[1]):
                taps = flat[row_base + ci[:, s]] * cw[:, s]
                along_x = taps if along_x is None else along_x + taps
            taps = along_x * rw[:, t]
            value = taps if value is None else value + taps
        return value > 0


def mixtures(protos: torch.Tensor, coeffs: torch.Tensor, row: torch.Tensor, per_frame: int) -> Any:
    """(b, per_frame, mh * mw): each instance's prototype mixture, in one batched product.

    ``coeffs`` (M, nm) go to row ``row`` (M,) = frame * per_frame + rank of a zero-padded table; row
    ``b * per_frame`` is a spare that padding instances may write to (it is left out of the product).
    """
    import torch  # noqa: PLC0415

    b, nm, mh, mw = protos.shape
    table = torch.zeros((b * per_frame + 1, nm), dtype=torch.float32, device=protos.device)
    table.index_copy_(0, row, coeffs.float())
    return torch.bmm(table[:-1].view(b, per_frame, nm), protos.float().reshape(b, nm, mh * mw))
