"""SAM after the detector, in the inference thread: ``--refine`` and dashboard clicks.

Per frame that needs it (detections to refine, or clicks on its source) the picture is embedded once,
and the detections' boxes together with the clicks go through the mask decoder (one call for the
boxes). Its cost is the telemetry stage ``refine``. Frames that need nothing pass through untouched.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import cv2
import numpy as np

from streamseg.inference.sam.board import PromptBoard
from streamseg.inference.sam.predictor import SamOutput, SamPredictor
from streamseg.inference.sam.prompts import Prompt
from streamseg.inference.sam.results import with_prompt_objects, with_refined_masks
from streamseg.inference.segmenter import Segmenter
from streamseg.types import BoolArray, Frame, InstanceMasks, SegResult, StageRecorder


class SamStage:
    """A ``Segmenter`` wrapping another: its results, with SAM's masks and the clicked objects."""

    def __init__(
        self,
        inner: Segmenter,
        predictor: SamPredictor,
        *,
        refine: bool,
        board: PromptBoard | None = None,
        record_stage: StageRecorder | None = None,
    ) -> None:
        self.inner = inner
        self.predictor = predictor
        self.refine = refine
        self.board = board
        self._record = record_stage or (lambda stage, seconds, source: None)

    def run(self, frames: Sequence[Frame]) -> list[SegResult]:
        return [self._one(result) for result in self.inner.run(frames)]

    def submit(self, frames: Sequence[Frame]) -> list[SegResult]:
        """The inference thread's call: finished results (see ``Segmenter.submit``)."""
        return self.run(frames)

    @property
    def class_names(self) -> Sequence[str]:
        return self.inner.class_names

    def close(self) -> None:
        self.inner.close()

    def _one(self, result: SegResult) -> SegResult:
        clicks = self.board.prompts(result.source, result.frame.resolution_wh) if self.board else []
        boxes = [Prompt.from_box(*map(float, box)) for box in result.xyxy] if self.refine else []
        if not boxes and not clicks:
            return result
        started = time.perf_counter()
        out = self.predictor.segment(result.frame.image, [*boxes, *clicks])
        refined, clicked = _split(out, len(boxes))
        if boxes:
            result = with_refined_masks(result, refined)
        result = with_prompt_objects(result, clicked)
        if self.board is not None:
            follow(self.board, result.source, clicks, clicked.masks)
        seconds = time.perf_counter() - started
        self._record("refine", seconds, result.source)
        return dataclasses.replace(result, stage_seconds={**result.stage_seconds, "refine": seconds})


def follow(board: PromptBoard, source: str, clicks: Sequence[Prompt], masks: InstanceMasks) -> None:
    """Move each one-point click to the middle of the mask it gave, for the next frame."""
    for prompt, crop, origin in zip(clicks, masks.crops, masks.origins, strict=True):
        if prompt.kind != ("points", 1) or prompt.labels[0] != 1:
            continue
        middle = innermost_point(crop)
        if middle is not None:  # an empty mask (the object left): the point stays
            moved = Prompt.from_point(middle[0] + int(origin[0]), middle[1] + int(origin[1]))
            board.move(source, prompt, moved)


def innermost_point(mask: BoolArray) -> tuple[int, int] | None:
    """(x, y) of the mask pixel farthest from its edge (on the object even when it is not convex)."""
    if mask.size == 0 or not mask.any():
        return None
    padded = np.pad(mask.astype(np.uint8), 1)  # the crop's border is the mask's edge too
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x) - 1, int(y) - 1


def _split(out: SamOutput, n: int) -> tuple[SamOutput, SamOutput]:
    """The first ``n`` objects, and the rest."""

    def part(sl: slice) -> SamOutput:
        masks = InstanceMasks(out.masks.crops[sl], out.masks.origins[sl], out.masks.frame_hw)
        return SamOutput(masks, out.xyxy[sl], out.score[sl])

    return part(slice(0, n)), part(slice(n, None))
