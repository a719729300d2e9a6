"""The test kernel: runs and is checked on any device; a failure is the driver's words as one line."""

from __future__ import annotations

import pytest
import torch

from streamseg.gpu.kernel import launch_problem


def test_the_kernel_runs_on_the_cpu() -> None:
    assert launch_problem(torch.device("cpu")) is None


def test_a_failed_launch_is_one_line_with_its_way_round(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_kernel(*args: object, **kwargs: object) -> torch.Tensor:
        raise torch.AcceleratorError(
            "CUDA error: no kernel image is available for execution on the device\nCUDA kernel errors might "
            "be asynchronously reported at some other API call"
        )

    monkeypatch.setattr(torch, "arange", no_kernel)
    problem = launch_problem(torch.device("cpu"))
    assert problem is not None and "\n" not in problem
    assert "no GPU code for this GPU" in problem and "install a PyTorch build" in problem


def test_a_wrong_sum_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    real = torch.arange
    monkeypatch.setattr(torch, "arange", lambda *a, **k: real(*a, **k) + 1)
    problem = launch_problem(torch.device("cpu"))
    assert problem is not None and "wrong results" in problem
