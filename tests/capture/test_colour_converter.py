"""Decoded frames become BGR through one colour converter per source, kept for its whole life.

``VideoFrame.to_ndarray`` builds a new converter for every frame, and each started and stopped its own
swscale threads: about 100 threads a second for four cameras, so a camera's thread count was never the
same twice and every frame paid for two thread starts. The pictures must not change."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from streamseg.capture import PyAVFileSource, pyav_file
from tests.conftest import VIDEOS, read_frames

CLIP = VIDEOS / "street_pedestrians_720p30.mp4"


MADE: list[Counting] = []


class Counting:
    """Stands in for ``VideoReformatter`` (which cannot be subclassed), counting what is made and asked."""

    def __init__(self) -> None:
        self._real = VideoReformatter()
        self.threads: set[Any] = set()
        MADE.append(self)

    def reformat(self, frame: Any, *args: Any, **kwargs: Any) -> Any:
        self.threads.add(kwargs.get("threads"))
        return self._real.reformat(frame, *args, **kwargs)


@pytest.mark.parametrize("threads", [1, 0])
def test_one_converter_per_source_with_the_decoders_threads(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    monkeypatch.setattr(pyav_file, "VideoReformatter", Counting)
    MADE.clear()
    with PyAVFileSource(str(CLIP), threads=threads) as source:
        images = [frame.image for frame in (source.read() for _ in range(12)) if frame is not None]
    assert len(images) == 12
    assert len(MADE) == 1 and MADE[0].threads == {threads}  # 1: no swscale threads


def test_pictures_are_what_pyav_gives() -> None:
    expected = read_frames(CLIP, list(range(5)))
    with PyAVFileSource(str(CLIP), threads=1) as source:
        got = [frame.image for frame in (source.read() for _ in range(5)) if frame is not None]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
