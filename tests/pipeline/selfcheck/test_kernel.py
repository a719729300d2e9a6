"""Step one: a wheel without code for the GPU, or a kernel that does not run, stops the run (one line)."""

from __future__ import annotations

import pytest
import torch

from streamseg.errors import GpuError
from streamseg.pipeline.selfcheck import kernel
from streamseg.pipeline.selfcheck.steps import KERNEL, Step


def test_the_cpu_runs_code() -> None:
    assert kernel.device_runs_code(torch.device("cpu")) == Step(KERNEL, True)


def test_a_gpu_the_wheel_has_no_code_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: (12, 0))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_75", "sm_80", "sm_86", "sm_90"])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA RTX 5090")
    with pytest.raises(GpuError) as caught:
        kernel.device_runs_code(torch.device("cuda", 0))
    assert str(caught.value) == (
        "cuda:0 NVIDIA RTX 5090: this PyTorch has kernels for sm_75..sm_90, the GPU is sm_120 "
        "(install a PyTorch build for it)"
    )
    assert caught.value.exit_code == 1


def test_a_kernel_that_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        kernel,
        "launch_problem",
        lambda device: "the GPU ran out of memory (tried to allocate 4 KiB): use ...",
    )
    with pytest.raises(GpuError, match=r"^a test kernel failed on cpu: the GPU ran out of memory"):
        kernel.device_runs_code(torch.device("cpu"))
