"""Step two: NVDEC decodes like the CPU does, on a tiny clip made here.

Why a clip made here: the check must run on a user's machine, which has none of our media; six small
frames of libx264 (which PyAV's wheels carry) take a few milliseconds to make. They are decoded twice,
through the same ``PyAVFileSource`` a run uses: into device surfaces with NVDEC, and on the CPU; the
BGR pictures must agree within ``MAX_MEAN_DIFF`` (the two colour conversions round differently by
about one level). A failure turns NVDEC off for the run: frames are decoded on the CPU.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import av
import numpy as np

from streamseg.capture import PyAVFileSource
from streamseg.gpu.decode import DecodeTarget, nvdec_problem
from streamseg.gpu.nvdec import nvdec_accel
from streamseg.pipeline.selfcheck.pictures import pattern_picture
from streamseg.pipeline.selfcheck.steps import NVDEC, Step, said

logger = logging.getLogger(__name__)

CLIP_WH = (256, 144)
CLIP_FRAMES = 6
MAX_MEAN_DIFF = 2.0  # mean absolute BGR difference per frame, in levels of 255


def decode_step(target: DecodeTarget) -> Step:
    """Whether frames decoded for ``target`` match the CPU decoder's (NVDEC when ``target.nvdec``;
    a CPU target checks the surface path alone, which is how CPU CI runs it)."""
    if target.nvdec:
        problem = nvdec_problem()
        if problem is not None:
            return Step(NVDEC, False, problem)
    with tempfile.TemporaryDirectory(prefix="streamseg-selfcheck-") as folder:
        clip = write_clip(Path(folder) / "selfcheck.mp4")
        if clip is None:
            return Step.unchecked(NVDEC, "this FFmpeg has no libx264 to make a test clip")
        try:
            refused = nvdec_refuses(clip, target.index) if target.nvdec else None
            if refused is not None:
                return Step(NVDEC, False, refused)
            diff = decode_difference(clip, target)
        except Exception as exc:  # the decoder's or CUDA's, as one line
            logger.debug("NVDEC self-check failed", exc_info=True)
            return Step(NVDEC, False, f"decoding failed: {said(exc)}")
    if diff > MAX_MEAN_DIFF:
        return Step(
            NVDEC, False, f"its frames differ from the CPU's (mean {diff:.1f} levels > {MAX_MEAN_DIFF:g})"
        )
    return Step(NVDEC, True)


def write_clip(path: Path) -> Path | None:
    """``CLIP_FRAMES`` frames of a moving pattern as H.264 yuv420p at ``path``; None without libx264."""
    try:
        av.codec.Codec("libx264", "w")
    except (av.FFmpegError, ValueError):
        return None
    width, height = CLIP_WH
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "12", "g": "3"}
        for i in range(CLIP_FRAMES):
            frame = av.VideoFrame.from_ndarray(pattern_picture(i, (height, width)), format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def nvdec_refuses(clip: Path, index: int) -> str | None:
    """None when NVDEC itself decodes ``clip`` (frames in device memory), else why not."""
    with av.open(str(clip), hwaccel=nvdec_accel(index)) as container:
        for vf in container.decode(video=0):
            if vf.format.name != "cuda":
                return "NVDEC does not decode plain H.264 here (FFmpeg fell back to software)"
            return None
    return "NVDEC decoded no frame of the test clip"


def decode_difference(clip: Path, target: DecodeTarget) -> float:
    """The largest per-frame mean absolute BGR difference between ``target``'s frames and the CPU's."""
    on_target = _pictures(PyAVFileSource(str(clip), "selfcheck", decode=target))
    on_host = _pictures(PyAVFileSource(str(clip), "selfcheck"))
    if len(on_target) != len(on_host) or not on_host:
        raise RuntimeError(f"NVDEC decoded {len(on_target)} frames of {len(on_host)}")
    return max(float(np.abs(a.astype(np.int16) - b).mean()) for a, b in zip(on_target, on_host, strict=True))


def _pictures(source: PyAVFileSource) -> list[np.ndarray]:
    """Every frame as host BGR, each copied down at once (a surface's ring slot is given back)."""
    pictures = []
    with source:
        while (frame := source.read()) is not None:
            pictures.append(frame.image.copy())
    return pictures
