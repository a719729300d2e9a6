"""The second graph body's input, built on the host in a few vectorised steps: one int64 table.

After the batch's one download the host knows every kept instance. What the masks and the overlay
need of them (which head column and frame each came from, the rectangles of their box pixels, the
outline bands of their boxes, their colours) is packed into one int64 array of a fixed size, set by
a ``Capacity`` (instances per frame and per batch, mask and outline pixels), uploaded in one copy,
and read by the graph through fixed views (``DeviceLayout``). Unused columns are "sink" rectangles:
their pixels map to pixel (0, 0) of frame 0, belong to a dummy instance and are marked invalid, so
the graph's shapes never depend on what the frames show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streamseg.gpu.overlay import DeviceOverlay
from streamseg.gpu.rects import I64, DeviceRects, PixelRects
from streamseg.inference.yolo.device.masks import box_bounds

if TYPE_CHECKING:
    import torch

    from streamseg.inference.yolo.device.batch import BatchInstances


SINK_END = 1 << 62  # the end offset of a sink rectangle: every pixel past the last real one lands there
_RECT_ROWS = 7  # frame, owner, r0, c0, width, start, end (DeviceRects' rows)
_INSTANCE_ROWS = 4  # frame, anchor, coefficient row, sampling slot


def power_of_two_at_least(n: int) -> int:
    """The smallest power of two >= ``n`` (1 for 0 and 1): how capacities, slots and buckets grow."""
    return 1 << max(int(n) - 1, 0).bit_length()


@dataclass(frozen=True, slots=True)
class Capacity:
    """Fixed sizes of the second body's inputs (a captured graph keeps them until it is recaptured)."""

    per_frame: int  # instances of one frame
    instances: int  # instances of the batch (of one frame size)
    mask_pixels: int  # box pixels of all instances
    box_pixels: int  # outline pixels of all boxes

    def holds(self, need: Capacity) -> bool:
        return (
            need.per_frame <= self.per_frame
            and need.instances <= self.instances
            and need.mask_pixels <= self.mask_pixels
            and need.box_pixels <= self.box_pixels
        )

    def grown(self, need: Capacity) -> Capacity:
        """Large enough for ``need`` too, each size a power of two (so growth settles in a few steps)."""
        return Capacity(
            per_frame=max(self.per_frame, power_of_two_at_least(need.per_frame)),
            instances=max(self.instances, power_of_two_at_least(need.instances)),
            mask_pixels=max(self.mask_pixels, power_of_two_at_least(need.mask_pixels)),
            box_pixels=max(self.box_pixels, power_of_two_at_least(need.box_pixels)),
        )

    def sections(self) -> list[int]:
        """Lengths of the layout table's parts: instances, colours, mask rectangles, outline bands,
        the two real pixel counts (``GroupLayout.table`` writes them, ``DeviceLayout`` reads them)."""
        m = self.instances + 1
        return [_INSTANCE_ROWS * m, 3 * m, _RECT_ROWS * m, _RECT_ROWS * (4 * self.instances + 1), 2]

    def table_size(self) -> int:
        return sum(self.sections())


STARTING_CAPACITY = Capacity(per_frame=32, instances=64, mask_pixels=1 << 20, box_pixels=1 << 18)


@dataclass(frozen=True, slots=True)
class GroupLayout:
    """Host arrays for the instances of one run of same-size frames (positions ``start:stop``)."""

    start: int
    stop: int
    first: int  # index of the group's first instance in the batch
    frame: I64  # (m,) frame of each instance, counted from ``start``
    rank: I64
    anchor: I64
    colour_key: I64  # the track where there is one, else the class (``BatchInstances.colour_keys``)
    masks: PixelRects  # one rectangle per instance: its box's pixels
    boxes: PixelRects | None  # four outline bands per instance (owners: instance numbers in the group)

    @property
    def need(self) -> Capacity:
        per_frame = int(np.bincount(self.frame).max()) if len(self.frame) else 0
        box_pixels = self.boxes.total if self.boxes is not None else 0
        return Capacity(per_frame, len(self.frame), self.masks.total, box_pixels)

    def table(self, capacity: Capacity, overlay: DeviceOverlay | None) -> I64:
        """The int64 array ``DeviceLayout`` reads, sized by ``capacity`` (which must hold ``need``)."""
        m, cap = len(self.frame), capacity.instances
        frames = self.stop - self.start
        out = np.zeros(capacity.table_size(), np.int64)
        at = 0

        def put(rows: I64) -> None:
            nonlocal at
            out[at : at + rows.size] = rows.reshape(-1)
            at += rows.size

        inst = np.zeros((_INSTANCE_ROWS, cap + 1), np.int64)
        inst[0, :m], inst[1, :m] = self.frame, self.anchor
        inst[2, :] = frames * capacity.per_frame  # the mixture table's spare row for padding
        inst[2, :m] = inst[3, :m] = self.frame * capacity.per_frame + self.rank
        put(inst)
        lut = np.zeros((cap + 1, 3), np.int64)
        if overlay is not None and m:
            lut[: m + 1] = overlay.colour_table(self.colour_key)
        put(lut)
        put(_rect_table(self.masks, cap + 1, owner_sink=cap))
        boxes = self.boxes if self.boxes is not None else PixelRects.empty()
        put(_rect_table(boxes, 4 * cap + 1, owner_sink=cap))
        put(np.array([self.masks.total, boxes.total], np.int64))
        return out


def _rect_table(rects: PixelRects, columns: int, owner_sink: int) -> I64:
    """``DeviceRects``' rows for ``rects``, padded to ``columns`` with sink rectangles."""
    table = np.zeros((_RECT_ROWS, columns), np.int64)
    n = len(rects.frame)
    table[:, :n] = rects.rows()
    table[1, n:] = owner_sink
    table[4, n:] = 1
    table[5, n:] = rects.total
    table[6, n:] = SINK_END
    return table


def group_layout(
    inst: BatchInstances,
    start: int,
    stop: int,
    frame_hw: tuple[int, int],
    overlay: DeviceOverlay | None,
) -> GroupLayout:
    """The layout of the instances of frames ``start:stop`` (all of size ``frame_hw``)."""
    lo, hi = np.searchsorted(inst.frame, [start, stop])
    frame = inst.frame[lo:hi] - start
    owners = np.arange(hi - lo, dtype=np.int64)
    xyxy = inst.xyxy[lo:hi]
    masks = PixelRects.of(frame, owners, box_bounds(xyxy, frame_hw))
    boxes = overlay.box_rects(frame, xyxy, owners, frame_hw) if overlay is not None else None
    return GroupLayout(
        start,
        stop,
        int(lo),
        frame,
        inst.rank[lo:hi],
        inst.anchor[lo:hi],
        inst.colour_keys(lo, hi),
        masks,
        boxes,
    )


@dataclass(frozen=True, slots=True)
class DeviceLayout:
    """Fixed views of the uploaded table (see ``GroupLayout.table``)."""

    frame: torch.Tensor  # (I + 1,)
    anchor: torch.Tensor
    coefficient_row: torch.Tensor  # where each instance's coefficients go in the mixture table
    sample_slot: torch.Tensor  # which mixture each pixel samples (0 for the dummy instance)
    lut: torch.Tensor  # (I + 1, 3) uint8: 0 = no instance
    masks: DeviceRects
    boxes: DeviceRects
    mask_total: torch.Tensor  # 0-d: real pixels in ``masks``
    box_total: torch.Tensor

    @classmethod
    def view(cls, table: torch.Tensor, capacity: Capacity) -> DeviceLayout:
        import torch  # noqa: PLC0415

        m = capacity.instances + 1
        b = 4 * capacity.instances + 1
        inst, lut, masks, boxes, totals = torch.split(table, capacity.sections())
        frame, anchor, row, slot = inst.view(_INSTANCE_ROWS, m).unbind(0)
        return cls(
            frame=frame,
            anchor=anchor,
            coefficient_row=row,
            sample_slot=slot,
            lut=lut.view(m, 3).to(torch.uint8),
            masks=DeviceRects(masks.view(_RECT_ROWS, m), capacity.mask_pixels),
            boxes=DeviceRects(boxes.view(_RECT_ROWS, b), capacity.box_pixels),
            mask_total=totals[0],
            box_total=totals[1],
        )
