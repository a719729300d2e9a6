"""A GPU failure ends a command with one line naming the way round, exit 1, no traceback: from the
model's load on the caller's thread, and from a stage thread through ``Pipeline.join``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from streamseg.cli.failures import report_error
from streamseg.cli.main import main
from streamseg.errors import ConfigError, GpuError
from streamseg.inference.runtimes.torch import TorchBackend
from streamseg.testing.media import write_video
from tests.conftest import FIXTURE_PT, require_asset

OOM = (
    "CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of 23.64 GiB of which "
    "312.00 MiB is free. Including non-PyTorch memory, this process has 23.31 GiB memory in use."
)
CAPTURE = (
    "CUDA error: operation not permitted when stream is capturing\nCUDA kernel errors might be "
    "asynchronously reported at some other API call, so the stacktrace below might be incorrect.\n"
    "For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
)


def test_report_error_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert report_error(ConfigError("--batch must be at least 1")) == 2
    assert report_error(GpuError("the GPU ran out of memory: use a smaller --batch")) == 1
    assert report_error(torch.AcceleratorError(CAPTURE)) == 1
    assert report_error(KeyError("x")) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "streamseg: error: --batch must be at least 1",
        "streamseg: error: the GPU ran out of memory: use a smaller --batch",
        "streamseg: error: capturing a CUDA graph failed (operation not permitted when stream is capturing): "
        "rerun with --cuda-graphs off",
        "streamseg: internal error: KeyError: 'x' (rerun with --debug)",
    ]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    write_video(path, n_frames=4)
    return path


def _run(clip: Path, *extra: str) -> list[str]:
    model = str(require_asset(FIXTURE_PT))
    return ["run", str(clip), "--model", model, "--backend", "torch", "--imgsz", "320", "-q", *extra]


def test_a_cuda_error_in_the_inference_thread_is_one_line(
    clip: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Raised in the inference thread, re-raised by ``Pipeline.join``: the same line as anywhere."""

    def out_of_memory(self: TorchBackend, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise torch.OutOfMemoryError(OOM)

    monkeypatch.setattr(TorchBackend, "infer", out_of_memory)
    code = main(_run(clip))
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err
    errors = [line for line in err.splitlines() if line.startswith("streamseg:")]
    assert errors == [
        "streamseg: error: the GPU ran out of memory (tried to allocate 1.50 GiB, 312.00 MiB free of "
        "23.64 GiB): use a smaller --batch (or --imgsz), a smaller --gpu-memory, or --cuda-graphs off; "
        "other programs on this GPU use its memory too"
    ]


def test_a_cuda_error_loading_the_model_is_one_line(
    clip: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_to = torch.nn.Module.to

    def no_kernel(self: torch.nn.Module, *args: object, **kwargs: object) -> torch.nn.Module:
        if args and isinstance(args[0], torch.device):  # the backend's move onto its device
            raise torch.AcceleratorError(
                "CUDA error: no kernel image is available for execution on the device"
            )
        return real_to(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.nn.Module, "to", no_kernel)
    code = main(_run(clip))
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.strip().splitlines() == [
        "streamseg: error: this PyTorch has no GPU code for this GPU (no kernel image is available for "
        "execution on the device): install a PyTorch build for it (see pytorch.org), or use --backend "
        "onnxruntime"
    ]


def test_debug_shows_the_traceback(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def capture_fails(self: TorchBackend, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise torch.AcceleratorError(CAPTURE)

    monkeypatch.setattr(TorchBackend, "infer", capture_fails)
    with pytest.raises(GpuError, match="--cuda-graphs off") as caught:
        main(_run(clip, "--debug"))
    assert isinstance(caught.value.__cause__, torch.AcceleratorError)
