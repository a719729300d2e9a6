"""Opening, closing and threads: the contract the pipeline relies on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from streamseg.capture import FrameSource, PyAVFileSource, SourceStats
from streamseg.errors import SourceError

from .media import PEDESTRIANS, clip


def test_file_source_satisfies_the_protocol() -> None:
    assert isinstance(PyAVFileSource(str(clip(PEDESTRIANS))), FrameSource)


def test_context_manager_opens_once_and_closes() -> None:
    src = PyAVFileSource(str(clip(PEDESTRIANS)), name="ped")
    with src as opened:
        assert opened is src
        src.open()  # idempotent
        first = src.read()
        assert first is not None
        assert (first.source, first.index, first.pts) == ("ped", 0, 0.0)
        assert first.resolution_wh == src.resolution_wh == (1280, 720)
    assert src.read() is None  # closed: end of stream, not a crash


def test_read_before_open_is_a_clear_error() -> None:
    src = PyAVFileSource(str(clip(PEDESTRIANS)))
    assert src.resolution_wh == (0, 0)
    with pytest.raises(SourceError, match="before open"):
        src.read()


def test_close_from_another_thread_stops_the_reader() -> None:
    src = PyAVFileSource(str(clip(PEDESTRIANS)))
    src.open()
    got: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for frame in src:
                got.append(frame.index)
                time.sleep(0.002)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    while len(got) < 10:
        time.sleep(0.005)
    src.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert not errors
    assert 10 <= len(got) < 314


def test_stats_count_frames_and_time() -> None:
    with PyAVFileSource(str(clip(PEDESTRIANS))) as src:
        for _ in range(20):
            assert src.read() is not None
        stats = src.stats
    assert isinstance(stats, SourceStats)
    assert stats.frames_decoded == 20
    assert stats.decode_errors == 0
    assert stats.decode_seconds > 0
    assert stats.decode_fps > 0


def test_file_uri_scheme_is_a_local_file(tmp_path: Path) -> None:
    with PyAVFileSource(clip(PEDESTRIANS).resolve().as_uri()) as src:
        assert src.is_live is False
        assert src.frame_count == 314
