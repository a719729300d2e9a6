"""Results handed to the Python API's consumer (``pipeline.handoff``): a consumer that keeps every
result of a GPU-path run (here its CPU twin) does not keep device memory past the frames budget; the
pictures it holds move to the host and read as decoded.

Needs ``Pipeline.results()`` to yield ``handed_over(item)`` (``runner.py``)."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, PipelineConfig, SourceConfig
from streamseg.gpu import spill
from streamseg.inference.runtimes import InferenceBackend
from streamseg.pipeline.handoff import handed_over
from streamseg.testing.media import write_video
from streamseg.types import Frame, InstanceMasks, SegResult
from tests.conftest import FIXTURE_PT
from tests.gpu.memory_state import CPU, fresh_memory

N = 30


def test_only_device_frames_are_listed() -> None:
    from streamseg.gpu.surface import import_video_frame

    vf = av.VideoFrame(64, 48, "yuv420p")
    with fresh_memory():
        host = Frame("a", 0, 0.0, 0.0, np.zeros((48, 64, 3), np.uint8))
        device = Frame("a", 1, 0.0, 0.0, surface=import_video_frame(vf, CPU))
        for frame in (host, device):
            empty = np.zeros((0,), np.float32)
            masks = InstanceMasks.empty((48, 64))
            result = SegResult(
                frame, np.zeros((0, 4), np.float32), np.zeros((0,), np.int64), empty, masks, ()
            )
            assert handed_over(result) is result
        assert spill.handed_over("cpu") == 1


def test_holding_every_result_stays_under_the_frames_budget(
    backends: tuple[InferenceBackend, InferenceBackend], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "clip.mp4"
    write_video(path, n_frames=N, size_wh=(160, 96), fps=10)
    cfg = Config(
        sources=(SourceConfig(str(path)),),
        model=ModelConfig(path=str(FIXTURE_PT), imgsz=160, batch=4),
        pipeline=PipelineConfig(decode="auto", gpu_memory="2MB"),  # 1 MB for frames: ~40 of these
    )
    with fresh_memory() as ledger, caplog.at_level(logging.WARNING):
        held = list(Pipeline(config=cfg, backend=backends[1]).results())
        assert ledger.limit == 1_000_000
        assert ledger.peak <= ledger.limit
    assert len(held) == N
    assert not [r for r in caplog.records if "frames budget" in r.getMessage()]  # nothing went the host way
    assert any(not r.frame.on_device for r in held)  # the oldest were moved to the host
    with av.open(str(path)) as container:
        want = [vf.to_ndarray(format="bgr24") for vf in container.decode(video=0)]
    for result in held:
        diff = np.abs(result.frame.image.astype(np.int16) - want[result.frame_index])
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
