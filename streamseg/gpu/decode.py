"""Where frames are decoded to: host BGR arrays (CPU) or surfaces on the inference device (NVDEC).

``--decode auto|cpu|gpu``. On the GPU path a frame never visits the host: NVDEC decodes it into
device memory, it is copied into a surface of ours, and colour conversion and letterbox happen on
the device straight into the batch input. That only pays when the model runs on that device with
its device path (the torch and TensorRT backends on CUDA), so ``auto`` picks it exactly then, and
says per source why not otherwise. ``gpu`` where it cannot work is a ``ConfigError`` (exit code 2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamseg.config import DECODE_CHOICES
from streamseg.errors import ConfigError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeTarget:
    """Decode into ``YuvSurface``s on ``device``; ``nvdec``: with NVIDIA's decoder (CUDA devices)."""

    device: torch.device
    nvdec: bool

    @property
    def index(self) -> int:
        return int(self.device.index or 0)


def nvdec_problem() -> str | None:
    """None when PyAV's FFmpeg can decode with CUDA (NVDEC), else why not."""
    from av.codec.hwaccel import hwdevices_available  # noqa: PLC0415

    if "cuda" not in hwdevices_available():
        return "this FFmpeg (PyAV's) was built without CUDA"
    return None


def plan_decode(mode: str, device_path_device: torch.device | None, why_not: str) -> DecodeTarget | None:
    """The decode target for ``--decode mode``.

    ``device_path_device``: where the model's device path runs (None: the model takes host frames,
    and ``why_not`` says why). Returns None for CPU decoding.
    """
    if mode not in DECODE_CHOICES:
        raise ConfigError(f"pipeline.decode must be one of {', '.join(DECODE_CHOICES)}, got {mode!r}")
    if mode == "cpu":
        return None
    if device_path_device is None:
        if mode == "gpu":
            raise ConfigError(f"--decode gpu: {why_not}")
        return None
    if device_path_device.type != "cuda":  # a device path on the CPU (tests): surfaces, no NVDEC
        return DecodeTarget(device_path_device, nvdec=False)
    problem = nvdec_problem()
    if problem is not None:
        if mode == "gpu":
            raise ConfigError(f"--decode gpu: {problem}; use --decode cpu")
        logger.info("--decode auto: decoding on the CPU (%s)", problem)
        return None
    return DecodeTarget(device_path_device, nvdec=True)
