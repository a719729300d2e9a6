"""SAM's masks into the pipeline's ``SegResult``: replacing a detector's masks, or adding prompt objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from streamseg.inference.sam.predictor import SamOutput
from streamseg.types import Frame, InstanceMasks, SegResult

PROMPT_CLASS = "prompt"  # the class name of an object the user pointed at


def with_refined_masks(result: SegResult, out: SamOutput) -> SegResult:
    """The detector's boxes, classes and scores, with SAM's mask for each box."""
    if len(out) != len(result):
        raise ValueError(f"{len(out)} SAM masks for {len(result)} detections")
    return dataclasses.replace(result, masks=out.masks)


def with_prompt_objects(result: SegResult, out: SamOutput) -> SegResult:
    """``result`` plus one instance per prompt, class ``prompt`` (after the model's own classes)."""
    if not len(out):
        return result
    names = tuple(result.class_names)
    if PROMPT_CLASS not in names[-1:]:
        names = (*names, PROMPT_CLASS)
    prompt_id = len(names) - 1
    masks = InstanceMasks(
        (*result.masks.crops, *out.masks.crops),
        np.concatenate([result.masks.origins, out.masks.origins]).astype(np.int32),
        result.masks.frame_hw,
    )
    return dataclasses.replace(
        result,
        xyxy=np.concatenate([result.xyxy, out.xyxy]).astype(np.float32),
        class_id=np.concatenate([result.class_id, np.full(len(out), prompt_id, np.int64)]),
        score=np.concatenate([result.score, out.score]).astype(np.float32),
        masks=masks,
        class_names=names,
        track_id=np.concatenate([result.track_id, np.full(len(out), -1, np.int64)]),  # prompts: untracked
    )


def prompt_result(frame: Frame, out: SamOutput, class_names: Sequence[str] = ()) -> SegResult:
    """A result holding only prompt objects (``streamseg segment``)."""
    empty = SegResult(
        frame=frame,
        xyxy=np.zeros((0, 4), np.float32),
        class_id=np.zeros(0, np.int64),
        score=np.zeros(0, np.float32),
        masks=InstanceMasks.empty(frame.image.shape[:2]),
        class_names=tuple(class_names),
    )
    return with_prompt_objects(empty, out)
