"""What a captured graph reads stays alive, and a graph that fails turns into eager runs: checked on
CPU torch with emulated graphs (a replay writes into the first run's tensors, as on CUDA).

The liveness audit: every storage a graph body reads from outside itself (weights, Ultralytics'
anchors, the letterbox's gather indices, the ring, the static buffers) must still be allocated after
what frees them in a running pipeline: another bucket (the head rebuilds its anchors), an imgsz rung
(a new letterbox), another frame size. Without the records' references (the code before issue 25)
the audit finds the freed anchors: the test shows both.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import pytest
import torch

from streamseg.config import RenderConfig
from streamseg.gpu.graph_cache import GraphCache, GraphError
from streamseg.gpu.graphs import CapturedGraph, EmulatedCapturer, output_tensors
from streamseg.gpu.surface import import_video_frame
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.yolo.device.layout import Capacity
from streamseg.inference.yolo.engine import PendingResult, SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.testing.device_batches import CLIPS, clip_frames, device_backend, device_engine
from streamseg.testing.liveness import StorageAudit
from streamseg.types import Frame, SegResult
from tests.inference.yolo.test_parity import frames_for_parity

T = TypeVar("T")
IMGSZ = 160  # small frames and input: what is checked does not depend on size, CI time does
SMALLER = 128
THRESHOLDS = Thresholds(0.3, 0.7, 300)
SMALL_CAPACITY = Capacity(8, 16, 1 << 14, 1 << 12)  # small frames: the padded passes stay cheap


@pytest.fixture(scope="module")
def backend() -> Iterator[InferenceBackend]:
    backend = device_backend()
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def surfaces() -> list[Frame]:
    """Three cameras' frames, scaled down to 320x180, imported into the ring as device surfaces."""
    frames = []
    for i, name in enumerate(CLIPS):
        vf = next(clip_frames(name)).reformat(width=320, height=180, format="yuv420p")
        frames.append(Frame(f"cam{i}", 0, 0.0, 0.0, surface=import_video_frame(vf, torch.device("cpu"))))
    return frames


@pytest.fixture(scope="module")
def portrait() -> list[Frame]:
    """A frame of another size (and orientation)."""
    image = frames_for_parity()[-2][1]
    return [Frame("bus", 0, 0.0, 0.0, np.ascontiguousarray(image[::4, ::4]))]


def _engine(
    backend: InferenceBackend, graphs: GraphCache, capacity: Capacity = SMALL_CAPACITY
) -> SegmentationEngine:
    """A device engine at fixed shapes on ``graphs``, starting at ``capacity``."""
    engine, runner = device_engine(backend, IMGSZ, THRESHOLDS, overlay=RenderConfig())
    runner.graphs = graphs
    runner.capacity = capacity
    return engine


def _run(engine: SegmentationEngine, frames: list[Frame]) -> list[tuple[SegResult, np.ndarray]]:
    out = []
    for item in engine.submit(frames):
        assert isinstance(item, PendingResult)
        result, picture = item.resolve()
        out.append((result, picture.numpy().copy()))
    return out


def _same(a: list[tuple[SegResult, np.ndarray]], b: list[tuple[SegResult, np.ndarray]]) -> None:
    for (x, px), (y, py) in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.xyxy, y.xyxy)
        np.testing.assert_array_equal(x.score, y.score)
        np.testing.assert_array_equal(x.masks.dense(), y.masks.dense())
        np.testing.assert_array_equal(px, py)


class ForgetfulCapturer(EmulatedCapturer):
    """A record that keeps nothing it read alive: the graphs as they were before issue 25."""

    def capture(self, name: str, body: Callable[[], T]) -> CapturedGraph[T]:
        record = super().capture(name, body)
        record.reads = ()
        return record


def _audit(
    backend: InferenceBackend, graphs: GraphCache, surfaces: list[Frame], portrait: list[Frame]
) -> list[str]:
    """Capture at bucket 1, then do what frees storages mid-run; the dead outside reads, named. The
    capacity and candidate slots are large enough that no graph is dropped on the way (a dropped
    graph may let go of what it read)."""
    engine = _engine(backend, graphs, Capacity(64, 128, 1 << 17, 1 << 15))
    with StorageAudit() as audit:
        _run(engine, surfaces[:1])  # bucket 1: both bodies captured here
    watched = len(audit.reads)
    _run(engine, surfaces[:2])  # bucket 2: Ultralytics rebuilds head.anchors for the new shape
    engine.imgsz = SMALLER  # a rung of the latency ladder: another letterbox
    _run(engine, surfaces[:1])
    engine.imgsz = IMGSZ
    _run(engine, portrait)  # another frame size
    gc.collect()
    assert watched > 100  # weights, anchors, letterbox taps, ring planes, static buffers
    assert len(list(graphs.slots())) == graphs.captures == 8  # 4 keys x 2 bodies, all still cached
    return [f"{r.body}: {r.op} {r.shape} {r.dtype}" for r in audit.dead()]


def test_what_a_graph_reads_stays_alive(
    backend: InferenceBackend, surfaces: list[Frame], portrait: list[Frame]
) -> None:
    assert _audit(backend, GraphCache(EmulatedCapturer(warmup=True)), surfaces, portrait) == []


def test_the_audit_finds_what_the_old_graphs_let_go(
    backend: InferenceBackend, surfaces: list[Frame], portrait: list[Frame]
) -> None:
    dead = _audit(backend, GraphCache(ForgetfulCapturer(warmup=True)), surfaces, portrait)
    assert any(line.startswith("detect:") for line in dead), dead  # the anchors of bucket 1, at least


class FailingCapturer(EmulatedCapturer):
    """Fails one body the way a GPU might: at capture, or with a first replay unlike the eager run."""

    def __init__(self, body: str, how: str) -> None:
        super().__init__(verify=True)
        self.body, self.how = body, how

    def capture(self, name: str, body: Callable[[], T]) -> CapturedGraph[T]:
        if name == self.body and self.how == "capture":
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        return super().capture(name, body)

    def replay(self, record: CapturedGraph[T], body: Callable[[], T]) -> T:
        out = super().replay(record, body)
        if record.name == self.body and self.how == "replay" and record.replays == 1:
            for t in output_tensors(out):
                if t.dtype == torch.uint8:
                    t.add_(7)  # what a graph gathering from freed memory would draw
                elif t.is_floating_point():
                    t.add_(100.0)  # ... or find: boxes far off
        return out


def _eager_results(backend: InferenceBackend, frames: list[Frame]) -> list[tuple[SegResult, np.ndarray]]:
    engine, _ = device_engine(backend, IMGSZ, THRESHOLDS, overlay=RenderConfig(), fixed_shapes=False)
    return _run(engine, frames)


@pytest.mark.parametrize("body", ["detect", "finish"])
@pytest.mark.parametrize("how", ["capture", "replay"])
def test_a_failing_graph_gives_one_line_and_the_same_results(
    backend: InferenceBackend,
    surfaces: list[Frame],
    caplog: pytest.LogCaptureFixture,
    body: str,
    how: str,
) -> None:
    graphs = GraphCache(FailingCapturer(body, how))
    engine = _engine(backend, graphs)
    want = _eager_results(backend, surfaces)
    with caplog.at_level(logging.WARNING, logger="streamseg.gpu.graph_cache"):
        got = [r for _ in range(3) for r in _run(engine, surfaces)]  # the same batch three times
    _same(want * 3, got)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and f"CUDA graph of the {body} step turned off" in lines[0], lines
    assert ("capture failed" if how == "capture" else "disagreed with the eager run") in lines[0]
    assert set(graphs.eager_bodies) == {body}
    assert {name for name, _ in graphs.slots()} == (
        {"detect", "finish"} - {body} if body == "finish" else set()
    )


def test_cuda_graphs_on_makes_a_failure_an_error(backend: InferenceBackend, surfaces: list[Frame]) -> None:
    engine = _engine(backend, GraphCache(FailingCapturer("detect", "capture"), mode="on"))
    with pytest.raises(GraphError, match=r"^CUDA graph of the detect step: its capture failed: RuntimeError"):
        engine.submit(surfaces)


def test_graph_memory_stays_under_its_budget(
    backend: InferenceBackend, surfaces: list[Frame], portrait: list[Frame]
) -> None:
    """Buckets, imgsz rungs and frame sizes past a small budget: the oldest graphs are freed (with
    what they kept alive), results unchanged, the cache never over its budget after a batch."""
    sizes: dict[str, int] = {}
    probe = GraphCache.emulated()
    _run(_engine(backend, probe), surfaces[:1])
    per_pair = probe.nbytes
    budget = int(per_pair * 2.5)  # room for two (detect, finish) pairs, not for everything below
    graphs = GraphCache.emulated(budget_bytes=budget)
    engine = _engine(backend, graphs)
    want = {n: _eager_results(backend, surfaces[:n]) for n in (1, 2, 3)}
    for n, imgsz in [(1, IMGSZ), (2, IMGSZ), (3, IMGSZ), (1, SMALLER), (2, SMALLER), (1, IMGSZ)]:
        engine.imgsz = imgsz
        got = _run(engine, surfaces[:n])
        if imgsz == IMGSZ:
            _same(want[n], got)
        _run(engine, portrait)
        sizes[f"{n}@{imgsz}"] = graphs.nbytes
        assert graphs.nbytes <= budget, sizes
    assert graphs.evictions > 0
