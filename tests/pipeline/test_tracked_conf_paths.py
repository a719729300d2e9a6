"""A tracked run with ``conf`` unset (trackers fed down to 0.1, 0.25 shown untracked) on both paths: the
device path drops what is never shown before its masks and overlay, the CPU path after tracking; the
same instances, ids and pictures come out."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, OutputConfig, PipelineConfig, RenderConfig, SourceConfig
from streamseg.inference.runtimes import InferenceBackend
from tests.conftest import FIXTURE_PT, VIDEOS, require_asset
from tests.pipeline.parity import assert_same_lines

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 12 frames of the street clip at 640x360: people, many of them scoring under 0.25."""
    out = tmp_path_factory.mktemp("street") / "street.mp4"
    with (
        av.open(str(require_asset(VIDEOS / "street_pedestrians_720p30.mp4"))) as src,
        av.open(str(out), "w") as dst,
    ):
        stream = dst.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"crf": "10"}
        for i, frame in enumerate(src.decode(video=0)):
            if i == 12:
                break
            dst.mux(stream.encode(frame.reformat(640, 360, format="yuv420p")))
        dst.mux(stream.encode(None))
    return out


def _run(
    backend: InferenceBackend, clip: Path, out: Path, decode: str
) -> tuple[list[dict[str, object]], list[np.ndarray]]:
    out.mkdir()
    cfg = Config(
        sources=(SourceConfig(str(clip), name="street", track="bytetrack"),),
        model=ModelConfig(path=str(FIXTURE_PT), batch=4),  # no conf, no imgsz: the defaults
        output=OutputConfig(record=str(out / "rec.mp4"), save_results=str(out / "r.jsonl"), crf=0),
        pipeline=PipelineConfig(decode=decode),
        render=RenderConfig(hud=False),
    )
    list(Pipeline(config=cfg, backend=backend).results(host_masks=False))
    lines = [json.loads(line) for line in (out / "r.jsonl").read_text().splitlines()]
    with av.open(str(out / "rec.mp4")) as container:
        pictures = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    return sorted(lines, key=lambda line: line["frame"]), pictures  # type: ignore[arg-type, return-value]


def test_the_device_path_shows_what_the_cpu_path_shows(
    backends: tuple[InferenceBackend, InferenceBackend], street: Path, tmp_path: Path
) -> None:
    host, device = backends
    cpu_lines, cpu_pictures = _run(host, street, tmp_path / "cpu", decode="cpu")
    gpu_lines, gpu_pictures = _run(device, street, tmp_path / "gpu", decode="gpu")
    assert_same_lines(cpu_lines, gpu_lines)  # type: ignore[arg-type]
    instances = [i for line in gpu_lines for i in line["instances"]]  # type: ignore[attr-defined]
    untracked = [i["score"] for i in instances if i["track_id"] is None or i["track_id"] < 0]
    tracked_low = [
        i for i in instances if i["track_id"] is not None and i["track_id"] >= 0 and i["score"] <= 0.25
    ]
    assert len(instances) > 50 and all(s > 0.25 for s in untracked) and tracked_low
    for x, y in zip(cpu_pictures, gpu_pictures, strict=True):  # nothing hidden is drawn on either
        diff = np.abs(x.astype(np.int16) - y.astype(np.int16))
        assert diff.mean() < 0.5 and (diff.max(axis=-1) > 24).mean() < 0.01
