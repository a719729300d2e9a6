"""What ``Pipeline.open`` settles before any thread starts: where the work runs (``plan``), the GPU
self-check's say on it (``selfcheck``), and, on a GPU with graphs, the graphs the run needs.

Why the graphs here: a capture mid-run used to stall the whole device and break other threads'
work (issue 25). Now captures are ``thread_local`` and sync nothing, and the ones every run needs
(each source's frame size at every batch bucket) happen here, before a capture thread touches the
GPU; only growth (a larger capacity, an imgsz rung of the latency ladder, a camera of a new size)
is captured while the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import av
import numpy as np

from streamseg.capture import FrameSource
from streamseg.config import Config
from streamseg.gpu.decode import DecodeTarget
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.segmenter import Segmenter
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.pipeline.plan import RunPlan, plan_run
from streamseg.pipeline.selfcheck import SelfCheckReport, at_start
from streamseg.types import Frame

logger = logging.getLogger(__name__)

AHEAD_SOURCE = "\x00capture-ahead"  # no source is named so: its frames are nobody's (no tracks, no events)


def decide(cfg: Config, backend: InferenceBackend | None) -> tuple[Config, RunPlan, SelfCheckReport]:
    """The run's plan, checked on its GPU: ``cfg`` and the plan with what failed turned off."""
    plan = plan_run(cfg, backend)
    logger.info("where the work runs:\n  %s", "\n  ".join(plan.lines(cfg.pipeline.decode)))
    checked = at_start(cfg, plan, backend=backend)
    return checked.config, checked.plan or plan, checked


def capture_ahead(
    engine: Segmenter, sources: Sequence[FrameSource], decode: DecodeTarget | None, batch: int
) -> None:
    """Capture the graphs of each source's frame size at every bucket up to ``batch`` (see the module
    docstring); sources whose size is not known yet (a camera before its first frame) are captured
    when they come."""
    if not isinstance(engine, SegmentationEngine):
        return
    runner = engine.device_runner
    if runner is None or not runner.graphs.enabled:
        return
    sizes = sorted({(h, w) for w, h in (s.resolution_wh for s in sources) if w > 0 and h > 0})
    if not sizes:
        return
    started = time.perf_counter()
    frames = [_blank_frame(hw, decode) for hw in sizes]
    count = engine.capture_ahead(frames, batch)
    logger.info(
        "captured %d CUDA graphs for %d frame size(s) ahead of the run in %.1f s",
        count,
        len(sizes),
        time.perf_counter() - started,
    )


def _blank_frame(frame_hw: tuple[int, int], decode: DecodeTarget | None) -> Frame:
    """A grey frame of ``frame_hw`` as the run's sources deliver theirs: a device surface in the ring
    (``--decode`` to a device) or a host picture."""
    h, w = frame_hw
    picture = np.full((h, w, 3), 114, np.uint8)
    now = time.monotonic()
    if decode is None:
        return Frame(AHEAD_SOURCE, 0, 0.0, now, picture)
    from streamseg.gpu.surface import import_video_frame  # noqa: PLC0415 - imports torch

    vf = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
    return Frame(AHEAD_SOURCE, 0, 0.0, now, surface=import_video_frame(vf, decode.device))
