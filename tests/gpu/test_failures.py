"""CUDA failures become one line naming what happened and the flag that goes round it.

The exceptions are the ones PyTorch raises, with their real texts (``torch.OutOfMemoryError`` from the
caching allocator, ``torch.AcceleratorError`` for a CUDA error code, ``RuntimeError`` from CUDA's lazy
initialisation, cuDNN and cuBLAS), raised here on purpose.
"""

from __future__ import annotations

import pytest
import torch

from streamseg.errors import ConfigError, GpuError
from streamseg.gpu.failures import as_gpu_error, describe, one_line

ASYNC_TAIL = (
    "\nCUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below "
    "might be incorrect.\nFor debugging consider passing CUDA_LAUNCH_BLOCKING=1\nCompile with "
    "`TORCH_USE_CUDA_DSA` to enable device-side assertions.\n"
)
OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which "
    "1.25 GiB is free. Including non-PyTorch memory, this process has 77.93 GiB memory in use. Of the "
    "allocated memory 75.50 GiB is allocated by PyTorch, and 1.92 GiB is reserved by PyTorch but "
    "unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for "
    "Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)
OLD_DRIVER = (
    "The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver by "
    "downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx "
    "Alternatively, go to: https://pytorch.org to install a PyTorch version that has been compiled with "
    "your version of the CUDA driver."
)


def cuda_error(text: str) -> BaseException:
    """What PyTorch raises for a CUDA error code (``C10_CUDA_CHECK``)."""
    return torch.AcceleratorError(f"CUDA error: {text}{ASYNC_TAIL}")


CASES = [
    # (exception, kind, words the line must hold: what happened and the way round)
    (
        torch.OutOfMemoryError(OOM),
        "out of memory",
        ["ran out of memory", "2.00 GiB", "1.25 GiB free", "--batch"],
    ),
    (cuda_error("out of memory"), "out of memory", ["ran out of memory", "--batch", "--gpu-memory"]),
    (
        RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        "out of memory",
        ["ran out of memory", "--batch"],
    ),
    (
        cuda_error("no kernel image is available for execution on the device"),
        "no kernel image",
        ["no GPU code for this GPU", "install a PyTorch build", "--backend onnxruntime"],
    ),
    (cuda_error("invalid device function"), "no kernel image", ["no GPU code", "--backend onnxruntime"]),
    (RuntimeError(OLD_DRIVER), "driver too old", ["driver is too old", "CUDA 11.4", "update the driver"]),
    (
        cuda_error("CUDA driver version is insufficient for CUDA runtime version"),
        "driver too old",
        ["driver is too old", "update the driver", "--backend onnxruntime"],
    ),
    (
        cuda_error("the provided PTX was compiled with an unsupported toolchain."),
        "driver too old",
        ["driver is too old", "update the driver"],
    ),
    (
        RuntimeError(
            "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed "
            "a driver from http://www.nvidia.com/Download/index.aspx"
        ),
        "no gpu",
        ["no usable NVIDIA GPU", "--device cpu"],
    ),
    (cuda_error("CUDA-capable device(s) is/are busy or unavailable"), "gpu busy", ["busy", "--device"]),
    (
        cuda_error("device-side assert triggered"),
        "device-side assert",
        ["device-side assert", "--cuda-graphs off", "--debug"],
    ),
    (
        cuda_error("an illegal memory access was encountered"),
        "illegal memory access",
        ["crashed", "illegal memory access", "--cuda-graphs off", "--decode cpu"],
    ),
    (cuda_error("unspecified launch failure"), "illegal memory access", ["crashed", "--cuda-graphs off"]),
    (
        cuda_error("operation not permitted when stream is capturing"),
        "graph capture",
        ["capturing a CUDA graph failed", "--cuda-graphs off"],
    ),
    (
        cuda_error("operation failed due to a previous error during capture"),
        "graph capture",
        ["CUDA graph", "--cuda-graphs off"],
    ),
    (
        cuda_error("the launch timed out and was terminated"),
        "launch timeout",
        ["watchdog", "--batch"],
    ),
    (cuda_error("uncorrectable ECC error encountered"), "hardware", ["hardware fault", "--device cpu"]),
    (
        RuntimeError("cuDNN error: CUDNN_STATUS_NOT_INITIALIZED"),
        "cudnn",
        ["cuDNN failed", "CUDNN_STATUS_NOT_INITIALIZED", "--batch", "--backend onnxruntime"],
    ),
    (
        RuntimeError("CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate(handle)`"),
        "cublas",
        ["cuBLAS failed", "--batch", "--backend onnxruntime"],
    ),
    (
        OSError(22, "Invalid argument; Failed setup for format cuda: hwaccel initialisation returned error"),
        "nvdec",
        ["NVDEC", "--decode cpu"],
    ),
    (
        cuda_error("operation would make the legacy stream depend on a capturing blocking stream"),
        "graph capture",
        ["CUDA graph", "--cuda-graphs off"],
    ),
    (
        RuntimeError(
            "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Conv "
            "node. CUDA failure 2: out of memory ; GPU=0 ; hostname=box"
        ),
        "out of memory",
        ["ran out of memory", "--batch"],
    ),
    (cuda_error("unknown error"), "cuda", ["CUDA failed", "unknown error", "--cuda-graphs off"]),
    (torch.AcceleratorError("something the driver has no words for"), "cuda", ["CUDA failed", "--debug"]),
]


@pytest.mark.parametrize(("exc", "kind", "words"), CASES, ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_each_cuda_failure_is_one_line_with_its_way_round(
    exc: BaseException, kind: str, words: list[str]
) -> None:
    failure = describe(exc)
    assert failure is not None
    assert failure.kind == kind
    line = failure.line
    assert "\n" not in line and len(line) < 300, line
    assert "CUDA_LAUNCH_BLOCKING=1\n" not in line and "Traceback" not in line
    for word in words:
        assert word in line, line
    error = as_gpu_error(exc)
    assert isinstance(error, GpuError) and isinstance(error, RuntimeError)
    assert str(error) == line and error.kind == kind and error.exit_code == 1
    assert error.__cause__ is exc


def test_a_failure_found_through_its_cause_or_context() -> None:
    try:
        try:
            raise cuda_error("an illegal memory access was encountered")
        except RuntimeError as inner:
            raise ValueError("the batch could not be finished") from inner
    except ValueError as caused:
        assert one_line(caused) is not None and "crashed" in str(one_line(caused))
    try:
        try:
            raise torch.OutOfMemoryError(OOM)
        except RuntimeError:
            raise KeyError("while handling") from None  # context suppressed: not followed
    except KeyError as hidden:
        assert hidden.__suppress_context__
    try:
        try:
            raise torch.OutOfMemoryError(OOM)
        except RuntimeError:
            raise KeyError("while handling")  # noqa: B904 - the implicit context is what is tested
    except KeyError as handled:
        assert describe(handled) is not None and describe(handled).kind == "out of memory"  # type: ignore[union-attr]


def test_the_specific_failure_wins_over_a_generic_one_earlier_in_the_chain() -> None:
    inner = cuda_error("out of memory")
    outer = torch.AcceleratorError("CUDA error: unknown error")
    outer.__cause__ = inner
    failure = describe(outer)
    assert failure is not None and failure.kind == "out of memory"


def test_other_errors_are_not_gpu_failures() -> None:
    assert describe(ValueError("bad value")) is None
    assert describe(RuntimeError("the model has 3 outputs")) is None
    assert describe(MemoryError()) is None
    assert (
        describe(ConfigError("--batch must be at least 1 (CUDA error is not this)")) is None
    )  # already a line
    assert as_gpu_error(KeyError("x")) is None


def test_a_gpu_error_stays_itself() -> None:
    error = GpuError("the GPU ran out of memory: use a smaller --batch", "out of memory")
    assert as_gpu_error(error) is error
    failure = describe(error)
    assert failure is not None and failure.line == str(error) and failure.kind == "out of memory"


def test_a_chain_that_loops_ends() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert describe(a) is None
