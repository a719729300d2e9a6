"""The dashboard's live video through the Python API: a source nobody records is drawn and encoded only
while someone watches it; what the viewer gets is the annotated picture; viewers are bounded."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, OutputConfig, SourceConfig
from streamseg.pipeline.live import LiveBook
from streamseg.record.fmp4 import Fragment, InitSegment
from streamseg.record.live import LiveItem
from streamseg.testing.media import synthetic_frame, write_video

pytestmark = pytest.mark.usefixtures("no_stray_threads")


def _config(model: Path, engines: Path, clip: Path, **output: str) -> Config:
    return Config(
        sources=(SourceConfig(str(clip)),),
        model=ModelConfig(path=str(model), imgsz=320, conf=0.78, batch=2, engines_dir=str(engines)),
        output=OutputConfig(**output),
    )


def _decode(items: list[LiveItem]) -> list[tuple[float, np.ndarray]]:
    init = next(i for i in items if isinstance(i, InitSegment))
    data = init.data + b"".join(i.data for i in items if isinstance(i, Fragment))
    with av.open(io.BytesIO(data), format="mp4") as container:
        return [(float(f.time), f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]


def test_a_source_is_encoded_only_while_watched_and_shows_the_overlay(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    clip = tmp_path / "cam.mp4"
    write_video(clip, n_frames=60, fps=10)
    book = LiveBook(max_viewers=1, linger_s=0.0)
    pipeline = Pipeline(config=_config(random_seg_onnx, engines_dir, clip), live=book)
    channel = None
    items: list[LiveItem] = []
    made_when_left = -1
    for result in pipeline.results():
        channel = channel or book.channel("cam")
        assert channel is not None
        if result.frame_index == 15:
            assert channel.fragments == 0  # nobody watched yet: nothing was drawn or encoded
            viewer = book.join("cam", lambda: None)
            assert viewer is not None
            assert book.join("cam", lambda: None) is None  # one viewer at most here
        if result.frame_index == 45:
            items = viewer.take()
            book.leave(viewer)
            made_when_left = channel.fragments
    assert channel is not None and book.refused == 1
    assert channel.fragments == made_when_left  # after the viewer left, nothing more was made
    fragments = [i for i in items if isinstance(i, Fragment)]
    assert isinstance(items[0], InitSegment) and fragments[0].keyframe
    assert 5 <= len(fragments) <= 30
    decoded = _decode(items)
    assert len(decoded) == len(fragments)
    # the picture is the annotated one: the HUD's text is drawn over the top-left corner
    first_pts, picture = decoded[0]
    index = round(first_pts * 10)
    assert picture.shape == (192, 320, 3)
    raw = synthetic_frame(index, 320, 192)
    assert np.abs(picture[:40, :100].astype(int) - raw[:40, :100]).mean() > 20


def test_a_recorded_source_feeds_its_viewers_from_the_recordings_encoder(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    clip = tmp_path / "cam.mp4"
    write_video(clip, n_frames=30, fps=10)
    book = LiveBook(max_viewers=4)
    out = tmp_path / "rec.mp4"
    cfg = _config(random_seg_onnx, engines_dir, clip, record=str(out))
    pipeline = Pipeline(config=cfg, live=book)
    viewer = None
    for _ in pipeline.results():
        if viewer is None:
            viewer = book.join("cam", lambda: None)
    assert viewer is not None
    items = viewer.take()
    assert out.stat().st_size > 0
    with av.open(str(out)) as recorded:
        recorded_frames = [f.to_ndarray(format="bgr24") for f in recorded.decode(video=0)]
    decoded = _decode(items)
    assert decoded  # from a keyframe to the source's last frame
    offset = len(recorded_frames) - len(decoded)
    for j, (pts, picture) in enumerate(decoded):  # one encode: the viewer's frames are the recording's
        assert pts == pytest.approx(j / 10)
        assert np.array_equal(picture, recorded_frames[offset + j])
