"""ONNX Runtime keeps memory flat when the batch size changes (cameras dropping out and coming back)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streamseg.testing.assets import REPO

# Run in a fresh interpreter: inside a long pytest process, what earlier tests left in the allocator
# moves RSS by a few MiB on its own (4.6 MiB after the Mask R-CNN tests), as much as the bug did.
_MEASURE = """
import sys
import numpy as np
from streamseg.inference.runtimes.onnxruntime import OnnxRuntimeBackend
from tools.memory_breakdown import memory_breakdown

backend = OnnxRuntimeBackend(sys.argv[1], threads=1)
inputs = {n: np.zeros((n, 3, 256, 320), np.float32) for n in (1, 2, 3, 4)}
for _ in range(5):
    backend.infer(inputs[4])
settled = memory_breakdown()["rss_anon"]
for n in (3, 2, 1) * 3:
    backend.infer(inputs[n])
print(memory_breakdown()["rss_anon"] - settled)
"""


def test_new_batch_sizes_do_not_grow_memory(random_seg_onnx: Path) -> None:
    """With ORT's memory pattern on, the new batch sizes touched 6.4 MiB more, for good (0.7 off)."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(random_seg_onnx)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    grew = int(out.stdout.split()[-1])
    assert grew < 3 * 2**20, f"RSS grew {grew / 2**20:.1f} MiB with batch sizes 3, 2, 1 after 4"
