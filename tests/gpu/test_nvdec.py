"""``gpu.nvdec.SurfaceImporter``: an import that fails moves that source, and only that one, to host
conversion for good, in one log line; its frames keep coming with the right pictures."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamseg.capture import PyAVFileSource
from streamseg.gpu import surface as surface_module
from streamseg.gpu.decode import DecodeTarget
from streamseg.testing.assets import read_frames
from streamseg.testing.media import write_video
from tests.gpu.memory_state import CPU

N = 10


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nvdec") / "clip.mp4"
    write_video(path, n_frames=N, size_wh=(128, 96), fps=10)
    return path


def test_a_failed_import_moves_only_that_source_to_the_host(
    clip: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = surface_module.import_video_frame
    failing = {"now": False, "calls": 0}

    def import_or_fail(*args: Any, **kwargs: Any) -> Any:
        if failing["now"]:
            failing["calls"] += 1
            raise RuntimeError("CUDA error: an illegal memory access was encountered\nCompile with ...")
        return real(*args, **kwargs)

    monkeypatch.setattr(surface_module, "import_video_frame", import_or_fail)
    target = DecodeTarget(CPU, nvdec=False)
    a = PyAVFileSource(str(clip), name="a", decode=target)
    b = PyAVFileSource(str(clip), name="b", decode=target)
    frames: dict[str, list[Any]] = {"a": [], "b": []}
    with a, b, caplog.at_level(logging.WARNING):
        for i in range(N):
            failing["now"] = i == 3  # one failure, for source a's fourth frame
            frames["a"].append(a.read())
            failing["now"] = False
            frames["b"].append(b.read())
    assert failing["calls"] == 1  # after it failed, a never tried the device again
    lines = [r.getMessage() for r in caplog.records if "device memory failed" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith(str(clip)) and "\n" not in lines[0]
    assert "RuntimeError: CUDA error: an illegal memory access" in lines[0]
    want = read_frames(clip, list(range(N)))
    for name, got in frames.items():
        assert [f.index for f in got] == list(range(N))
        on_device = [f.on_device for f in got]
        assert on_device == ([True] * 3 + [False] * (N - 3) if name == "a" else [True] * N)
        for f, image in zip(got, want, strict=True):
            diff = np.abs(f.image.astype(np.int16) - image)
            assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
