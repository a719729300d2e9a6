"""``auto``: the one policy that picks a runtime from what this machine has and what the model file is."""

from __future__ import annotations

import pytest

from streamseg.config import ModelConfig
from streamseg.inference.runtimes import probe, select


def test_auto_picks_by_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    ok = probe.Check("x", True, "fine")
    no = probe.Check("x", False, "missing")
    assert select.choose_backend("auto", "cpu")[:2] == ("onnxruntime", "cpu")
    assert select.choose_backend("torch", "cpu")[:2] == ("torch", "cpu")
    monkeypatch.setattr(probe, "cuda_check", lambda index=0: no)
    assert select.choose_backend("auto", "cuda:0", warn=False)[:2] == ("onnxruntime", "cpu")
    monkeypatch.setattr(probe, "cuda_check", lambda index=0: ok)
    monkeypatch.setattr(probe, "tensorrt_check", lambda: no)
    assert select.choose_backend("auto", "cuda:1")[:2] == ("torch", "cuda:1")
    monkeypatch.setattr(probe, "tensorrt_check", lambda: ok)
    assert select.choose_backend("auto", "cuda:0")[:2] == ("tensorrt", "cuda:0")


def test_the_model_file_has_the_last_word(monkeypatch: pytest.MonkeyPatch) -> None:
    ok = probe.Check("x", True, "fine")
    monkeypatch.setattr(probe, "cuda_check", lambda index=0: ok)
    monkeypatch.setattr(probe, "tensorrt_check", lambda: probe.Check("x", False, "missing"))
    monkeypatch.setattr(select, "_ort_has_cuda", lambda: False)
    assert select.select_backend(ModelConfig(path="m.pt", device="cuda:0"), quiet=True)[:2] == (
        "torch",
        "cuda:0",
    )
    onnx = select.select_backend(ModelConfig(path="m.onnx", device="cuda:0"), quiet=True)
    assert onnx[:2] == ("onnxruntime", "cpu") and "no CUDA provider" in onnx[2]
