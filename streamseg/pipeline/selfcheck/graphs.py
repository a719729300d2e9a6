"""Step three: the batch's CUDA graphs give what the eager run gives, at two buckets, in either order.

Why two buckets and a second round: a graph replays the memory it was captured with, so what goes
wrong on a new GPU or driver is rarely the first capture but a second one that reuses or frees what
the first reads (the network head's anchors, a shared pool). One synthetic batch of 1 (bucket 1) and
one of 3 (bucket 4) run on an engine whose backend captures graphs, then both again after the other
bucket was captured; each result must match an engine on a backend that runs eagerly. Only the public
engine API is used (``SegmentationEngine.submit``, ``PendingResult.resolve``), and the backends come
from a factory, so this module is the one to adapt when the graphs policy changes. A mismatch or a
failed capture turns CUDA graphs off for the run (or stops it with ``--cuda-graphs on``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from streamseg.config import RenderConfig
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.yolo.engine import PendingResult, SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.pipeline.selfcheck.pictures import pattern_picture
from streamseg.pipeline.selfcheck.steps import GRAPHS, Step, said
from streamseg.types import Frame, SegResult

logger = logging.getLogger(__name__)

BackendFactory = Callable[[bool], InferenceBackend]  # graphs on or off -> a backend on the device
BATCHES = (1, 3)  # buckets 1 and 4: a batch of 3 replays the graph captured for 4
FRAME_HW = (360, 640)
THRESHOLDS = Thresholds(0.1, 0.7, 100)  # a low threshold: more instances to compare
BOX_PX = 1.0  # the same kernels on the same inputs: only FP16 rounding may move a box
SCORE_TOLERANCE = 2e-3
MASK_FRACTION = 0.02  # of an instance's mask pixels (union), that may differ
PICTURE_LEVELS = 1.0  # mean absolute difference of the drawn yuv420p pictures

Outcome = tuple[SegResult, Any]  # a frame's result and its drawn picture (None when not drawn)


def graphs_step(make_backend: BackendFactory, imgsz: int = 640) -> Step:
    """Compare a graph engine with an eager one (see the module docstring). An eager failure is the
    device path's, not the graphs', and is raised."""
    frames = synthetic_frames(max(BATCHES))
    eager = make_backend(False)
    try:
        engine = _engine(eager, imgsz)
        expected = {n: run_batch(engine, frames[:n]) for n in BATCHES}
    finally:
        eager.close()
    graphs = make_backend(True)
    try:
        engine = _engine(graphs, imgsz)
        for round_ in (1, 2):
            for n in BATCHES:
                try:
                    got = run_batch(engine, frames[:n])
                except Exception as exc:  # a capture or replay the driver refused
                    logger.debug("CUDA graph self-check failed", exc_info=True)
                    return Step(GRAPHS, False, f"a batch of {n} failed: {said(exc)}")
                problem = batch_difference(got, expected[n])
                if problem is not None:
                    after = " after the other bucket was captured" if round_ == 2 else ""
                    return Step(GRAPHS, False, f"a batch of {n}{after} replays unlike eager: {problem}")
    finally:
        graphs.close()
    return Step(GRAPHS, True)


def synthetic_frames(n: int) -> list[Frame]:
    """``n`` host frames, each a different picture (a position mixed up in the batch shows)."""
    now = time.monotonic()
    return [Frame(f"selfcheck{i}", 0, 0.0, now, pattern_picture(i, FRAME_HW)) for i in range(n)]


def run_batch(engine: SegmentationEngine, frames: Sequence[Frame]) -> list[Outcome]:
    """One batch through ``engine``, resolved: each frame's result and drawn picture."""
    return [r.resolve() if isinstance(r, PendingResult) else (r, None) for r in engine.submit(frames)]


def batch_difference(got: Sequence[Outcome], expected: Sequence[Outcome]) -> str | None:
    """The first way ``got`` differs from ``expected`` beyond rounding, in a few words; None: alike."""
    if len(got) != len(expected):
        return f"{len(got)} results for {len(expected)} frames"
    for k, ((result, picture), (want, want_picture)) in enumerate(zip(got, expected, strict=True)):
        problem = result_difference(result, want) or picture_difference(picture, want_picture)
        if problem is not None:
            return f"frame {k}: {problem}"
    return None


def result_difference(got: SegResult, want: SegResult) -> str | None:
    if len(got) != len(want):
        return f"{len(got)} instances instead of {len(want)}"
    if len(got) == 0:
        return None
    if not np.array_equal(got.class_id, want.class_id):
        return "other classes"
    moved = float(np.abs(got.xyxy - want.xyxy).max())
    if moved > BOX_PX:
        return f"boxes moved by {moved:.1f} px"
    scored = float(np.abs(got.score - want.score).max())
    if scored > SCORE_TOLERANCE:
        return f"scores differ by {scored:.3f}"
    for i in range(len(got)):
        a, b = got.masks.full(i), want.masks.full(i)
        union = int(np.logical_or(a, b).sum())
        differ = int(np.logical_xor(a, b).sum())
        if union and differ / union > MASK_FRACTION:
            return f"mask {i} differs in {differ / union:.0%} of its pixels"
    return None


def picture_difference(got: Any, want: Any) -> str | None:
    """The drawn yuv420p pictures (an ``I420Picture`` or its host tensor), when both were drawn."""
    if got is None or want is None:
        return None
    a, b = _pixels(got), _pixels(want)
    if a.shape != b.shape:
        return f"drawn pictures of shapes {a.shape} and {b.shape}"
    levels = float(np.abs(a.astype(np.int16) - b).mean())
    if levels > PICTURE_LEVELS:
        return f"drawn pictures differ by {levels:.1f} levels on average"
    return None


def _pixels(picture: Any) -> np.ndarray:
    data = getattr(picture, "data", picture)  # an I420Picture's array, or a tensor (its own .data)
    return np.asarray(data.cpu().numpy() if hasattr(data, "cpu") else data)


def _engine(backend: InferenceBackend, imgsz: int) -> SegmentationEngine:
    return SegmentationEngine(
        backend, imgsz, THRESHOLDS, owns_backend=False, overlay=RenderConfig(), host_masks=lambda: True
    )
