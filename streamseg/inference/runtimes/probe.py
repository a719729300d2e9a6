"""What this machine can run: GPU, driver, CUDA, TensorRT, NVML, ONNX Runtime providers, PyTorch.

Every probe is cheap, never raises, and returns a reason when something is missing, so ``auto``
backend selection and ``streamseg doctor`` tell the same story. Nothing heavy is imported at module
level; TensorRT itself is only looked at through ``runtimes.tensorrt`` (the one package allowed to
import it). Which runtime ``auto`` picks from these facts is ``select``'s one policy.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass

from streamseg.gpu.arch import arch_problem
from streamseg.gpu.failures import one_line
from streamseg.gpu.kernel import launch_problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``streamseg doctor``: what, whether it works, and the detail or why not."""

    name: str
    ok: bool
    detail: str


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
    """CUDA as PyTorch sees it: the runtime both GPU backends use. Not only listed: the wheel must have
    code for the GPU's capability (``gpu.arch``) and a test kernel must run (``gpu.kernel``)."""
    visible = cuda_visible_check(index)
    if not visible.ok:
        return visible
    import torch  # noqa: PLC0415

    try:
        capability = torch.cuda.get_device_capability(index)
    except Exception as exc:
        return Check(visible.name, False, f"cuda:{index}: {one_line(exc) or exc}")
    problem = arch_problem(torch.cuda.get_arch_list(), capability)
    if problem is None:  # the wheel has code for it: run some, and wait for it
        problem = launch_problem(torch.device("cuda", index))
    if problem is not None:
        return Check(visible.name, False, f"{visible.detail}: {problem}")
    return visible


def cuda_visible_check(index: int = 0) -> Check:
    """Whether PyTorch lists CUDA device ``index`` (nothing run on it yet): name and capability."""
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
    try:
        name = torch.cuda.get_device_name(index)
        major, minor = torch.cuda.get_device_capability(index)
    except Exception as exc:
        return Check("CUDA (PyTorch)", False, f"cuda:{index}: {one_line(exc) or exc}")
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
            logger.debug("nvmlShutdown failed", exc_info=True)


def tensorrt_check() -> Check:
    from streamseg.inference.runtimes.tensorrt.library import tensorrt_version  # noqa: PLC0415

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


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
