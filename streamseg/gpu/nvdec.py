"""The capture side of GPU decoding: NVDEC settings, and decoded frames turned into device surfaces.

One ``SurfaceImporter`` per source (it owns that source's CUDA stream). Each frame is copied out of
the decoder at once (``device.surface.import_video_frame``). What cannot stay on the device is said
once per source and handled on the host instead, so nothing is lost:

* NVDEC refuses the stream (a codec or profile it lacks, also after a reconnect): FFmpeg decodes on
  the CPU and the planes are uploaded (one log line);
* a format we do not convert on the device (10-bit, 4:2:2, 4:4:4): the frame is handed over as
  host BGR, as with ``--decode cpu`` (one log line).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from streamseg.gpu.decode import DecodeTarget

if TYPE_CHECKING:
    import av

    from streamseg.gpu.surface import YuvSurface

logger = logging.getLogger(__name__)


def nvdec_accel(index: int) -> Any:
    """PyAV's hardware decoding settings for CUDA device ``index``: frames stay in device memory; a
    stream NVDEC cannot take is decoded in software instead (``SurfaceImporter`` notices and says so)."""
    from av.codec.hwaccel import HWAccel  # noqa: PLC0415

    return HWAccel("cuda", device=str(index), allow_software_fallback=True, is_hw_owned=True)


class SurfaceImporter:
    """Copies one source's decoded frames into ``YuvSurface``s on the decode target's device."""

    def __init__(self, target: DecodeTarget, label: str, nvdec_opened: bool) -> None:
        """``nvdec_opened``: the stream was opened with NVDEC (so CPU frames mean NVDEC refused it)."""
        self.target = target
        self.label = label
        self.nvdec_opened = nvdec_opened
        self._stream: Any = None
        self._said: set[str] = set()

    def take(self, vf: av.VideoFrame, turns: int) -> YuvSurface | None:
        """The frame as a surface (rotated upright), or None when it must be converted on the host."""
        from streamseg.gpu.surface import IMPORTABLE, import_video_frame  # noqa: PLC0415

        on_gpu = vf.format.name == "cuda"
        fmt = str(vf.sw_format.name) if on_gpu and vf.sw_format is not None else vf.format.name
        if self.nvdec_opened and not on_gpu:
            self._once("software", "NVDEC does not take this stream; decoding on the CPU, then uploading")
        if fmt not in IMPORTABLE:
            self._once(fmt, f"{fmt} frames are converted on the host (the device path takes 8-bit 4:2:0)")
            return None
        surface = import_video_frame(vf, self.target.device, self._cuda_stream())
        if turns:
            surface = surface.rotated(turns)
        return surface

    def _cuda_stream(self) -> Any:
        if self.target.device.type != "cuda":
            return None
        if self._stream is None:
            import torch  # noqa: PLC0415

            self._stream = torch.cuda.Stream(self.target.device)  # type: ignore[no-untyped-call]
        return self._stream

    def _once(self, key: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            logger.warning("%s: %s", self.label, message)
