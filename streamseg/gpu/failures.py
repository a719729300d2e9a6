"""CUDA and NVDEC failures as one line: what happened, and the flag that goes round it.

Why here, in the device layer: a CUDA error can surface anywhere (the model's load, a graph's capture,
a stage thread, the decoder), and every place that meets one must say the same thing. The first GPU
this code meets is a user's, so a failure must never read ``internal error: RuntimeError: CUDA
error: ...``: ``describe`` names it and the way round (``--cuda-graphs off``, ``--decode cpu``,
``--backend onnxruntime``, a smaller ``--batch``); ``as_gpu_error`` makes it a ``GpuError`` (exit 1).

Torch is never imported here: its exception classes are looked at only when it is already loaded.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from streamseg.errors import GpuError, StreamsegError

# What PyTorch appends to every CUDA error ("... to enable device-side assertions."): never the cause.
_BOILERPLATE = re.compile(
    r"^(?:CUDA kernel errors might|For debugging consider|Compile with `TORCH_USE_CUDA_DSA`|Search for `cuda)"
    r".*$",
    re.MULTILINE,
)
DETAIL_CHARS = 110  # the quoted part of the original message, at most
CHAIN_DEPTH = 8  # how far ``__cause__``/``__context__`` are followed


@dataclass(frozen=True)
class GpuFailure:
    """A recognised failure: ``kind`` (for callers that act on it), the words and the way round."""

    kind: str
    what: str
    detail: str
    hint: str

    @property
    def line(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.what}{detail}: {self.hint}" if self.hint else f"{self.what}{detail}"


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    what: str
    hint: str


def _rule(kind: str, pattern: str, what: str, hint: str) -> _Rule:
    return _Rule(kind, re.compile(pattern, re.IGNORECASE), what, hint)


MEMORY_HINT = "use a smaller --batch (or --imgsz), a smaller --gpu-memory, or --cuda-graphs off"
REPORT = "if it happens again, report it with the output of --debug"
# First match wins: the specific before the general ("CUBLAS_STATUS_ALLOC_FAILED" is memory, not cuBLAS).
RULES = (
    _rule(
        "out of memory",
        r"CUDA out of memory|CUDA error: out of memory|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation"
        r"|STATUS_ALLOC_FAILED|out of memory on device|CUDA failure \d+: out of memory",
        "the GPU ran out of memory",
        f"{MEMORY_HINT}; other programs on this GPU use its memory too",
    ),
    _rule(
        "no kernel image",
        r"no kernel image is available|NoKernelImageForDevice|CUDA_ERROR_NO_BINARY_FOR_GPU"
        r"|invalid device function|not compatible with the current PyTorch installation",
        "this PyTorch has no GPU code for this GPU",
        "install a PyTorch build for it (see pytorch.org), or use --backend onnxruntime",
    ),
    _rule(
        "driver too old",
        r"driver on your system is too old|driver version is insufficient|CUDA_ERROR_INSUFFICIENT_DRIVER"
        r"|PTX was compiled with an unsupported toolchain|unsupported display driver / cuda driver"
        r"|forward compatibility was attempted",
        "the NVIDIA driver is too old for this PyTorch",
        "update the driver, or install a PyTorch built for an older CUDA; --backend onnxruntime --device "
        "cpu runs without it",
    ),
    _rule(
        "no gpu",
        r"Found no NVIDIA driver|no CUDA-capable device is detected|Torch not compiled with CUDA enabled"
        r"|CUDA driver initialization failed|invalid device ordinal",
        "no usable NVIDIA GPU",
        "use --device cpu, or install the NVIDIA driver and the CUDA build of PyTorch",
    ),
    _rule(
        "gpu busy",
        r"busy or unavailable",
        "the GPU is busy or reserved by another process (exclusive compute mode)",
        "free it, pick another with --device cuda:N, or use --device cpu",
    ),
    _rule(
        "graph capture",
        r"stream is capturing|capturing (?:blocking )?stream|during (?:CUDA graph )?capture|stream capture"
        r"|StreamCapture|capture was not initiated|capture sequence|uncaptured work|graph capture|CUDAGraph"
        r"|CUDA graphs? must",
        "capturing a CUDA graph failed",
        "rerun with --cuda-graphs off",
    ),
    _rule(
        "device-side assert",
        r"device-side assert",
        "a GPU kernel failed a check (device-side assert)",
        f"rerun with --cuda-graphs off; {REPORT} and CUDA_LAUNCH_BLOCKING=1",
    ),
    _rule(
        "illegal memory access",
        r"illegal memory access|illegal address|misaligned address|illegal instruction"
        r"|unspecified launch failure",
        "a GPU kernel crashed",
        f"rerun with --cuda-graphs off, then also --decode cpu; {REPORT}",
    ),
    _rule(
        "launch timeout",
        r"launch timed out",
        "a GPU kernel ran too long and the display's watchdog stopped it",
        "use a smaller --batch, or a GPU that drives no display",
    ),
    _rule(
        "hardware",
        r"ECC error|fallen off the bus|hardware stack error",
        "the GPU reported a hardware fault",
        "check it with nvidia-smi and reset it; --device cpu runs without it",
    ),
    _rule(
        "cudnn",
        r"cuDNN|CUDNN_STATUS|unable to find an engine to execute",
        "cuDNN failed",
        f"most often GPU memory: {MEMORY_HINT}; or --backend onnxruntime",
    ),
    _rule(
        "cublas",
        r"CUBLAS_STATUS|cuBLAS",
        "cuBLAS failed",
        f"most often GPU memory: {MEMORY_HINT}; or --backend onnxruntime",
    ),
    _rule(
        "nvdec",
        r"NVDEC|cuvid|hwaccel|hardware decod",
        "the GPU's video decoder (NVDEC) failed",
        "rerun with --decode cpu",
    ),
)
GENERIC = _rule(
    "cuda",
    r"CUDA error|CUDA_ERROR_|cudaError|CUDA driver error|CUDA failure \d+",  # the last: ONNX Runtime's
    "CUDA failed",
    f"rerun with --cuda-graphs off, then also --decode cpu; {REPORT}",
)


def describe(exc: BaseException) -> GpuFailure | None:
    """The GPU failure ``exc`` is, or was caused by (``__cause__``/``__context__``), else None.

    A ``StreamsegError`` is already a line for the user and is not looked into, except a ``GpuError``.
    """
    if isinstance(exc, GpuError):
        return GpuFailure(exc.kind, str(exc), "", "")
    if isinstance(exc, StreamsegError):
        return None
    generic: GpuFailure | None = None
    for error in _chain(exc):
        text = _BOILERPLATE.sub("", str(error))
        for rule in (*RULES, GENERIC):
            if rule.pattern.search(text) or (rule.kind == "out of memory" and _is_torch_oom(error)):
                failure = _failure(rule, error)
                if rule is not GENERIC:
                    return failure
                generic = generic or failure
                break
        else:
            if generic is None and _is_accelerator_error(error):
                generic = _failure(GENERIC, error)
    return generic


def one_line(exc: BaseException) -> str | None:
    """``describe(exc)``'s line, or None when ``exc`` is not a GPU failure."""
    failure = describe(exc)
    return None if failure is None else failure.line


def as_gpu_error(exc: BaseException) -> GpuError | None:
    """``exc`` as a ``GpuError`` (its cause set to ``exc``), or None when it is not a GPU failure."""
    if isinstance(exc, GpuError):
        return exc
    failure = describe(exc)
    if failure is None:
        return None
    error = GpuError(failure.line, failure.kind)
    error.__cause__ = exc
    return error


def _failure(rule: _Rule, error: BaseException) -> GpuFailure:
    what, detail = rule.what, _detail(rule.kind, str(error))
    if rule.kind == "driver too old":
        torch = sys.modules.get("torch")
        cuda = getattr(getattr(torch, "version", None), "cuda", None)
        what = f"{what}, built for CUDA {cuda}" if cuda else what
        found = re.search(r"found version (\d+)", str(error))  # the driver's CUDA version, e.g. 11040
        if found:
            version = int(found.group(1))
            detail = f"the driver supports CUDA {version // 1000}.{version % 1000 // 10}"
    return GpuFailure(rule.kind, what, detail, rule.hint)


def _detail(kind: str, text: str) -> str:
    """The part of the original message worth quoting: its first sentence, without "CUDA error: "."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if kind == "out of memory":
        asked = re.search(r"tried to allocate ([\d.]+ \w+)", text, re.IGNORECASE)
        free = re.search(r"total capacity of ([\d.]+ \w+) of which ([\d.]+ \w+) is free", text)
        if asked:
            left = f", {free.group(2)} free of {free.group(1)}" if free else ""
            return f"tried to allocate {asked.group(1)}{left}"
    first = re.sub(r"^(?:CUDA error|RuntimeError):\s*", "", first)
    first = first.split(". ")[0].rstrip(".")
    return first if len(first) <= DETAIL_CHARS else first[: DETAIL_CHARS - 3].rstrip() + "..."


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it, breadth first, each once."""
    seen: set[int] = set()
    level = [exc]
    for _ in range(CHAIN_DEPTH):
        following: list[BaseException] = []
        for error in level:
            if id(error) in seen:
                continue
            seen.add(id(error))
            yield error
            following.extend(e for e in (error.__cause__, error.__context__) if e is not None)
        if not following:
            return
        level = following


def _is_torch_oom(error: BaseException) -> bool:
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None)
    return isinstance(oom, type) and isinstance(error, oom)


def _is_accelerator_error(error: BaseException) -> bool:
    torch = sys.modules.get("torch")
    accelerator = getattr(torch, "AcceleratorError", None)
    return isinstance(accelerator, type) and isinstance(error, accelerator)
