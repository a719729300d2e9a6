"""Rectangles of pixels laid out one after another: how per-instance work becomes one flat pass.

Masks (every pixel of every box) and box outlines (four bands per box) have a different size for
every instance. Laying the rectangles back to back gives one flat index: pixel ``p`` belongs to the
rectangle whose end is the first above ``p`` (``searchsorted``), so a whole batch is handled by a
fixed number of launches, with no data-dependent shape on the device (which would synchronise).
The layout is computed on the host from boxes the host already has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streamseg.gpu.transfer import upload

if TYPE_CHECKING:
    import torch

PIXELS_PER_PASS = 1 << 22  # pixels handled per pass (x 16 float32 mask taps: 256 MB at most)
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PixelRects:
    """Rectangles of pixels laid out one after another; built on the host, mirrored on the device."""

    frame: I64  # (R,) batch slot of the frame each rectangle is in
    owner: I64  # (R,) what the rectangle belongs to (instance number)
    bounds: I64  # (R, 4) r0, c0, height, width
    starts: I64  # (R,) offset of the first pixel in the layout
    total: int  # pixels in the layout

    @classmethod
    def of(cls, frame: I64, owner: I64, bounds: I64) -> PixelRects:
        sizes = bounds[:, 2] * bounds[:, 3]
        ends = np.cumsum(sizes)
        starts = ends - sizes
        return cls(frame, owner, bounds, starts.astype(np.int64), int(ends[-1]) if len(ends) else 0)

    @classmethod
    def empty(cls) -> PixelRects:
        none = np.zeros(0, np.int64)
        return cls(none, none, np.zeros((0, 4), np.int64), none, 0)

    def rows(self) -> I64:
        """(7, R) int64: frame, owner, r0, c0, width, start, end (what ``DeviceRects`` holds)."""
        columns = [self.frame, self.owner, self.bounds[:, 0], self.bounds[:, 1], self.bounds[:, 3]]
        return np.stack([*columns, self.starts, self.starts + self.sizes]).astype(np.int64)

    def to_device(self, device: torch.device) -> DeviceRects:
        """Upload through pinned memory, so the copy is queued on the stream without waiting for it."""
        return DeviceRects(upload(self.rows(), device), self.total)

    @property
    def sizes(self) -> I64:
        return self.bounds[:, 2] * self.bounds[:, 3]


@dataclass(frozen=True, slots=True)
class DeviceRects:
    """``PixelRects`` on the device, one row per field: frame, owner, r0, c0, width, start, end."""

    table: torch.Tensor  # (7, R) int64
    total: int  # pixels to walk: the real ones, or a capacity (``pixels`` then takes the real count)

    def pixels(self, start: int, stop: int, real: torch.Tensor | None = None) -> RectPixels:
        """Pixels ``start:stop`` of the layout: which rectangle, and where in the frame.

        ``real`` (a 0-d tensor): pixels from there on are padding (the table ends in sink rectangles,
        ``yolo/device/layout``): they are placed at the sink's corner and marked not ``valid``.
        """
        import torch  # noqa: PLC0415

        p = torch.arange(start, stop, device=self.table.device)
        rect = torch.searchsorted(self.table[6], p, right=True)
        frame, owner, r0, c0, width, first = self.table[:6, rect].unbind(0)
        local = p - first
        valid = None
        if real is not None:
            valid = p < real
            local = torch.where(valid, local, 0)
        width = width.clamp(min=1)
        return RectPixels(rect, frame, owner, r0 + local // width, c0 + local % width, valid)


@dataclass(frozen=True, slots=True)
class RectPixels:
    rect: torch.Tensor  # rectangle index
    frame: torch.Tensor
    owner: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor
    valid: torch.Tensor | None = None  # None: every pixel is real


def passes(total: int) -> list[tuple[int, int]]:
    """Pixel ranges of at most ``PIXELS_PER_PASS`` covering ``0:total``."""
    n = max(1, math.ceil(total / PIXELS_PER_PASS))
    step = math.ceil(total / n) if total else 0
    return [(s, min(s + step, total)) for s in range(0, total, step)] if total else []
