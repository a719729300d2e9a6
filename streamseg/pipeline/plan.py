"""Where the work of a run happens, decided before anything opens: the runtime, where frames are
decoded, where masks are drawn, which encoder records; and what ``streamseg doctor`` reports.

Decode (NVDEC or the CPU), postprocess and overlay (on the device or the host) and the encoder (NVENC
or x264) all follow from one question, where the model's device path runs, so they are answered
together here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamseg.config import Config
from streamseg.gpu.budget import configure_budget
from streamseg.gpu.decode import DecodeTarget, plan_decode
from streamseg.inference.input_size import known_input_size
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.runtimes.probe import (
    Check,
    cuda_check,
    nvml_check,
    onnxruntime_check,
    tensorrt_check,
    torch_check,
    torchvision_check,
)
from streamseg.inference.runtimes.select import select_backend
from streamseg.record.encoders import X264, choose_encoder

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class RunPlan:
    """Where a run's work happens, decided once before anything opens."""

    runtime: str  # "onnxruntime on cpu (auto with --device cpu)", or the lent backend's
    device_path: torch.device | None  # where the model's device path runs; None: frames go from the host
    host_why: str  # why frames stay on the host, when they do
    decode: DecodeTarget | None  # None: decoded on the CPU
    codec: str  # the recordings' encoder

    def lines(self, decode_mode: str) -> list[str]:
        """The plan as the start-up block and ``streamseg doctor`` print it."""
        if self.decode is not None:
            how = "NVDEC" if self.decode.nvdec else "the CPU into device memory"
            decode = f"on {self.decode.device} with {how}"
        else:
            decode = "on the CPU" + (" (--decode cpu)" if decode_mode == "cpu" else "")
        if self.device_path is not None:
            work = f"on {self.device_path}: letterbox, NMS, masks and their drawing, one download per batch"
        else:
            work = f"on the host ({self.host_why})"
        return [
            f"model:        {self.runtime}",
            f"decode:       {decode}; webcams through OpenCV on the host",
            f"postprocess:  {work}",
            f"recordings:   {self.codec}",
        ]


def plan_run(cfg: Config, backend: InferenceBackend | None = None) -> RunPlan:
    """Decide where ``cfg``'s work runs; ``backend``: a runtime the caller lends instead of loading
    ``cfg.model``. Raises ``ConfigError`` for a ``--decode`` or ``--encoder`` this machine cannot do."""
    device, why, runtime = _device_path(cfg, backend)
    target = plan_decode(cfg.pipeline.decode, device, why)
    if device is not None:  # decoded frames and captured graphs share pipeline.gpu_memory
        configure_budget(cfg.pipeline.gpu_memory, device)
    if device is not None and target is None:
        why = "NVDEC is not available"
    on_gpu = device is not None and device.type == "cuda"
    wants_encoder = cfg.output.record or cfg.output.encoder == "nvenc"
    codec = choose_encoder(cfg.output.encoder, on_gpu) if wants_encoder else X264
    return RunPlan(runtime, device, why, target, codec)


def _device_path(cfg: Config, backend: InferenceBackend | None) -> tuple[torch.device | None, str, str]:
    """Where the model's device path will run, known before the model loads (or from the lent
    backend): (device or None, why frames go from the host, the runtime in words)."""
    if backend is not None:
        device_backend = backend.device_path()
        device = device_backend.device if device_backend is not None else None
        return device, "the backend takes frames from the host", f"{type(backend).__name__} (given)"
    name, device_name, why = select_backend(cfg.model, quiet=True)
    size = known_input_size(cfg.model) or "imgsz: the checkpoint's, once downloaded"  # as Ultralytics
    runtime = f"{name} on {device_name} ({why}); {size}"
    if cfg.sam.model:
        return None, "SAM reads the frames on the host", runtime
    if name not in ("torch", "tensorrt"):
        return (
            None,
            f"the {name} backend takes frames from the host; GPU frames need torch or tensorrt",
            runtime,
        )
    if device_name == "cpu":
        return None, "the model runs on the CPU (--device cpu)", runtime
    import torch  # noqa: PLC0415 - only on the GPU path

    return torch.device(device_name), "", runtime


def video_checks(index: int = 0) -> list[Check]:
    """NVDEC (``--decode gpu``) and NVENC (``--encoder nvenc``) as PyAV's FFmpeg sees them."""
    from streamseg.gpu.decode import nvdec_problem  # noqa: PLC0415
    from streamseg.record.encoders import nvenc_problem  # noqa: PLC0415

    cuda = cuda_check(index)
    problem = nvdec_problem() or (None if cuda.ok else f"no CUDA device for the frames ({cuda.detail})")
    nvdec = Check("NVDEC (PyAV)", problem is None, problem or "decodes on the GPU; --decode auto uses it")
    problem = nvenc_problem()
    nvenc = Check("NVENC (PyAV)", problem is None, problem or "opens; --encoder auto records with it")
    return [nvdec, nvenc]


def doctor(index: int = 0) -> list[Check]:
    return [
        nvml_check(index),
        torch_check(),
        cuda_check(index),
        tensorrt_check(),
        onnxruntime_check(),
        torchvision_check(),
        *video_checks(index),
    ]
