"""The second graph body: masks of every instance, the overlay and the encoders' yuv420p, for frames
of one size, from the layout table the host uploaded (``yolo/device/layout``).

Its shapes are set by the capacity, not by what the frames show: the mixture product covers
``per_frame`` rows per frame, the pixel passes walk ``mask_pixels`` and ``box_pixels`` whatever the
real counts (padding pixels are invalid and change nothing), so a captured graph replays for every
batch that fits. Results equal the unpadded computation bit for bit (tests/inference/yolo/device).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.gpu.overlay import DeviceOverlay
from streamseg.gpu.rects import passes
from streamseg.gpu.transfer import download_async
from streamseg.inference.letterbox import Letterbox
from streamseg.inference.yolo.device.batch import BatchInstances, DeviceBatch
from streamseg.inference.yolo.device.layout import Capacity, DeviceLayout, GroupLayout
from streamseg.inference.yolo.device.masks import PackedMaskDecoder, mixtures

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, slots=True)
class Finished:
    """The body's outputs (static on CUDA: copy or download them before the next replay)."""

    packed: torch.Tensor  # (mask_pixels,) bool: each instance's box pixels, inside its mask or not
    nonempty: torch.Tensor  # (instances + 1,) int32: 1 where an instance's mask has a pixel
    i420: torch.Tensor | None  # (B, H * 3 // 2, W) uint8 annotated frames for the encoders


def finish_body(
    head: torch.Tensor,
    protos: torch.Tensor,
    bgr: torch.Tensor,
    *,
    table: torch.Tensor,
    capacity: Capacity,
    num_classes: int,
    decoder: PackedMaskDecoder,
    overlay: DeviceOverlay | None,
) -> Finished:
    """``head``/``protos``/``bgr``: the group's frames (batch positions counted from its first);
    ``table``: ``GroupLayout.table`` on the device. The inputs are only read (a graph's warm-up runs
    and its replays must all see the same ones)."""
    import torch  # noqa: PLC0415

    layout = DeviceLayout.view(table, capacity)
    coefficients = head[layout.frame, 4 + num_classes :, layout.anchor]  # (I + 1, nm)
    mixed = mixtures(protos, coefficients, layout.coefficient_row, capacity.per_frame)
    packed = torch.zeros(capacity.mask_pixels, dtype=torch.bool, device=bgr.device)
    nonempty = torch.zeros(capacity.instances + 1, dtype=torch.int32, device=bgr.device)
    index_map = overlay.index_map(bgr) if overlay is not None else None
    hw = (int(bgr.shape[1]), int(bgr.shape[2]))
    for p0, p1 in passes(capacity.mask_pixels):
        px = layout.masks.pixels(p0, p1, layout.mask_total)
        on = decoder.sample(mixed, px, layout.sample_slot)
        if px.valid is not None:
            on = on & px.valid
        packed[p0:p1] = on
        nonempty.scatter_reduce_(0, px.owner, on.to(torch.int32), reduce="amax")
        if index_map is not None:
            DeviceOverlay.add_mask_pixels(index_map, px, on, hw)
    if overlay is None:
        return Finished(packed, nonempty, None)
    canvas = bgr.clone()  # never draw into an input: a body must give the same answer when run again
    if index_map is not None:
        overlay.blend_masks(canvas, index_map, layout.lut)
    if overlay.config.boxes:
        overlay.draw_boxes(canvas, layout.boxes, layout.lut, nonempty > 0, layout.box_total)
    return Finished(packed, nonempty, DeviceOverlay.to_i420(canvas))


def device_batch(
    inst: BatchInstances,
    letterboxes: Sequence[Letterbox],
    finished: list[tuple[GroupLayout, Finished]],
    n: int,
    host_masks: bool,
) -> DeviceBatch:
    """One ``DeviceBatch`` from the groups' outputs: masks back to back, small copies queued."""
    import torch  # noqa: PLC0415

    bounds = np.concatenate([g.masks.bounds for g, _ in finished]) if finished else np.zeros((0, 4), np.int64)
    offsets = np.cumsum([0] + [g.masks.total for g, _ in finished])
    starts = np.concatenate([g.masks.starts + offsets[i] for i, (g, _) in enumerate(finished)])
    packs = [f.packed[: g.masks.total] for g, f in finished]
    flags = [f.nonempty[: len(g.frame)] for g, f in finished]
    packed = packs[0] if len(packs) == 1 else torch.cat(packs)
    nonempty = download_async(flags[0] if len(flags) == 1 else torch.cat(flags))
    pictures: list[Any] | None = None
    if finished[0][1].i420 is not None:
        pictures = []
        for g, f in finished:
            assert f.i420 is not None
            host = download_async(f.i420[: min(g.stop, n) - g.start])
            pictures.extend(host.unbind(0))
    return DeviceBatch(
        inst, bounds, starts.astype(np.int64), list(letterboxes), packed, nonempty, pictures, host_masks
    )
