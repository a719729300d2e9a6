"""The TensorRT library itself: whether it is really there (not only its type stubs), importing it, and
checking a plan's sidecar against this GPU and this TensorRT. The only place ``tensorrt`` is imported,
and only inside functions, so everything else imports on machines without it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamseg.errors import BackendUnavailableError
from streamseg.inference.runtimes.tensorrt.plan import Sidecar, check_sidecar, read_sidecar

if TYPE_CHECKING:
    import tensorrt as trt

INSTALL = "pip install 'streamseg[gpu]' (TensorRT 10 for your CUDA version)"


def tensorrt_version() -> tuple[str | None, str]:
    """(version, "") when the real TensorRT runtime imports, else (None, why not)."""
    if importlib.util.find_spec("tensorrt") is None:
        return None, f"not installed ({INSTALL})"
    try:
        import tensorrt as trt  # noqa: PLC0415
    except Exception as exc:  # a broken install raises anything from OSError to RuntimeError
        return None, f"import failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    version = getattr(trt, "__version__", None)
    if getattr(trt, "__file__", None) is None or not hasattr(trt, "Builder") or version is None:
        return None, f"only type stubs are installed (tensorrt-stubs), not the runtime ({INSTALL})"
    return str(version), ""


def import_tensorrt() -> Any:
    version, why = tensorrt_version()
    if version is None:
        raise BackendUnavailableError(f"TensorRT is unavailable: {why}")
    import tensorrt as trt  # noqa: PLC0415

    return trt


def gpu_identity(index: int) -> tuple[str, str]:
    """(GPU name, compute capability "8.9") of CUDA device ``index``, via PyTorch."""
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available():
        raise BackendUnavailableError("TensorRT needs a CUDA GPU and the CUDA build of PyTorch; none found")
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


def checked_sidecar(plan: Path, device_index: int, trt_mod: Any, model_sha256: str | None = None) -> Sidecar:
    """``plan``'s sidecar, once checked against this GPU, this TensorRT and (when given) the model the
    plan must come from; ``EngineMismatchError`` says why a plan cannot be used."""
    gpu_name, capability = gpu_identity(device_index)
    sidecar = read_sidecar(plan)
    check_sidecar(
        sidecar,
        plan,
        gpu_name=gpu_name,
        compute_capability=capability,
        tensorrt_version=str(trt_mod.__version__),
        model_sha256=model_sha256,
    )
    return sidecar


def trt_logger(trt_mod: Any) -> trt.ILogger:
    logger: trt.ILogger = trt_mod.Logger(trt_mod.Logger.WARNING)
    return logger
