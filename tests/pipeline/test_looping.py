"""``--loop``: a file plays again and again, its timestamps and frame indices running on."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.capture import open_source
from streamseg.config import SourceConfig
from streamseg.pipeline.looping import LoopingSource, loop_source
from streamseg.testing.media import write_video


def test_loop_continues_indices_and_timestamps(tmp_path: Path) -> None:
    clip = tmp_path / "five.mp4"
    times = write_video(clip, n_frames=5, fps=10)
    cfg = SourceConfig(str(clip))
    source = loop_source(open_source(cfg), lambda: open_source(cfg))
    assert isinstance(source, LoopingSource) and source.frame_count is None and not source.is_live
    with source:
        frames = [source.read() for _ in range(12)]
    assert all(f is not None for f in frames)
    assert [f.index for f in frames if f is not None] == list(range(12))
    pts = [f.pts for f in frames if f is not None]
    assert pts == pytest.approx([i * 0.1 for i in range(12)], abs=1e-3)  # the gap between passes is one frame
    assert pts[:5] == pytest.approx(times, abs=1e-3)
    assert source.passes == 3 and source.name == "five"


def test_empty_source_ends_instead_of_spinning() -> None:
    class Empty:
        name, uri, is_live, nominal_fps = "e", "e.mp4", False, None

        def read(self) -> None:
            return None

        def close(self) -> None:
            pass

    opened = []
    source = LoopingSource(Empty(), lambda: opened.append(1) or Empty())  # type: ignore[arg-type, func-returns-value]
    assert source.read() is None and not opened
