"""``gpu.surface``: frames of any size imported as surfaces, the copy ordered behind the decoder's, and
phone videos turned as part of the import (on CPU torch: the same code as on CUDA)."""

from __future__ import annotations

import gc
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
import torch

from streamseg.gpu.budget import MemoryBudget
from streamseg.gpu.colour import coefficient_table, yuv_to_bgr
from streamseg.gpu.ring import ring_for
from streamseg.gpu.surface import copy_plane, import_video_frame
from streamseg.testing.media import synthetic_frame
from streamseg.testing.optrace import OpTrace
from tests.gpu.memory_state import CPU, fresh_memory

SIZES = [(65, 33), (64, 33), (65, 32), (64, 32), (1, 1), (641, 361)]  # width, height


def _smooth(width: int, height: int) -> np.ndarray:
    """A picture whose colour changes slowly: swscale interpolates chroma for odd sizes, and we take
    each chroma sample for its 2x2 block, so the two agree within a few levels only on such pictures."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = 60 + (xx * 100 // max(width - 1, 1))
    image[..., 1] = 90 + (yy * 80 // max(height - 1, 1))
    image[..., 2] = 200 - ((xx + yy) * 90 // max(width + height - 2, 1))
    return image


def _frame(fmt: str, image: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format=fmt)


def _exact(vf: av.VideoFrame) -> np.ndarray:
    """What the import must give for ``vf``: its own planes (chroma at the ceiling size, read through
    the buffer protocol: no export is short there), converted as swscale's SIMD path."""
    h, w = vf.height, vf.width
    ch, cw = (h + 1) // 2, (w + 1) // 2
    planes = [np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in vf.planes]
    y = torch.from_numpy(planes[0][:h, :w].copy())
    if vf.format.name == "nv12":
        uv = torch.from_numpy(planes[1][:ch, : 2 * cw].reshape(ch, cw, 2).copy())
    else:
        uv = torch.from_numpy(np.stack([planes[1][:ch, :cw], planes[2][:ch, :cw]], -1))
    table = coefficient_table([import_video_frame(vf, CPU, use_ring=False).coefficients], CPU)
    return yuv_to_bgr(y[None], uv[None], table)[0].numpy()


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("fmt", ["nv12", "yuv420p"])
def test_odd_sizes_import_as_pyav_converts_them(fmt: str, width: int, height: int) -> None:
    """PyAV exports nv12's chroma at the floor size ((h // 2, w // 2, 2)); the import repeats its last
    row and column where it is short. Against PyAV/swscale's own BGR: within a few levels (swscale
    interpolates chroma at odd sizes); against the frame's full chroma: exact wherever that chroma was
    exported (yuv420p: everywhere; nv12: all but the last row and column of an odd size). An nv12
    frame one pixel high or wide has no chroma exported at all: it comes out grey (tested on grey)."""
    no_chroma = fmt == "nv12" and min(width, height) == 1
    image = np.full((height, width, 3), 120, np.uint8) if no_chroma else _smooth(width, height)
    vf = _frame(fmt, image)
    surface = import_video_frame(vf, CPU, use_ring=False)
    assert surface.frame_hw == (height, width)
    assert surface.uv.shape == ((height + 1) // 2, (width + 1) // 2, 2)
    got = surface.to_host_bgr()
    swscale = vf.to_ndarray(format="bgr24")
    diff = np.abs(got.astype(np.int16) - swscale.astype(np.int16))
    assert diff.max() <= 12, f"{fmt} {width}x{height}: {diff.max()} levels from swscale"
    if no_chroma:
        assert (surface.uv == 128).all()
        return
    rows, cols = (height - height % 2, width - width % 2) if fmt == "nv12" else (height, width)
    np.testing.assert_array_equal(got[:rows, :cols], _exact(vf)[:rows, :cols])


def test_short_planes_repeat_their_last_row_and_column() -> None:
    dst = torch.zeros((3, 4, 2), dtype=torch.uint8)
    src = torch.arange(1, 9, dtype=torch.uint8).reshape(2, 2, 2)  # one row and two columns short
    copy_plane(dst, src)
    want = np.array(
        [
            [[1, 2], [3, 4], [3, 4], [3, 4]],
            [[5, 6], [7, 8], [7, 8], [7, 8]],
            [[5, 6], [7, 8], [7, 8], [7, 8]],
        ],
        np.uint8,
    )
    np.testing.assert_array_equal(dst.numpy(), want)
    longer = torch.arange(30, dtype=torch.uint8).reshape(5, 6)  # padding past the picture: cut
    out = torch.zeros((3, 4), dtype=torch.uint8)
    copy_plane(out, longer)
    np.testing.assert_array_equal(out.numpy(), longer[:3, :4].numpy())


class _Sequence(OpTrace):
    """Ops and device calls in one list, in the order they happened."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[tuple[str, str]] = []

    def device_call(self, what: str) -> None:
        super().device_call(what)
        self.order.append(("call", what))

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.order.append(("op", func._overloadpacket.__name__))
        return super().__torch_dispatch__(func, types, args, kwargs)


def _cuda_like(vf: av.VideoFrame) -> Any:
    """A CPU nv12 frame dressed as NVDEC's CUDA hw frame (format "cuda", software format nv12)."""
    return SimpleNamespace(
        format=SimpleNamespace(name="cuda"),
        sw_format=SimpleNamespace(name="nv12"),
        width=vf.width,
        height=vf.height,
        colorspace=vf.colorspace,
        color_range=vf.color_range,
        planes=vf.planes,
    )


def test_hw_frames_wait_for_the_decoder_before_the_copy() -> None:
    """FFmpeg copies NVDEC's picture into its pool on the legacy default stream; the import's stream
    waits for that stream before its first copy (the wait is marked for ``gpu.trace``). CPU frames
    have nothing to wait for."""
    planar = _frame("yuv420p", synthetic_frame(0, 96, 64))
    vf = planar.reformat(format="nv12")
    for frame, waits in ((_cuda_like(vf), True), (vf, False)):
        with _Sequence() as traced:
            surface = import_video_frame(frame, CPU)
        copies = [i for i, (kind, name) in enumerate(traced.order) if kind == "op" and name == "copy_"]
        marks = [i for i, item in enumerate(traced.order) if item == ("call", "wait for the decoder")]
        assert copies
        assert len(marks) == (1 if waits else 0)
        if waits:
            assert marks[0] < copies[0], traced.order
        diff = np.abs(surface.to_host_bgr().astype(np.int16) - planar.to_ndarray(format="bgr24"))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # swscale's own nv12 path interpolates


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_turned_on_import_into_the_ring_of_the_turned_size(turns: int) -> None:
    """A phone video's frame is turned while it is imported, in the same ordered work, straight into
    a slot of the ring for the turned size: no slot of the upright size is ever taken (so none can be
    let go while the turn still reads it), and the slot comes back when the frame is gone."""
    w, h = 96, 64
    image = synthetic_frame(3, w, h)
    vf = _frame("yuv420p", image)
    with fresh_memory(MemoryBudget(64 << 20, 64 << 20)):
        turned_hw = (w, h) if turns % 2 else (h, w)
        upright, turned = ring_for(CPU, (h, w)), ring_for(CPU, turned_hw)
        surface = import_video_frame(vf, CPU, turns=turns)
        assert surface.ring is turned and surface.frame_hw == turned_hw
        if turns % 2:
            assert not upright.allocated
        free = turned.free_slots
        np.testing.assert_array_equal(surface.to_host_bgr(), np.rot90(vf.to_ndarray(format="bgr24"), turns))
        del surface
        gc.collect()
        assert turned.free_slots == free + 1


def test_rotated_copy_is_done_before_the_source_goes() -> None:
    """``YuvSurface.rotated`` copies into memory of its own and is done when it returns: the source's
    slot can come back at once and the turned picture stays right."""
    vf = _frame("yuv420p", synthetic_frame(5, 96, 64))
    want = vf.to_ndarray(format="bgr24")
    with fresh_memory(MemoryBudget(64 << 20, 64 << 20)):
        source = import_video_frame(vf, CPU)
        ring = source.ring
        assert ring is not None
        free = ring.free_slots
        turned = source.rotated(1)
        del source
        gc.collect()
        assert ring.free_slots == free + 1
        assert turned.frame_hw == (96, 64)
        np.testing.assert_array_equal(turned.to_host_bgr(), np.rot90(want, 1))
