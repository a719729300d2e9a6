"""Which H.264 encoder records: x264 on the CPU, or NVENC where the GPU has one.

``--encoder auto`` takes NVENC when it opens and falls back to x264 with one log line where it does
not (the H100/H200 and other compute GPUs have no NVENC; a CPU-only machine has no driver). The
probe opens a tiny encoder once, so a GPU without NVENC is known before any recording starts.
"""

from __future__ import annotations

import functools
import logging
from fractions import Fraction
from typing import Any

import av

from streamseg.config import ENCODER_CHOICES
from streamseg.errors import ConfigError

logger = logging.getLogger(__name__)

X264 = "libx264"
NVENC = "h264_nvenc"

# x264 preset names -> the nearest NVENC preset (p1 fastest .. p7 best)
_NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p3",
    "fast": "p4",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
}


def encoder_options(codec: str, crf: int, preset: str, low_latency: bool, threads: int) -> dict[str, str]:
    """The FFmpeg options for ``codec`` that give what ``--crf``/``--preset`` ask for, no B-frames."""
    if codec == NVENC:
        options = {"preset": _NVENC_PRESETS.get(preset, "p4"), "rc": "vbr", "cq": str(crf), "bf": "0"}
        if low_latency:
            options.update({"tune": "ll", "zerolatency": "1", "delay": "0"})
        return options
    options = {"crf": str(crf), "preset": preset, "bf": "0"}
    if low_latency:
        options["tune"] = "zerolatency"
    if threads > 0:
        options["threads"] = str(threads)
    return options


@functools.cache
def nvenc_problem() -> str | None:
    """None when an NVENC encoder opens on this machine, else FFmpeg's reason (probed once)."""
    try:
        ctx: Any = av.CodecContext.create(NVENC, "w")
    except (av.FFmpegError, ValueError) as exc:  # this FFmpeg has no NVENC encoder at all
        return f"this FFmpeg has no {NVENC} ({exc})"
    ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
    ctx.time_base = Fraction(1, 30)
    try:
        ctx.open()
    except (av.FFmpegError, OSError) as exc:
        reason = str(getattr(exc, "strerror", None) or exc).strip() or type(exc).__name__
        return f"{reason}: no NVIDIA driver, or a GPU without NVENC"
    finally:
        del ctx
    return None


def choose_encoder(mode: str, on_gpu: bool) -> str:
    """The codec to record with for ``--encoder mode``; ``on_gpu``: the model runs on a CUDA device.

    Raises ``ConfigError`` for ``nvenc`` where NVENC cannot open.
    """
    if mode == "x264":
        return X264
    if mode == "nvenc":
        problem = nvenc_problem()
        if problem is not None:
            raise ConfigError(
                f"--encoder nvenc: NVENC does not open on this machine ({problem}); "
                "use --encoder x264 (or auto)"
            )
        return NVENC
    if mode != "auto":
        raise ConfigError(f"output.encoder must be one of {', '.join(ENCODER_CHOICES)}, got {mode!r}")
    if not on_gpu:
        return X264
    problem = nvenc_problem()
    if problem is None:
        logger.info("--encoder auto: recording with NVENC")
        return NVENC
    logger.info("--encoder auto: NVENC does not open here (%s); recording with x264 on the CPU", problem)
    return X264
