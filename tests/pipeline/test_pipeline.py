"""The pipeline through its Python API: ordering, timestamps, outputs, error propagation, shutdown."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, OutputConfig, SourceConfig
from streamseg.errors import DecodeError
from streamseg.inference.runtimes import InferenceBackend, ModelInfo
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.testing.media import read_video, write_video
from tests.conftest import VIDEOS

pytestmark = pytest.mark.usefixtures("no_stray_threads")


def config(model: Path, engines: Path, *sources: str, **output: str) -> Config:
    return Config(
        sources=tuple(SourceConfig(s) for s in sources),
        model=ModelConfig(path=str(model), imgsz=320, conf=0.78, batch=3, engines_dir=str(engines)),
        output=OutputConfig(**output),
    )


def test_results_in_order_with_stream_timestamps(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    """Variable frame rate in, the same timestamps out: in results and in the recording."""
    clip = tmp_path / "vfr.mp4"
    times = write_video(clip, pts_seconds=[0, 0.1, 0.15, 0.5, 0.55, 1.0, 1.7])
    out = tmp_path / "rec.mp4"
    results = list(
        Pipeline(config=config(random_seg_onnx, engines_dir, str(clip), record=str(out))).results()
    )
    recorded, *_ = read_video(out)
    assert recorded == pytest.approx(times, abs=2e-3)
    assert [r.frame_index for r in results] == list(range(7))
    assert [r.pts for r in results] == pytest.approx(times, abs=1e-3)
    assert all(r.source == "vfr" for r in results)
    assert sum(len(r) for r in results) > 0
    for r in results:
        assert r.frame.image.shape == (192, 320, 3)
        assert (r.xyxy[:, [0, 2]] <= 320).all() and (r.xyxy[:, [1, 3]] <= 192).all()
        assert all(c.any() for c in r.masks.crops)


def test_several_sources_record_one_file_each(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    write_video(a, n_frames=9, fps=10)
    write_video(b, n_frames=5, size_wh=(256, 256), fps=5)
    out = tmp_path / "out.mp4"
    cfg = config(random_seg_onnx, engines_dir, str(a), str(b), record=str(out))
    counts: dict[str, int] = {}
    for r in Pipeline(config=cfg).results():
        counts[r.source] = counts.get(r.source, 0) + 1
    assert counts == {"a": 9, "b": 5}
    assert not out.exists()
    times_a, codec, pix_fmt, w, h = read_video(tmp_path / "out_a.mp4")
    assert (codec, pix_fmt, w, h) == ("h264", "yuv420p", 320, 192)
    assert times_a == pytest.approx([i / 10 for i in range(9)], abs=2e-3)
    times_b, *_ = read_video(tmp_path / "out_b.mp4")
    assert times_b == pytest.approx([i / 5 for i in range(5)], abs=2e-3)


def test_odd_rate_recording_plays_at_real_speed(
    tmp_path: Path, trained_seg_onnx: Path, engines_dir: Path
) -> None:
    """The shared 'vfr' clip runs at 29.53 fps (time base 1/141255000): the recording keeps that timing
    instead of assuming 30 fps, which would shorten it by 0.1 s."""
    clip = VIDEOS / "office_person_720p_vfr.mp4"
    out = tmp_path / "office.mp4"
    cfg = config(trained_seg_onnx, engines_dir, str(clip), record=str(out))
    source_pts = [r.pts for r in Pipeline(config=cfg).results()]
    recorded, codec, pix_fmt, w, h = read_video(out)
    assert (codec, pix_fmt, w, h) == ("h264", "yuv420p", 1280, 720)
    assert len(recorded) == len(source_pts) == 182
    assert source_pts[-1] == pytest.approx(181 * 4783757 / 141255000, abs=1e-6)
    np.testing.assert_allclose(recorded, np.array(source_pts) - source_pts[0], atol=2e-3)


def test_save_results_decodes_with_pycocotools(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    from pycocotools import mask as mask_utils

    clip = tmp_path / "c.mp4"
    write_video(clip, n_frames=4)
    out = tmp_path / "r.jsonl"
    cfg = config(random_seg_onnx, engines_dir, str(clip), save_results=str(out))
    results = list(Pipeline(config=cfg).results())
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 4
    for line, r in zip(lines, results, strict=True):
        assert set(line) == {"source", "frame", "pts", "instances", "inference"}
        assert line["inference"] == "inferred"
        assert (line["source"], line["frame"]) == ("c", r.frame_index)
        assert len(line["instances"]) == len(r)
        for i, inst in enumerate(line["instances"]):
            assert set(inst) == {"class_id", "class_name", "score", "xyxy", "mask", "track_id"}
            assert inst["class_name"] == r.class_name(i)
            np.testing.assert_allclose(inst["xyxy"], r.xyxy[i], atol=0.01)
            rle = {"size": inst["mask"]["size"], "counts": inst["mask"]["counts"].encode()}
            assert np.array_equal(mask_utils.decode(rle).astype(bool), r.masks.full(i))


class ExplodingBackend(InferenceBackend):
    """A backend that fails on its third call: the clean boundary for testing error propagation.

    It fails only once ``armed`` is set (the consumer has seen a result), so a busy machine cannot let
    all three calls happen before the consumer runs at all.
    """

    name = "exploding"

    def __init__(self, real: InferenceBackend) -> None:
        self.real, self.calls = real, 0
        self.armed = threading.Event()

    @property
    def info(self) -> ModelInfo:
        return self.real.info

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        if self.calls == 3:
            self.armed.wait(timeout=30)
            raise RuntimeError("GPU fell off the bus")
        return self.real.infer(batch)


def test_first_error_stops_everything_and_is_raised(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    clip = tmp_path / "c.mp4"
    write_video(clip, n_frames=40)
    out = tmp_path / "rec.mp4"
    pipeline = Pipeline(config=config(random_seg_onnx, engines_dir, str(clip), record=str(out))).open()
    engine = pipeline.engine
    backend = ExplodingBackend(engine.backend)
    pipeline._engine = SegmentationEngine(backend, engine.imgsz, engine.thresholds)
    seen = 0
    with pytest.raises(RuntimeError, match="fell off the bus"):
        for _ in pipeline.results():
            seen += 1
            backend.armed.set()
    assert seen <= 6
    recorded, *_ = read_video(out)  # the recording was finalized and plays
    assert 0 < seen <= len(recorded) <= 6  # frames rendered before the failure, nothing after


def test_corrupt_tail_processes_what_decodes_then_reports(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    clip = tmp_path / "c.mp4"
    write_video(clip, n_frames=60, size_wh=(320, 192))
    data = bytearray(clip.read_bytes())
    start = len(data) // 2
    data[start : start + 4000] = bytes(range(256)) * 15 + bytes(160)  # garbage over the middle
    clip.write_bytes(bytes(data))
    seen = []
    with pytest.raises(DecodeError, match=r"c\.mp4"):
        for r in Pipeline(config=config(random_seg_onnx, engines_dir, str(clip))).results():
            seen.append(r.frame_index)
    assert 10 < len(seen) < 60


def test_breaking_out_early_stops_threads(random_seg_onnx: Path, engines_dir: Path) -> None:
    clip = VIDEOS / "street_dance_crowd_720p25.mp4"
    pipeline = Pipeline(config=config(random_seg_onnx, engines_dir, str(clip)))
    t0 = time.monotonic()
    for r in pipeline.results():
        if r.frame_index == 3:
            break
    assert time.monotonic() - t0 < 30
    assert not any(t.name == "inference" and t.is_alive() for t in threading.enumerate())


def test_stop_from_another_thread(random_seg_onnx: Path, engines_dir: Path) -> None:
    clip = VIDEOS / "street_dance_crowd_720p25.mp4"
    pipeline = Pipeline(config=config(random_seg_onnx, engines_dir, str(clip)))
    n = 0
    for _ in pipeline.results():
        n += 1
        if n == 2:
            threading.Timer(0.05, pipeline.stop).start()
    assert 2 <= n < 579
