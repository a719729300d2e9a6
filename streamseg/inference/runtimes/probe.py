"""What this machine can run: GPU, driver, CUDA, TensorRT, NVML, ONNX Runtime providers, PyTorch.

Every probe is cheap, never raises, and returns a reason when something is missing, so ``auto``
backend selection and ``streamseg doctor`` tell the same story. Nothing heavy is imported at module
level; TensorRT itself is only looked at through ``backends.tensorrt`` (the one module allowed to
import it).
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``streamseg doctor``: what, whether it works, and the detail or why not."""

    name: str
    ok: bool
    detail: str


def parse_device(device: str) -> tuple[str, int]:
    """``"cpu"`` -> ("cpu", 0); ``"cuda"`` / ``"cuda:1"`` -> ("cuda", index)."""
    if device == "cpu":
        return "cpu", 0
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if match is None:
        from streamseg.errors import ConfigError  # noqa: PLC0415

        raise ConfigError(f"device must be 'cpu' or 'cuda:N', got {device!r}")
    return "cuda", int(match.group(1) or 0)


def torch_check() -> Check:
    if importlib.util.find_spec("torch") is None:
        return Check("PyTorch", False, "not installed (pip install torch)")
    try:
        import torch  # noqa: PLC0415
    except Exception as exc:
        return Check("PyTorch", False, f"import failed: {exc}")
    cuda = torch.version.cuda or "none (CPU build)"
    return Check("PyTorch", True, f"{torch.__version__}, built for CUDA {cuda}")


def cuda_check(index: int = 0) -> Check:
    """CUDA as PyTorch sees it: the runtime both GPU backends use."""
    try:
        import torch  # noqa: PLC0415
    except Exception:
        return Check("CUDA (PyTorch)", False, "PyTorch is not importable")
    if torch.version.cuda is None:
        return Check("CUDA (PyTorch)", False, f"torch {torch.__version__} is a CPU-only build")
    try:
        count = torch.cuda.device_count()
    except Exception as exc:
        return Check("CUDA (PyTorch)", False, f"cannot query devices: {exc}")
    if count == 0 or not torch.cuda.is_available():
        return Check("CUDA (PyTorch)", False, "no CUDA device visible (driver missing or no GPU)")
    if index >= count:
        return Check("CUDA (PyTorch)", False, f"cuda:{index} requested but only {count} device(s)")
    name = torch.cuda.get_device_name(index)
    major, minor = torch.cuda.get_device_capability(index)
    return Check("CUDA (PyTorch)", True, f"cuda:{index} {name}, compute capability {major}.{minor}")


def nvml_check(index: int = 0) -> Check:
    """The NVIDIA driver through NVML (also what GPU memory telemetry reads)."""
    if importlib.util.find_spec("pynvml") is None:
        return Check("NVML / driver", False, "pynvml missing (pip install 'streamseg[gpu]')")
    try:
        import pynvml  # noqa: PLC0415

        pynvml.nvmlInit()
    except Exception as exc:
        return Check("NVML / driver", False, f"NVML cannot initialise: {exc} (no NVIDIA driver?)")
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(handle)
        mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
        detail = f"driver {_text(driver)}, GPU {index} {_text(name)}, {int(mem.total) / 2**30:.1f} GiB"
        return Check("NVML / driver", True, detail)
    except Exception as exc:
        return Check("NVML / driver", False, f"NVML query failed: {exc}")
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            log.debug("nvmlShutdown failed", exc_info=True)


def tensorrt_check() -> Check:
    from streamseg.inference.runtimes.tensorrt.runtime import tensorrt_version  # noqa: PLC0415

    version, why = tensorrt_version()
    if version is None:
        return Check("TensorRT", False, why)
    return Check("TensorRT", True, version)


def onnxruntime_check() -> Check:
    try:
        import onnxruntime as ort  # noqa: PLC0415
    except Exception as exc:
        return Check("ONNX Runtime", False, f"import failed: {exc}")
    return Check(
        "ONNX Runtime", True, f"{ort.__version__}, providers: {', '.join(ort.get_available_providers())}"
    )


def torchvision_check() -> Check:
    """Informational: only ``--model torchvision:NAME`` (exporting Mask R-CNN) imports torchvision."""
    found = importlib.util.find_spec("torchvision") is not None
    return Check(
        "torchvision",
        True,
        "installed (used only to export torchvision: models)"
        if found
        else "not installed (needed only for torchvision: models)",
    )


def gpu_present(index: int = 0) -> bool:
    return cuda_check(index).ok


def choose_backend(requested: str, device: str, warn: bool = True) -> tuple[str, str, str]:
    """Resolve ``auto``: (backend, device, why). TensorRT if importable and a GPU is there, else PyTorch
    CUDA, else ONNX Runtime. ``--device cpu`` with ``auto`` means ONNX Runtime on the CPU."""
    if requested != "auto":
        return requested, device, "requested"
    kind, index = parse_device(device)
    if kind == "cpu":
        return "onnxruntime", "cpu", "auto with --device cpu"
    cuda = cuda_check(index)
    if not cuda.ok:
        if warn:
            log.warning("--backend auto: no usable GPU (%s); using ONNX Runtime on the CPU", cuda.detail)
        return "onnxruntime", "cpu", f"no GPU: {cuda.detail}"
    trt = tensorrt_check()
    if trt.ok:
        return "tensorrt", device, f"TensorRT {trt.detail} and {cuda.detail}"
    return "torch", device, f"{cuda.detail}; TensorRT unavailable: {trt.detail}"


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


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
