"""Decoded pictures kept in accelerator memory: ``YuvSurface`` and the copy out of a PyAV frame.

A frame NVDEC decoded lives in FFmpeg's small pool of CUDA surfaces; holding it in a queue would
stall the decoder. ``import_video_frame`` therefore copies the planes at once (DLPack, no host
round trip) into tensors of our own and waits for that copy before the PyAV frame is let go. The
same function takes a frame decoded on the CPU (yuv420p, nv12, yuvj420p): its planes are uploaded,
which is how a stream NVDEC refuses still reaches the device path, and how CPU CI exercises it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.gpu.colour import YuvCoefficients, coefficient_table, yuv_to_bgr
from streamseg.gpu.ring import SurfaceRing, ring_for
from streamseg.types import UInt8Array

if TYPE_CHECKING:
    import av
    import torch

# Software pixel formats whose planes we can lay out as luma + interleaved 4:2:0 chroma.
PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})
SEMI_PLANAR_420 = frozenset({"nv12"})
IMPORTABLE = PLANAR_420 | SEMI_PLANAR_420


@dataclass(frozen=True, slots=True, weakref_slot=True)
class YuvSurface:
    """One 4:2:0 8-bit picture on a torch device: luma (H, W) and chroma (ceil(H/2), ceil(W/2), 2).

    ``ring``/``slot``: the planes are slot ``slot`` of that ring (``gpu.ring``), given back when the
    surface is garbage; None for a surface with tensors of its own.
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

    def rotated(self, turns: int) -> YuvSurface:
        """Turned ``turns`` quarter turns counter-clockwise (as ``np.rot90``): phone videos."""
        import torch  # noqa: PLC0415

        y = torch.rot90(self.y, turns, (0, 1)).contiguous()
        uv = torch.rot90(self.uv, turns, (0, 1)).contiguous()
        return YuvSurface(y, uv, self.coefficients)  # tensors of its own: out of the ring

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
    vf: av.VideoFrame, device: torch.device, stream: Any = None, use_ring: bool = True
) -> YuvSurface:
    """Copy a decoded frame (CUDA hw frame or CPU 4:2:0) into a ``YuvSurface`` on ``device``: a free
    slot of the ring for its size (``gpu.ring``), or tensors of its own when the ring is full.

    Returns only once the copy is done (``stream`` is synchronised), so the caller may release ``vf``
    and its decoder surface right away. Raises ``ValueError`` for pixel formats we cannot import.
    """
    import torch  # noqa: PLC0415

    on_gpu = vf.format.name == "cuda"
    fmt = _software_format(vf) if on_gpu else vf.format.name
    if fmt not in IMPORTABLE:
        raise ValueError(f"cannot keep {fmt} frames on the device (only 8-bit 4:2:0)")
    h, w = vf.height, vf.width
    ch, cw = (h + 1) // 2, (w + 1) // 2
    coefficients = YuvCoefficients.for_frame(int(vf.colorspace), int(vf.color_range))
    from torch.utils.dlpack import from_dlpack  # noqa: PLC0415

    planes = [from_dlpack(plane.__dlpack__()) for plane in vf.planes]
    ring = ring_for(device, (h, w)) if use_ring else None
    slot = ring.acquire() if ring is not None else None
    context = torch.cuda.stream(stream) if stream is not None else _NoStream()
    with context:
        if ring is not None and slot is not None:
            ring.before_write(stream)
            y, uv = ring.y[slot], ring.uv[slot]
        else:
            y = torch.empty((h, w), dtype=torch.uint8, device=device)
            uv = torch.empty((ch, cw, 2), dtype=torch.uint8, device=device)
        y.copy_(planes[0][:h, :w], non_blocking=True)
        if fmt in SEMI_PLANAR_420:
            uv.copy_(planes[1][:ch, :cw], non_blocking=True)
        else:
            uv[..., 0].copy_(planes[1][:ch, :cw], non_blocking=True)
            uv[..., 1].copy_(planes[2][:ch, :cw], non_blocking=True)
    if stream is not None:
        stream.synchronize()  # the decoder may reuse its surface as soon as vf is released
    if ring is None or slot is None:
        return YuvSurface(y, uv, coefficients)
    surface = YuvSurface(y, uv, coefficients, ring, slot)
    weakref.finalize(surface, ring.release, slot)
    return surface


def _software_format(vf: av.VideoFrame) -> str:
    """The layout inside a CUDA hw frame (NVDEC gives nv12 for 8-bit, p010le/p016le for more)."""
    sw = getattr(vf, "sw_format", None)
    return str(sw.name) if sw is not None else "unknown"


class _NoStream:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
