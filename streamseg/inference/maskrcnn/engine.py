"""Frames in, ``SegResult`` out for Mask R-CNN: one picture per network call, masks pasted per box.

The network does its own resizing, NMS (IoU 0.5 per class) and top-100; we keep scores >= ``conf``,
at most ``max_det``, and paste each mask at its box's resolution (``paste``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from streamseg.inference.maskrcnn.onnx_backend import MaskRCNNOnnxBackend
from streamseg.inference.maskrcnn.paste import crop_full_masks, paste_masks
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.types import Frame, SegResult, StageRecorder


class MaskRCNNEngine:
    """A ``Segmenter`` for Mask R-CNN; ``run`` from the inference thread only."""

    def __init__(
        self, backend: MaskRCNNOnnxBackend, thresholds: Thresholds, record_stage: StageRecorder | None = None
    ) -> None:
        self.backend = backend
        self.thresholds = thresholds
        self._record = record_stage or (lambda stage, seconds, source: None)

    def run(self, frames: Sequence[Frame]) -> list[SegResult]:
        return [self._one(frame) for frame in frames]

    def submit(self, frames: Sequence[Frame]) -> list[SegResult]:
        """The inference thread's call: finished results (see ``Segmenter.submit``)."""
        return self.run(frames)

    @property
    def class_names(self) -> Sequence[str]:
        return self.backend.names

    def close(self) -> None:
        self.backend.close()

    def _one(self, frame: Frame) -> SegResult:
        t0 = time.perf_counter()
        chw = np.ascontiguousarray(frame.image[..., ::-1].transpose(2, 0, 1), dtype=np.float32)
        chw *= np.float32(1 / 255)
        t1 = time.perf_counter()
        boxes, labels, scores, masks = self.backend.infer(chw)
        t2 = time.perf_counter()
        keep = np.flatnonzero(scores >= self.thresholds.conf)[: self.thresholds.max_det]
        boxes, labels, scores = boxes[keep], labels[keep], scores[keep]
        frame_hw = (frame.image.shape[0], frame.image.shape[1])
        paste = paste_masks if self.backend.boxed_masks else crop_full_masks
        instances = paste(masks[keep], boxes, frame_hw)
        t3 = time.perf_counter()
        stages = {"preprocess": t1 - t0, "infer": t2 - t1, "postprocess": t3 - t2}
        for stage, seconds in stages.items():
            self._record(stage, seconds, frame.source)
        return SegResult(
            frame=frame,
            xyxy=boxes,
            class_id=labels,
            score=scores,
            masks=instances,
            class_names=self.backend.names,
            stage_seconds=stages,
            inference_time=time.monotonic(),
        )
