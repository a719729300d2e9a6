"""ONNX Runtime keeps memory flat when the batch size changes (cameras dropping out and coming back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamseg.inference.runtimes.onnxruntime import OnnxRuntimeBackend
from tools.memory_breakdown import memory_breakdown


def test_new_batch_sizes_do_not_grow_memory(random_seg_onnx: Path) -> None:
    """With ORT's memory pattern on, each new batch size touched ~6 MiB more, for good."""
    backend = OnnxRuntimeBackend(random_seg_onnx, threads=1)
    inputs = {n: np.zeros((n, 3, 256, 320), np.float32) for n in (1, 2, 3, 4)}
    for _ in range(5):
        backend.infer(inputs[4])
    settled = memory_breakdown()["rss_anon"]
    for n in (3, 2, 1) * 3:
        backend.infer(inputs[n])
    grew = memory_breakdown()["rss_anon"] - settled
    assert grew < 2 * 2**20, f"RSS grew {grew / 2**20:.1f} MiB with batch sizes 3, 2, 1 after 4"
