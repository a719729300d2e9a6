"""``capture.pictures``: a frame NVDEC decoded that cannot be brought to host memory is lost with one
log line, the stream goes on; other failures are not hidden."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streamseg.capture import PyAVFileSource
from streamseg.capture.pictures import PictureMaker
from streamseg.testing.media import write_video


class _Broken:
    def reformat(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("av_hwframe_transfer_data: Generic error in an external library")


def _cuda_frame() -> Any:
    return SimpleNamespace(format=SimpleNamespace(name="cuda"))


def test_a_cuda_frame_that_cannot_come_down_is_lost_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    maker = PictureMaker("cam", _Broken(), 1, None, nvdec=True)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="streamseg.capture.pictures"):
        assert maker.picture(_cuda_frame(), 0) == (None, None)
        assert maker.picture(_cuda_frame(), 0) == (None, None)
    assert maker.lost == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "could not be copied to host memory" in warnings[0].getMessage()
    cpu_frame = SimpleNamespace(format=SimpleNamespace(name="yuv420p"))
    with pytest.raises(RuntimeError):  # a CPU frame that fails to convert is a bug, not a lost frame
        maker.picture(cpu_frame, 0)


def test_the_source_goes_on_past_a_lost_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clip.mp4"
    write_video(path, n_frames=6, size_wh=(64, 48))
    real = PictureMaker.picture
    calls = {"n": 0}

    def lose_the_third(self: PictureMaker, vf: Any, turns: int) -> Any:
        calls["n"] += 1
        return (None, None) if calls["n"] == 3 else real(self, vf, turns)

    monkeypatch.setattr(PictureMaker, "picture", lose_the_third)
    with PyAVFileSource(str(path)) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
        assert [f.index for f in frames] == [0, 1, 3, 4, 5]  # numbered as decoded: the gap shows
        assert source.stats.decode_errors == 0  # the file is not damaged: no DecodeError at its end
