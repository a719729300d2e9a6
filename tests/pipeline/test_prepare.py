"""``Pipeline.open`` on a device path with graphs (emulated on CPU torch, as on CUDA): the graphs every
source's frame size needs at every batch bucket are captured before any thread starts, from frames
made as the sources deliver theirs (ring surfaces here), and the run then replays them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, PipelineConfig, SourceConfig
from streamseg.gpu.graph_cache import GraphCache
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.yolo.device.runner import MIN_CANDIDATES, DeviceRunner
from streamseg.pipeline.prepare import AHEAD_SOURCE
from streamseg.testing.media import write_video
from tests.conftest import FIXTURE_PT

SIZES_WH = ((192, 112), (160, 96))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("prepare")
    out = []
    for i, size in enumerate(SIZES_WH):
        path = folder / f"c{i}.mp4"
        write_video(path, n_frames=5, size_wh=size, fps=10)
        out.append(path)
    return out


def test_graphs_are_captured_before_the_threads_start(
    backends: tuple[InferenceBackend, InferenceBackend], clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = DeviceRunner.__init__
    runners: list[DeviceRunner] = []

    def init(self: DeviceRunner, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self.fixed_shapes = True
        self.graphs = GraphCache.emulated()
        runners.append(self)

    monkeypatch.setattr(DeviceRunner, "__init__", init)
    cfg = Config(
        sources=tuple(SourceConfig(str(c)) for c in clips),
        model=ModelConfig(path=str(FIXTURE_PT), imgsz=160, batch=3, conf=0.5),
        pipeline=PipelineConfig(decode="gpu"),
    )
    pipeline = Pipeline(config=cfg, backend=backends[1])
    pipeline.open()
    (runner,) = runners
    ahead = {(k[0], k[1], k[2].frame_hw) for name, k in runner.graphs.slots() if name == "detect"}
    want = {("ring", bucket, (h, w)) for bucket in (1, 2, 4) for w, h in SIZES_WH}
    assert ahead == want
    assert {name for name, _ in runner.graphs.slots()} == {"detect", "finish"}
    assert not pipeline._threads  # all before any thread started
    ahead_records = [r for (name, _), r in runner.graphs._graphs.items() if name == "detect"]
    results = list(pipeline.results())
    assert len(results) == 10 and all(r.source != AHEAD_SOURCE for r in results)
    assert runner.candidate_slots == MIN_CANDIDATES  # no detect key outgrown: the run used those above
    # replayed by the run (the first replay was the capture's check); batches that mix both sizes run
    # eagerly, as ever, so not every graph is used
    assert any(r.replays > 1 for r in ahead_records)
