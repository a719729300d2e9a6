"""One source's decoded frames as pictures: device surfaces where the run decodes to a device, host
BGR otherwise, and host BGR for every frame the device path does not take (``gpu.nvdec``).

A CUDA frame (NVDEC) that has to go through the host is downloaded by PyAV's reformatter itself
(``av_hwframe_transfer_data``) before swscale converts it. Should even that fail, the frame is lost
and the log says so in one line (then counts them at debug level); the stream goes on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from streamseg.gpu.decode import DecodeTarget
from streamseg.gpu.nvdec import SurfaceImporter
from streamseg.types import UInt8Array

if TYPE_CHECKING:
    from streamseg.gpu.surface import YuvSurface

logger = logging.getLogger(__name__)


class PictureMaker:
    """Turns one source's decoded frames into ``Frame`` pictures (see the module docstring)."""

    def __init__(
        self, label: str, bgr: VideoReformatter, threads: int, decode: DecodeTarget | None, nvdec: bool
    ) -> None:
        """``bgr``: the source's colour converter; ``threads``: swscale's, as the decoder's (0: FFmpeg's
        choice); ``decode``: surfaces on that device; ``nvdec``: the stream was opened with NVDEC."""
        self.label = label
        self.threads = threads
        self._bgr = bgr
        self._importer = SurfaceImporter(decode, label, nvdec) if decode is not None else None
        self.lost = 0  # frames that could not be brought to host memory

    def picture(self, vf: av.VideoFrame, turns: int) -> tuple[UInt8Array | None, YuvSurface | None]:
        """(image, None), (None, surface), or (None, None) for a frame that is lost (logged)."""
        if self._importer is not None:
            surface = self._importer.take(vf, turns)
            if surface is not None:
                return None, surface
        try:
            bgr = self._bgr.reformat(vf, format="bgr24", threads=self.threads)
        except (av.error.FFmpegError, RuntimeError, ValueError, MemoryError) as exc:
            if vf.format.name != "cuda":
                raise
            self.lost += 1
            level = logging.WARNING if self.lost == 1 else logging.DEBUG
            why = f"{type(exc).__name__}: {exc}"
            message = "%s: a frame NVDEC decoded could not be copied to host memory (%s); lost (%d so far)"
            logger.log(level, message, self.label, why, self.lost)
            return None, None
        image = np.ascontiguousarray(bgr.to_ndarray(), dtype=np.uint8)
        if turns:  # phone videos: stored sideways plus a display matrix saying how to turn them
            image = np.ascontiguousarray(np.rot90(image, turns))
        return image, None
