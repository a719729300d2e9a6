"""The capture side of GPU decoding: NVDEC settings, and decoded frames turned into device surfaces.

One ``SurfaceImporter`` per source (it owns that source's CUDA stream). Each frame is copied out of
the decoder at once (``device.surface.import_video_frame``). What cannot stay on the device is said
once per source and handled on the host instead, so nothing is lost:

* NVDEC refuses the stream (a codec or profile it lacks, also after a reconnect): FFmpeg decodes on
  the CPU and the planes are uploaded (one log line);
* a format we do not convert on the device (10-bit, 4:2:2, 4:4:4): the frame is handed over as
  host BGR, as with ``--decode cpu`` (one log line);
* the import fails (an error from CUDA or DLPack): that frame and every later one of this source is
  converted on the host (one log line; the other sources keep theirs). PyAV's reformatter downloads
  a CUDA frame itself (``av_hwframe_transfer_data``) before converting it, so NVDEC keeps decoding;
* the frames budget is spent (``gpu.storage``): after a short wait for frames in flight, frames go
  through the host until memory frees up (one log line); the first such wait is the back-pressure,
  later frames do not wait again until a frame fits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from streamseg.gpu.decode import DecodeTarget

if TYPE_CHECKING:
    import av

    from streamseg.gpu.surface import YuvSurface

logger = logging.getLogger(__name__)

WAIT_S = 0.5  # how long a capture thread waits for room in the frames budget before using the host


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
        self.failed: str | None = None  # why this source's frames go through the host for good
        self.host_frames = 0  # frames handed over on the host because the frames budget was spent
        self._starved = False  # the last frame found no room even after waiting

    def take(self, vf: av.VideoFrame, turns: int) -> YuvSurface | None:
        """The frame as a surface (rotated upright), or None when it must be converted on the host."""
        from streamseg.gpu.storage import BudgetSpent  # noqa: PLC0415
        from streamseg.gpu.surface import IMPORTABLE, import_video_frame  # noqa: PLC0415

        if self.failed is not None:
            return None
        on_gpu = vf.format.name == "cuda"
        fmt = str(vf.sw_format.name) if on_gpu and vf.sw_format is not None else vf.format.name
        if self.nvdec_opened and not on_gpu:
            self._once("software", "NVDEC does not take this stream; decoding on the CPU, then uploading")
        if fmt not in IMPORTABLE:
            self._once(fmt, f"{fmt} frames are converted on the host (the device path takes 8-bit 4:2:0)")
            return None
        wait_s = 0.0 if self._starved else WAIT_S
        try:
            surface = import_video_frame(
                vf, self.target.device, self._cuda_stream(), turns=turns, wait_s=wait_s
            )
        except BudgetSpent as exc:
            self._starved = True
            self.host_frames += 1
            self._once("budget", f"{exc}; frames go through host memory until it frees up")
            return None
        except (RuntimeError, ValueError, TypeError, BufferError) as exc:  # CUDA, DLPack
            self.failed = _first_line(exc)
            logger.warning(
                "%s: copying a decoded frame into device memory failed (%s); this source's frames are "
                "converted on the host from now on",
                self.label,
                self.failed,
            )
            return None
        self._starved = False
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


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (CUDA errors come with several lines of advice)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
