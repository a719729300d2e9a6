"""``--save-images``: annotated copies of still-image sources, in a run mixed with a video."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, OutputConfig, RenderConfig, SourceConfig
from streamseg.errors import ConfigError
from streamseg.render.stills import StillImageSink
from streamseg.testing.media import write_video
from tests.conftest import IMAGES, read_image

pytestmark = pytest.mark.usefixtures("no_stray_threads")


def test_images_and_a_video_in_one_run(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    bus = read_image(IMAGES / "bus.jpg")
    cv2.imwrite(str(photos / "small.png"), cv2.resize(bus, (160, 200)))
    cv2.imwrite(str(photos / "wide.png"), cv2.resize(bus, (320, 180)))
    clip = tmp_path / "clip.mp4"
    write_video(clip, n_frames=4)
    out, results_file, record = tmp_path / "out", tmp_path / "r.jsonl", tmp_path / "rec.mp4"
    cfg = Config(
        sources=(SourceConfig(str(IMAGES / "bus.jpg")), SourceConfig(str(photos)), SourceConfig(str(clip))),
        model=ModelConfig(path=str(random_seg_onnx), imgsz=320, conf=0.5, engines_dir=str(engines_dir)),
        output=OutputConfig(save_images=str(out), save_results=str(results_file), record=str(record)),
    )
    results = list(Pipeline(config=cfg).results())
    stills = [r for r in results if r.frame.file_name is not None]
    assert sorted(r.frame.file_name for r in stills) == ["bus.jpg", "small.png", "wide.png"]  # type: ignore[type-var]
    assert sum(len(r) for r in stills) > 0
    lines = [json.loads(line) for line in results_file.read_text().splitlines()]
    assert sorted(line["source"] for line in lines) == [
        "bus.jpg",
        "clip",
        "clip",
        "clip",
        "clip",
        "small.png",
        "wide.png",
    ]
    # Annotated copies: same names and sizes, drawn (masks change pixels), the source frames left clean.
    assert sorted(p.name for p in out.iterdir()) == ["bus.jpg", "small.png", "wide.png"]
    for r in stills:
        written = cv2.imread(str(out / str(r.frame.file_name)))
        assert written.shape == r.frame.image.shape
        if len(r):
            assert np.abs(written.astype(int) - r.frame.image.astype(int)).max() > 20
    small = next(r for r in stills if r.frame.file_name == "small.png")
    np.testing.assert_array_equal(small.frame.image, cv2.imread(str(photos / "small.png")))
    assert record.is_file() and not (tmp_path / "rec_bus.mp4").exists()  # only the video is recorded


def test_outputs_that_have_nothing_to_write_are_refused(engines_dir: Path, tmp_path: Path) -> None:
    # A model that does not exist: the outputs are judged before any model is looked for.
    model = ModelConfig(path=str(tmp_path / "never-loaded.onnx"), imgsz=320, engines_dir=str(engines_dir))
    only_image = (SourceConfig(str(IMAGES / "bus.jpg")),)
    with pytest.raises(ConfigError, match="every source is a still image: use --save-images"):
        Pipeline(
            config=Config(
                sources=only_image, model=model, output=OutputConfig(record=str(tmp_path / "o.mp4"))
            )
        ).open()
    clip = tmp_path / "clip.mp4"
    write_video(clip, n_frames=2)
    with pytest.raises(ConfigError, match="no source is one: use --record"):
        Pipeline(
            config=Config(
                sources=(SourceConfig(str(clip)),),
                model=model,
                output=OutputConfig(save_images=str(tmp_path)),
            )
        ).open()


def test_two_images_with_one_name_would_overwrite_each_other(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"two images are named a\.jpg"):
        StillImageSink(tmp_path, ["a.jpg", "b.jpg", "a.jpg"], RenderConfig())
