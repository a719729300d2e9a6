"""``--latency-budget`` wired into a pipeline: the governor, its ladder, and the network input size.

Kept out of ``runner.py`` so the runner only asks "is there a governor?" and hands its two hooks to
the capture threads (``admits``) and the inference thread (``GovernedSegmenter``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from streamseg.config import Config
from streamseg.config.detect import detect_for
from streamseg.inference.input_size import DEFAULT_IMGSZ
from streamseg.inference.segmenter import Segmenter
from streamseg.inference.yolo.engine import PendingResult, SegmentationEngine
from streamseg.pipeline.overload.governor import LatencyGovernor
from streamseg.pipeline.overload.ladder import build_ladder
from streamseg.types import Frame, SegResult

if TYPE_CHECKING:
    from streamseg.capture import FrameSource
    from streamseg.telemetry import Telemetry

logger = logging.getLogger(__name__)


def open_governor(
    cfg: Config,
    sources: Sequence[FrameSource],
    priorities: Mapping[str, str],
    segmenter: Segmenter,
    telemetry: Telemetry,
    *,
    runtime_sources: bool = False,
) -> LatencyGovernor | None:
    """The governor for ``cfg.latency`` (None without a budget, or without live sources when none can be
    added later: ``runtime_sources``), already registered with ``telemetry`` (frame ages in, the
    ``degradation`` section out)."""
    budget_ms = cfg.latency.budget_ms
    if budget_ms is None:
        return None
    live = {s.name: priorities.get(s.name, "normal") for s in sources if s.is_live}
    if not live and not runtime_sources:
        logger.info("--latency-budget applies to live sources (cameras, streams); none here, so it is off")
        return None
    detecting = detect_rated(cfg, live)
    engine = resizable_engine(segmenter)
    rungs = build_ladder(
        Counter(live.values()),
        engine.imgsz if engine is not None else cfg.model.imgsz or DEFAULT_IMGSZ,  # not resizable: a label
        min_imgsz=cfg.latency.min_imgsz,
        max_stride=cfg.latency.max_stride,
        resizable=engine is not None,
        stride=engine.info.stride if engine is not None else 32,
        shed_decoding=cfg.latency.shed_decoding,
        detecting=Counter(live[name] for name in detecting),
    )
    governor = LatencyGovernor(budget_ms / 1e3, rungs, live, detecting=detecting)
    telemetry.add_observer(governor)
    telemetry.register_section("degradation", governor.section)
    logger.info(
        "latency budget %.0f ms for %d live source(s): %d rungs below full quality%s%s",
        budget_ms,
        len(live),
        len(rungs) - 1,
        f", detect rates of {len(detecting)} lowered first" if detecting else "",
        "" if engine is not None else " (no smaller input: this model's input size is fixed)",
    )
    return governor


def detect_rated(cfg: Config, names: Collection[str]) -> set[str]:
    """Which of the sources ``names`` have a detect rate (their own ``detect_fps`` or the run's): the
    ladder lowers those rates before it strides."""
    configs = {sc.display_name(): sc.detect for sc in cfg.sources}
    return {name for name in names if detect_for(cfg.detect, configs.get(name)).fps is not None}


def resizable_engine(segmenter: Segmenter) -> SegmentationEngine | None:
    """The YOLO engine inside ``segmenter`` if its input size may change between batches, else None
    (Mask R-CNN sizes its own input; a TensorRT plan or a static ONNX has one size)."""
    current: object = segmenter
    while not isinstance(current, SegmentationEngine):
        current = getattr(current, "inner", None)  # SAM refinement wraps the detector
        if current is None:
            return None
    return current if current.info.fixed_input_hw is None else None


class GovernedSegmenter:
    """A ``Segmenter`` that applies the governor's input size before each batch, on the inference
    thread, so no batch ever mixes two sizes."""

    def __init__(self, inner: Segmenter, governor: LatencyGovernor) -> None:
        self.inner = inner
        self._governor = governor
        self._engine = resizable_engine(inner)

    def run(self, frames: Sequence[Frame]) -> list[SegResult]:
        self._apply()
        return self.inner.run(frames)

    def submit(self, frames: Sequence[Frame]) -> Sequence[SegResult | PendingResult]:
        self._apply()
        return self.inner.submit(frames)

    @property
    def class_names(self) -> Sequence[str]:
        return self.inner.class_names

    def close(self) -> None:
        self.inner.close()

    def _apply(self) -> None:
        engine = self._engine
        if engine is not None and engine.imgsz != self._governor.imgsz:
            engine.imgsz = self._governor.imgsz
