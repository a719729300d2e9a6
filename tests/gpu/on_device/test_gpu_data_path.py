"""The GPU-resident data path on a real GPU (opt-in, see conftest): NVDEC decode, batched device
postprocessing, overlay on the device, parallel recording; FP16 parity end to end; flat GPU memory.

These tests have NOT been run yet: no GPU was lent when they were written (issue 10).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from streamseg import Pipeline
from streamseg.capture import PyAVFileSource
from streamseg.config import Config, ModelConfig, OutputConfig, PipelineConfig, SourceConfig
from streamseg.gpu.decode import DecodeTarget
from streamseg.inference.runtimes import create_backend
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.types import Frame
from tests.conftest import FIXTURE_PT, VIDEOS, require_asset
from tests.gpu.on_device.test_gpu_backends import THRESHOLDS, _assert_fp16_parity

CLIP = VIDEOS / "street_pedestrians_720p30.mp4"


def _read(src: PyAVFileSource, n: int) -> list[Frame]:
    out = []
    with src:
        while len(out) < n and (frame := src.read()) is not None:
            out.append(frame)
    return out


def test_nvdec_frames_match_cpu_decoded_frames(cuda_device: str, caplog: pytest.LogCaptureFixture) -> None:
    target = DecodeTarget(torch.device(cuda_device), nvdec=True)
    with caplog.at_level(logging.WARNING):
        gpu = _read(PyAVFileSource(str(require_asset(CLIP)), decode=target), 40)
    assert not [r for r in caplog.records if "NVDEC" in r.message], "NVDEC did not take the stream"
    cpu = _read(PyAVFileSource(str(CLIP)), 40)
    assert [f.pts for f in gpu] == [f.pts for f in cpu]
    for a, b in zip(gpu, cpu, strict=True):
        assert a.surface is not None and a.surface.y.device.type == "cuda"  # type: ignore[attr-defined]
        mad = np.abs(a.image.astype(np.int16) - b.image.astype(np.int16)).mean()
        assert mad <= 2.0


def _gpu_pipeline(tmp_path: Path, sources: list[str], record: bool, **pipe: object) -> Config:
    return Config(
        sources=tuple(SourceConfig(s, name=f"s{i}") for i, s in enumerate(sources)),
        model=ModelConfig(path=str(FIXTURE_PT), backend="torch", device="cuda:0", batch=16),
        output=OutputConfig(
            record=str(tmp_path / "rec.mp4") if record else None, save_results=str(tmp_path / "r.jsonl")
        ),
        pipeline=PipelineConfig(decode="gpu", **pipe),  # type: ignore[arg-type]
    )


def test_fp16_parity_end_to_end_with_gpu_decode_and_overlay(
    cuda_device: str, trained_seg_onnx: Path, tmp_path: Path
) -> None:
    """NVDEC -> device letterbox -> FP16 graphs -> batched postprocess -> overlay -> recording, against
    ONNX Runtime FP32 on CPU-decoded frames: FP16 tolerances; the recording plays with the source pts."""
    cfg = _gpu_pipeline(tmp_path, [str(require_asset(CLIP))], record=True)
    results = list(Pipeline(config=cfg).results())
    frames = [Frame(r.source, r.frame_index, r.pts, 0.0, r.frame.image) for r in results[:24]]
    ort = create_backend("onnxruntime", trained_seg_onnx, "cpu")
    reference = SegmentationEngine(ort, 640, THRESHOLDS).run(frames)
    _assert_fp16_parity(results[:24], reference)
    with av.open(str(tmp_path / "rec.mp4")) as container:
        stream = container.streams.video[0]
        pts = [float(f.pts * stream.time_base) for f in container.decode(stream)]
    with av.open(str(CLIP)) as container:
        stream = container.streams.video[0]
        source_pts = [float(f.pts * stream.time_base) for f in container.decode(stream)]
    assert len(pts) == len(results) == len(source_pts)
    assert pts == pytest.approx([p - source_pts[0] for p in source_pts], abs=2e-4)
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sum(len(line["instances"]) for line in lines) == sum(len(r) for r in results)


def test_gpu_memory_flat_over_10000_frames(cuda_device: str, tmp_path: Path) -> None:
    """16 looped streams, all recorded: GPU memory after warm-up does not grow, and stays under 3 GB."""
    from streamseg.telemetry.system import GpuMemoryProbe

    clips = [
        str(require_asset(VIDEOS / n))
        for n in ("street_pedestrians_720p30.mp4", "street_dance_crowd_720p25.mp4")
    ]
    cfg = _gpu_pipeline(tmp_path, [clips[i % 2] for i in range(16)], record=True, loop=True)
    probe = GpuMemoryProbe(0)
    pipeline = Pipeline(config=cfg)
    marks: dict[int, tuple[int, int | None]] = {}
    for n, _ in enumerate(pipeline.results(host_masks=False), start=1):
        if n in (2000, 10000):
            marks[n] = (torch.cuda.memory_reserved(), probe.read())
        if n >= 10000:
            pipeline.stop()
            break
    pipeline.join()
    (reserved_a, nvml_a), (reserved_b, nvml_b) = marks[2000], marks[10000]
    assert reserved_b <= reserved_a + (16 << 20), (reserved_a, reserved_b)
    if nvml_a is not None and nvml_b is not None:
        assert nvml_b <= nvml_a + (64 << 20)
        assert nvml_b <= 3 << 30


def test_graph_replay_equals_eager(cuda_device: str) -> None:
    """Both bodies captured as CUDA graphs and replayed give what the same bodies give run eagerly at
    the same padded shapes (FP32, so the kernels are the same): boxes, scores, masks, overlay planes.
    Batches of 3, 4 and 1 (one bucket padded), over several replays of the same graphs."""
    from streamseg.config import RenderConfig
    from streamseg.gpu.surface import import_video_frame
    from streamseg.inference.yolo.engine import PendingResult

    device = torch.device(cuda_device)
    with av.open(str(require_asset(CLIP))) as container:
        decoded = [vf for _, vf in zip(range(16), container.decode(video=0), strict=False)]
    frames = [
        Frame("cam", i, 0.0, 0.0, surface=import_video_frame(vf, device)) for i, vf in enumerate(decoded)
    ]
    outputs = []
    for graphs in (True, False):
        backend = create_backend(
            "torch", require_asset(FIXTURE_PT), cuda_device, half=False, cuda_graphs=graphs
        )
        engine = SegmentationEngine(backend, 640, THRESHOLDS, overlay=RenderConfig(), host_masks=lambda: True)
        runner = engine.device_runner
        assert runner is not None and runner.graphs.enabled == graphs
        runner.fixed_shapes = True  # the same padded shapes both ways: the same kernels, bit for bit
        got = []
        for start, stop in ((0, 3), (3, 7), (7, 8), (8, 11), (11, 15), (15, 16)):
            for item in engine.submit(frames[start:stop]):
                assert isinstance(item, PendingResult)
                result, picture = item.resolve()
                got.append((result, picture.numpy().copy()))
        if graphs:
            assert runner.graphs.captures >= 2
        outputs.append(got)
        backend.close()
    for (a, pa), (b, pb) in zip(*outputs, strict=True):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.score, b.score)
        np.testing.assert_array_equal(a.masks.dense(), b.masks.dense())
        np.testing.assert_array_equal(pa, pb)
