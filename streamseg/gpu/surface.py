"""Decoded pictures kept in accelerator memory: ``YuvSurface`` and the copy out of a PyAV frame.

A frame NVDEC decoded lives in FFmpeg's small pool of CUDA surfaces; holding it in a queue would
stall the decoder. ``import_video_frame`` therefore copies the planes at once (DLPack, no host
round trip) into memory of our own (``gpu.storage``: a ring slot, or counted loose tensors) and
waits for that copy before the PyAV frame is let go. The same function takes a frame decoded on the
CPU (yuv420p, nv12, yuvj420p): its planes are uploaded, which is how a stream NVDEC refuses still
reaches the device path, and how CPU CI exercises it.

Ordering: FFmpeg copies each decoded picture into its frame pool on the legacy default stream, and
PyTorch's pool streams do not wait for that one implicitly, so the copy stream waits for it first
(PyAV's ``__dlpack__`` leaves that to the caller). A phone video's turn is part of the same ordered
work on the same stream, before the wait that lets the decoder's surface go.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.gpu import trace
from streamseg.gpu.colour import YuvCoefficients, coefficient_table, yuv_to_bgr
from streamseg.gpu.ring import SurfaceRing
from streamseg.gpu.storage import Planes, planes_for
from streamseg.types import UInt8Array

if TYPE_CHECKING:
    import av
    import torch

# Software pixel formats whose planes we can lay out as luma + interleaved 4:2:0 chroma.
PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})
SEMI_PLANAR_420 = frozenset({"nv12"})
IMPORTABLE = PLANAR_420 | SEMI_PLANAR_420
NEUTRAL_CHROMA = 128  # chroma of a plane PyAV exports empty (nv12 one pixel high or wide): grey


@dataclass(frozen=True, slots=True, weakref_slot=True)
class YuvSurface:
    """One 4:2:0 8-bit picture on a torch device: luma (H, W) and chroma (ceil(H/2), ceil(W/2), 2).

    ``ring``/``slot``: the planes are slot ``slot`` of that ring (``gpu.ring``), given back when the
    surface is garbage; None for a surface with tensors of its own (counted in the frames budget
    until they are garbage).
    """

    y: torch.Tensor
    uv: torch.Tensor
    coefficients: YuvCoefficients  # how swscale would turn it into BGR (matrix and range)
    ring: SurfaceRing | None = None
    slot: int = -1

    @property
    def frame_hw(self) -> tuple[int, int]:
        return int(self.y.shape[0]), int(self.y.shape[1])

    @property
    def device(self) -> torch.device:
        return self.y.device

    def rotated(self, turns: int, stream: Any = None) -> YuvSurface:
        """Turned ``turns`` quarter turns counter-clockwise (as ``np.rot90``), into memory of its own
        from ``gpu.storage``; done when this returns (on ``stream``, or the current one on CUDA), so
        this surface may be let go at once. Frames are turned while imported (``import_video_frame``)."""
        h, w = self.frame_hw
        stream = _stream_for(self.device, stream)
        with _on(stream):
            planes = planes_for(self.device, (w, h) if turns % 2 else (h, w))
        try:
            with _on(stream):
                _turn_into(planes, self.y, self.uv, turns)
            if stream is not None:
                stream.synchronize()
        except BaseException:
            planes.abandon(stream)
            raise
        return _surface(planes, self.coefficients)

    def to_bgr(self) -> torch.Tensor:
        """(H, W, 3) uint8 BGR on the surface's device."""
        table = coefficient_table([self.coefficients], self.y.device)
        return yuv_to_bgr(self.y[None], self.uv[None], table)[0]

    def to_host_bgr(self) -> UInt8Array:
        """The picture as ``Frame.image`` wants it; converted on the device, copied down once.

        Runs on a stream of its own (the caller may be any thread), so the tensors are marked as
        used there and cannot be recycled under the copy.
        """
        import torch  # noqa: PLC0415

        if self.y.device.type != "cuda":
            return np.ascontiguousarray(self.to_bgr().numpy())
        stream = torch.cuda.Stream(self.y.device)  # type: ignore[no-untyped-call]
        with torch.cuda.stream(stream):
            self.y.record_stream(stream)
            self.uv.record_stream(stream)
            host = self.to_bgr().to("cpu", non_blocking=False)
        return np.ascontiguousarray(host.numpy())


def import_video_frame(
    vf: av.VideoFrame,
    device: torch.device,
    stream: Any = None,
    use_ring: bool = True,
    turns: int = 0,
    wait_s: float = 0.0,
) -> YuvSurface:
    """Copy a decoded frame (CUDA hw frame or CPU 4:2:0) into a ``YuvSurface`` on ``device``, turned
    ``turns`` quarter turns counter-clockwise: a free slot of the ring for its (turned) size
    (``gpu.ring``), or tensors of its own (``gpu.storage``).

    Returns only once the copy is done (on ``stream``, else the current stream on CUDA, which is then
    synchronised), so the caller may release ``vf`` and its decoder surface right away. Raises
    ``ValueError`` for pixel formats we cannot import, ``gpu.storage.BudgetSpent`` when the frames
    budget has no room within ``wait_s`` seconds.
    """
    from torch.utils.dlpack import from_dlpack  # noqa: PLC0415

    on_gpu = vf.format.name == "cuda"
    fmt = _software_format(vf) if on_gpu else vf.format.name
    if fmt not in IMPORTABLE:
        raise ValueError(f"cannot keep {fmt} frames on the device (only 8-bit 4:2:0)")
    h, w = vf.height, vf.width
    coefficients = YuvCoefficients.for_frame(int(vf.colorspace), int(vf.color_range))
    sources = [from_dlpack(plane.__dlpack__()) for plane in vf.planes]
    stream = _stream_for(device, stream)
    with _on(stream):  # memory taken on the stream that writes it
        planes = planes_for(device, (w, h) if turns % 2 else (h, w), use_ring, wait_s)
    try:
        with _on(stream):
            if on_gpu:  # FFmpeg's copy into its frame pool was queued on the legacy default stream
                trace.device_call("wait for the decoder")
                if stream is not None:
                    import torch  # noqa: PLC0415

                    stream.wait_stream(torch.cuda.default_stream(device))
            if planes.ring is not None:
                planes.ring.before_write(stream)
            if turns % 4:
                upright = _scratch(device, h, w)
                fill_planes(upright.y, upright.uv, sources, fmt)
                _turn_into(planes, upright.y, upright.uv, turns)
            else:
                fill_planes(planes.y, planes.uv, sources, fmt)
        if stream is not None:
            stream.synchronize()  # the decoder may reuse its surface as soon as vf is released
    except BaseException:
        planes.abandon(stream)
        raise
    return _surface(planes, coefficients)


def fill_planes(y: torch.Tensor, uv: torch.Tensor, sources: list[torch.Tensor], fmt: str) -> None:
    """Luma (H, W) and interleaved chroma (ceil(H/2), ceil(W/2), 2) from a frame's exported planes
    (nv12: luma and interleaved chroma; yuv420p: luma, U, V)."""
    copy_plane(y, sources[0])
    if fmt in SEMI_PLANAR_420:
        copy_plane(uv, sources[1])
    else:
        copy_plane(uv[..., 0], sources[1])
        copy_plane(uv[..., 1], sources[2])


def copy_plane(dst: torch.Tensor, src: torch.Tensor) -> None:
    """``src`` into ``dst`` (the same trailing dimensions): cut where ``src`` is larger, and where it
    is short its last row and column repeated. PyAV exports nv12's chroma as (h // 2, w // 2, 2), the
    floor, so for an odd size the last chroma row or column is missing; an empty export (nv12 one
    pixel high or wide) leaves neutral chroma."""
    rows, cols = min(src.shape[0], dst.shape[0]), min(src.shape[1], dst.shape[1])
    if rows == 0 or cols == 0:
        dst.fill_(NEUTRAL_CHROMA)
        return
    dst[:rows, :cols].copy_(src[:rows, :cols], non_blocking=True)
    if cols < dst.shape[1]:
        right = dst[:rows, cols:]
        right.copy_(dst[:rows, cols - 1 : cols].expand_as(right))
    if rows < dst.shape[0]:
        below = dst[rows:]
        below.copy_(dst[rows - 1 : rows].expand_as(below))


def _turn_into(planes: Planes, y: torch.Tensor, uv: torch.Tensor, turns: int) -> None:
    """Write ``y``/``uv`` turned ``turns`` quarter turns into ``planes`` (on the current stream)."""
    import torch  # noqa: PLC0415

    planes.y.copy_(torch.rot90(y, turns, (0, 1)))
    planes.uv.copy_(torch.rot90(uv, turns, (0, 1)))


def _scratch(device: torch.device, h: int, w: int) -> Planes:
    """Upright planes for a frame that is turned on its way into its slot (freed after the copy;
    allocated on the copy stream, so the allocator reuses them only behind it)."""
    import torch  # noqa: PLC0415

    y = torch.empty((h, w), dtype=torch.uint8, device=device)
    return Planes(y, torch.empty(((h + 1) // 2, (w + 1) // 2, 2), dtype=torch.uint8, device=device))


def _surface(planes: Planes, coefficients: YuvCoefficients) -> YuvSurface:
    """The surface over ``planes``; a ring slot comes back when the surface is garbage."""
    if planes.ring is None:
        return YuvSurface(planes.y, planes.uv, coefficients)
    surface = YuvSurface(planes.y, planes.uv, coefficients, planes.ring, planes.slot)
    weakref.finalize(surface, planes.ring.release, planes.slot)
    return surface


def _stream_for(device: torch.device, stream: Any) -> Any:
    """The stream the copy runs on: ``stream``, else the current one on CUDA (None on the CPU)."""
    if stream is not None or device.type != "cuda":
        return stream
    import torch  # noqa: PLC0415

    return torch.cuda.current_stream(device)


def _on(stream: Any) -> Any:
    import torch  # noqa: PLC0415

    return torch.cuda.stream(stream) if stream is not None else _NoStream()


def _software_format(vf: av.VideoFrame) -> str:
    """The layout inside a CUDA hw frame (NVDEC gives nv12 for 8-bit, p010le/p016le for more)."""
    sw = getattr(vf, "sw_format", None)
    return str(sw.name) if sw is not None else "unknown"


class _NoStream:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
