"""The batch's two graph bodies on CPU torch: what a CUDA graph captures, checked without a GPU.

(a) every batch that fits the captured shapes runs the same ops with the same shapes, whatever the
frames show (different clips, nothing at all, a crowd right at a capacity); (b) nothing inside a body
waits for the device or has a data-dependent shape, and a batch waits exactly once; (c) padded to
fixed shapes, the results (boxes, scores, classes, masks, overlay pixels, yuv420p planes) equal the
unpadded run bit for bit; a batch past a capacity runs eagerly, untruncated, and the capacity grows.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator

import av
import numpy as np
import pytest
import torch

from streamseg.config import RenderConfig
from streamseg.gpu import trace
from streamseg.gpu.graph_cache import GraphCache
from streamseg.gpu.ring import ring_for
from streamseg.gpu.surface import import_video_frame
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.yolo.device.layout import Capacity
from streamseg.inference.yolo.device.runner import DeviceRunner
from streamseg.inference.yolo.engine import PendingResult, SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.testing.device_batches import device_backend, device_engine, round_robin_surfaces, take
from streamseg.testing.optrace import OpTrace
from streamseg.types import Frame, SegResult

IMGSZ = 320
THRESHOLDS = Thresholds(0.4, 0.7, 300)  # random weights: a few large instances per frame
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def backend() -> Iterator[InferenceBackend]:
    backend = device_backend()
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def batches() -> dict[str, list[Frame]]:
    """Four frames each: the three clips round-robin at two points in time, and blank frames."""
    blank = av.VideoFrame.from_ndarray(np.full((720, 1280, 3), 90, np.uint8), format="bgr24")
    blank = blank.reformat(format="yuv420p")
    return {
        "street, dance, highway": take(round_robin_surfaces(0), 4),
        "later": take(round_robin_surfaces(90), 4),
        "dance only": take(round_robin_surfaces(40, ("street_dance_crowd_720p25.mp4",)), 4),
        "nothing": [Frame("cam", i, 0.0, 0.0, surface=import_video_frame(blank, CPU)) for i in range(4)],
    }


def _run(engine: SegmentationEngine, frames: list[Frame]) -> list[tuple[SegResult, np.ndarray | None]]:
    out = []
    for item in engine.submit(frames):
        assert isinstance(item, PendingResult)
        result, picture = item.resolve()
        out.append((result, None if picture is None else picture.numpy().copy()))
    return out


def _needs(backend: InferenceBackend, batches: dict[str, list[Frame]]) -> dict[str, Capacity]:
    """What each batch needs of the second body (measured on the exact path)."""
    engine, runner = device_engine(backend, IMGSZ, THRESHOLDS, overlay=RenderConfig(), fixed_shapes=False)
    needs = {}
    for name, frames in batches.items():
        with _need_recorder(runner) as seen:
            _run(engine, frames)
        needs[name] = seen[-1]
    return needs


class _need_recorder:
    """Records ``GroupLayout.need`` of every group the runner lays out."""

    def __init__(self, runner: DeviceRunner) -> None:
        self.runner = runner
        self.seen: list[Capacity] = []

    def __enter__(self) -> list[Capacity]:
        original = self.runner._finish_group

        def recording(run, layout, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.seen.append(layout.need)
            return original(run, layout, *args, **kwargs)

        self.runner._finish_group = recording  # type: ignore[method-assign]
        return self.seen

    def __exit__(self, *exc: object) -> None:
        del self.runner._finish_group


def _assert_same(
    a: list[tuple[SegResult, np.ndarray | None]], b: list[tuple[SegResult, np.ndarray | None]]
) -> None:
    for (x, px), (y, py) in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.xyxy, y.xyxy)
        np.testing.assert_array_equal(x.score, y.score)
        np.testing.assert_array_equal(x.class_id, y.class_id)
        np.testing.assert_array_equal(x.masks.origins, y.masks.origins)
        for m, n in zip(x.masks.crops, y.masks.crops, strict=True):
            np.testing.assert_array_equal(m, n)
        assert (px is None) == (py is None)
        if px is not None:
            np.testing.assert_array_equal(px, py)  # the overlay, as the encoder's yuv420p planes


def test_every_batch_that_fits_runs_the_same_ops(
    backend: InferenceBackend, batches: dict[str, list[Frame]]
) -> None:
    """(a) and (b): one op sequence per body for all contents, the crowd exactly at the capacity."""
    needs = _needs(backend, batches)
    crowd = max(needs, key=lambda name: needs[name].mask_pixels)
    assert needs["nothing"].instances == 0 and needs[crowd].instances > 10
    capacity = Capacity(
        per_frame=max(n.per_frame for n in needs.values()),
        instances=max(n.instances for n in needs.values()),
        mask_pixels=needs[crowd].mask_pixels,  # the crowd fills it to the last pixel
        box_pixels=max(n.box_pixels for n in needs.values()),
    )
    engine, runner = device_engine(backend, IMGSZ, THRESHOLDS, overlay=RenderConfig())
    runner.capacity = capacity
    runner.candidate_slots = 256
    sequences = {}
    for name, frames in batches.items():
        with OpTrace() as traced:
            _run(engine, frames)
        assert traced.waits == ["download"], name  # the one wait of the batch
        assert traced.hazards("detect") == [] and traced.hazards("finish") == [], name
        sequences[name] = (traced.sequence("detect"), traced.sequence("finish"))
        assert traced.outside() <= 3 * len(frames) + 16, name  # the glue stays small
    assert runner.eager_batches == 0 and runner.capacity == capacity
    first = sequences.pop("street, dance, highway")
    assert len(first[0]) > 100 and len(first[1]) > 50
    for name, sequence in sequences.items():
        assert sequence == first, f"{name}: the body's ops differ, a captured graph would not fit it"


def test_fixed_shapes_give_the_exact_results(
    backend: InferenceBackend, batches: dict[str, list[Frame]]
) -> None:
    """(c): padded to a bucket and capacities (3 frames in a bucket of 4) or not, bit for bit."""
    config = RenderConfig()
    exact_engine, _ = device_engine(backend, IMGSZ, THRESHOLDS, overlay=config, fixed_shapes=False)
    fixed_engine, fixed = device_engine(backend, IMGSZ, THRESHOLDS, overlay=config)
    some = {name: batches[name][:3] for name in ("street, dance, highway", "nothing", "later")}
    for need in _needs(backend, some).values():
        fixed.capacity = fixed.capacity.grown(need)
    for frames in some.values():
        _assert_same(_run(exact_engine, frames[:3]), _run(fixed_engine, frames[:3]))
    assert fixed.eager_batches == 0


def test_a_batch_past_the_capacity_runs_eagerly_and_the_capacity_grows(
    backend: InferenceBackend, batches: dict[str, list[Frame]]
) -> None:
    """One pixel or instance too many: never truncated; the next batch of that size fits again."""
    frames = batches["street, dance, highway"][:2]
    need = _needs(backend, {"b": frames})["b"]
    exact_engine, _ = device_engine(backend, IMGSZ, THRESHOLDS, overlay=RenderConfig(), fixed_shapes=False)
    want = _run(exact_engine, frames)
    for short in (
        dataclasses.replace(need, mask_pixels=need.mask_pixels - 1),
        dataclasses.replace(need, instances=need.instances - 1),
    ):
        engine, runner = device_engine(backend, IMGSZ, THRESHOLDS, overlay=RenderConfig())
        runner.capacity = short
        _assert_same(want, _run(engine, frames))
        assert runner.eager_batches == 1 and runner.capacity.holds(need)
        _assert_same(want, _run(engine, frames))
        assert runner.eager_batches == 1  # the grown capacity holds it


def test_the_tracer_sees_what_a_graph_cannot_hold() -> None:
    """The hazard check is real: a body that synchronises or has a data-dependent shape is caught."""
    x = torch.arange(10.0)
    with OpTrace() as traced, trace.body("broken"):
        _ = x[x > 4]  # boolean indexing
        _ = torch.nonzero(x)
        _ = float(x.sum())  # .item()
        _ = torch.repeat_interleave(torch.tensor([1, 2]))
    names = {op.name for op in traced.hazards("broken")}
    assert {"index", "nonzero", "_local_scalar_dense", "repeat_interleave"} <= names


def test_surfaces_come_from_the_ring_and_go_back(backend: InferenceBackend) -> None:
    """Imported frames take ring slots (given back when the frame is gone); with the ring full they
    get tensors of their own and the batch copies them into staging slots: the same results."""
    frames = take(round_robin_surfaces(10, ("highway_cars_720p30.mp4",)), 2)
    ring = ring_for(CPU, (720, 1280))
    assert all(f.surface is not None and f.surface.ring is ring for f in frames)
    engine, _ = device_engine(backend, IMGSZ, THRESHOLDS, overlay=RenderConfig())
    want = _run(engine, frames)
    taken = [ring.acquire() for _ in range(ring.capture_slots)]
    held = [s for s in taken if s is not None]
    try:
        strays = take(round_robin_surfaces(10, ("highway_cars_720p30.mp4",)), 2)
        assert all(f.surface is not None and f.surface.ring is None for f in strays)
        _assert_same(want, _run(engine, strays))
    finally:
        for slot in held:
            ring.release(slot)
    free = len(ring._free)
    del frames, want  # the results hold their frames
    gc.collect()
    assert len(ring._free) == free + 2


@pytest.mark.parametrize("host_masks", [False, True])
def test_replays_over_static_outputs_give_the_exact_results(
    backend: InferenceBackend, batches: dict[str, list[Frame]], host_masks: bool
) -> None:
    """Graphs emulated on the CPU (a replay writes into the first run's tensors, as on CUDA): batches
    of several sizes and contents in a row, the capacity growing on the way, each batch resolved
    after the next one was submitted (as the render thread lags the inference thread): every result
    is its own batch's, bit for bit."""
    frames = [f for name in ("street, dance, highway", "nothing", "later") for f in batches[name]]
    cuts = [(0, 3), (3, 7), (7, 8), (8, 10)]  # buckets 4 (padded), 4, 1, 2
    if host_masks:  # the masks come down with the batch: the first two batches show it
        cuts = cuts[:2]
    exact_engine, _ = device_engine(backend, IMGSZ, THRESHOLDS, overlay=RenderConfig(), fixed_shapes=False)
    want = [_run(exact_engine, frames[a:b]) for a, b in cuts]
    engine = SegmentationEngine(
        backend, IMGSZ, exact_engine.thresholds, overlay=RenderConfig(), host_masks=lambda: host_masks
    )
    runner = engine.device_runner
    assert runner is not None
    runner.fixed_shapes = True
    runner.capacity = Capacity(8, 16, 1 << 14, 1 << 12)  # too small at first: it grows, graphs are recaptured
    runner.graphs = GraphCache.emulated()
    pending = [engine.submit(frames[a:b]) for a, b in cuts]  # all submitted before any is resolved
    for expected, items in zip(want, pending, strict=True):
        got = []
        for item in items:
            assert isinstance(item, PendingResult)
            result, picture = item.resolve()
            got.append((result, picture.numpy().copy()))
        _assert_same(expected, got)
    assert runner.graphs.captures >= (2 if host_masks else 4) and runner.eager_batches >= 1
