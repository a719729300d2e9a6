"""The device path's CUDA graphs on a real GPU (opt-in, see conftest): a replay gives what the same
padded batch gives eagerly, bit for bit, however the memory around it changed since the capture.

FP32 on both sides and the same (padded) shapes, so the same kernels run: any difference is a graph
reading memory that is no longer what it captured (issue 25, defects 1, 2 and 9). Written without a
GPU at hand: these have not run yet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from streamseg.config import RenderConfig
from streamseg.gpu.surface import import_video_frame
from streamseg.inference.runtimes import create_backend
from streamseg.inference.yolo.engine import PendingResult, SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.types import Frame
from tests.conftest import FIXTURE_PT, VIDEOS, require_asset

THRESHOLDS = Thresholds(0.25, 0.7, 300)
CLIP = VIDEOS / "street_pedestrians_720p30.mp4"


def _surfaces(device: str, n: int) -> list[Frame]:
    with av.open(str(require_asset(CLIP))) as container:
        decoded = [vf for _, vf in zip(range(n), container.decode(video=0), strict=False)]
    dev = torch.device(device)
    return [Frame("cam", i, 0.0, 0.0, surface=import_video_frame(vf, dev)) for i, vf in enumerate(decoded)]


def _engines(device: str, weights: Path) -> tuple[SegmentationEngine, SegmentationEngine]:
    """One engine whose bodies are CUDA graphs (a failure raises: ``on``), one running the same padded
    shapes eagerly."""
    graphs = create_backend("torch", weights, device, half=False, cuda_graphs="on")
    eager = create_backend("torch", weights, device, half=False, cuda_graphs="off")
    overlay = RenderConfig()
    with_graphs = SegmentationEngine(graphs, 640, THRESHOLDS, overlay=overlay, host_masks=lambda: True)
    padded = SegmentationEngine(eager, 640, THRESHOLDS, overlay=overlay, host_masks=lambda: True)
    assert padded.device_runner is not None and with_graphs.device_runner is not None
    padded.device_runner.fixed_shapes = True
    assert with_graphs.device_runner.graphs.enabled and not padded.device_runner.graphs.enabled
    return with_graphs, padded


def _outcomes(engine: SegmentationEngine, frames: list[Frame]) -> list[tuple[np.ndarray, ...]]:
    out = []
    for item in engine.submit(frames):
        assert isinstance(item, PendingResult)
        result, picture = item.resolve()
        out.append((result.xyxy, result.score, result.class_id, result.masks.dense(), picture.numpy().copy()))
    return out


def _assert_bitwise(a: list[tuple[np.ndarray, ...]], b: list[tuple[np.ndarray, ...]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)


@pytest.fixture(scope="module")
def engines(cuda_device: str) -> Iterator[tuple[SegmentationEngine, SegmentationEngine]]:
    pair = _engines(cuda_device, require_asset(FIXTURE_PT))
    yield pair
    for engine in pair:
        engine.close()


def test_replay_equals_eager_through_what_frees_memory(
    cuda_device: str, engines: tuple[SegmentationEngine, SegmentationEngine]
) -> None:
    with_graphs, padded = engines
    frames = _surfaces(cuda_device, 6)

    def same(n: int, imgsz: int = 640) -> None:
        with_graphs.imgsz = padded.imgsz = imgsz
        _assert_bitwise(_outcomes(with_graphs, frames[:n]), _outcomes(padded, frames[:n]))

    same(1)
    same(3)  # bucket 4 captured: Ultralytics rebuilds the head's anchors for the new shape
    same(1)  # bucket 1's graph again, after that
    same(2, imgsz=480)  # a rung of the latency ladder: another letterbox, other anchors
    same(1)  # ... and back
    same(3)
    streams = [torch.cuda.Stream() for _ in range(40)]  # memory freed and reused all over the device
    junk = []
    for k, stream in enumerate(streams):
        with torch.cuda.stream(stream):
            junk.append(torch.full(((k % 7 + 1) << 18,), k, dtype=torch.float32, device=cuda_device))
    del junk
    torch.cuda.synchronize()
    same(1)
    same(6)  # bucket 8, new, captured after all that
    same(3)
    runner = with_graphs.device_runner
    assert runner is not None and not runner.graphs.eager_bodies
    assert runner.graphs.captures >= 8


def test_captures_while_capture_threads_import_frames(
    cuda_device: str, engines: tuple[SegmentationEngine, SegmentationEngine]
) -> None:
    """New graphs are captured mid-run while other threads copy frames into the ring and wait for
    their own streams: no "operation not permitted when stream is capturing", nothing turned off."""
    with_graphs, padded = engines
    frames = _surfaces(cuda_device, 16)
    stop = threading.Event()
    errors: list[BaseException] = []
    with av.open(str(require_asset(CLIP))) as container:
        decoded = [vf for _, vf in zip(range(8), container.decode(video=0), strict=False)]

    def importer() -> None:
        stream = torch.cuda.Stream()
        try:
            while not stop.is_set():
                for vf in decoded:
                    import_video_frame(vf, torch.device(cuda_device), stream)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=importer, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for n in (16, 5, 9):  # buckets 16 and 8 are new here: captured while the importers run
            with_graphs.imgsz = padded.imgsz = 640
            _assert_bitwise(_outcomes(with_graphs, frames[:n]), _outcomes(padded, frames[:n]))
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, errors
    runner = with_graphs.device_runner
    assert runner is not None and not runner.graphs.eager_bodies


def test_tensorrt_graphs_with_one_context_per_bucket(
    tensorrt_ready: str, cuda_device: str, trained_seg_onnx: Path, tmp_path: Path
) -> None:
    """Graphs of several buckets over one TensorRT plan: each bucket has its own execution context,
    shaped once, so a replay after another bucket's enqueue gives what it gave before."""
    from streamseg.gpu.graph_cache import GraphCache
    from streamseg.inference.runtimes.tensorrt.runtime import TensorRTBackend

    backend = create_backend(
        "tensorrt", trained_seg_onnx, cuda_device, engines_dir=tmp_path, imgsz=640, max_batch=8
    )
    assert isinstance(backend, TensorRTBackend)
    engine = SegmentationEngine(backend, 640, THRESHOLDS, overlay=RenderConfig(), host_masks=lambda: True)
    eager = SegmentationEngine(backend, 640, THRESHOLDS, owns_backend=False, overlay=RenderConfig())
    runner, eager_runner = engine.device_runner, eager.device_runner
    assert runner is not None and eager_runner is not None and runner.graphs.enabled
    eager_runner.fixed_shapes = True
    eager_runner.graphs = GraphCache(None)
    frames = _surfaces(cuda_device, 8)
    for n in (1, 3, 8, 1, 3):
        _assert_bitwise(_outcomes(engine, frames[:n]), _outcomes(eager, frames[:n]))
    assert {1, 4, 8} <= set(backend._contexts)
    assert not runner.graphs.eager_bodies
    engine.close()
