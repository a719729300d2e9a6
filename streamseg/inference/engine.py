"""Frames in, ``SegResult`` out: letterbox, run the backend on a batch, postprocess each frame.

Per frame size we build the letterbox geometry and the mask decoder once; frames of different sizes
in one batch run as separate sub-batches (one network input shape per call).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from streamseg.inference.backends.base import InferenceBackend
from streamseg.inference.letterbox import Letterbox, make_letterbox, to_tensor
from streamseg.inference.masks import MaskDecoder
from streamseg.inference.postprocess import Detections, Thresholds, postprocess
from streamseg.types import Frame, SegResult

if TYPE_CHECKING:
    from streamseg.inference.device_path import DeviceRunner

StageRecorder = Callable[[str, float, str | None], None]


class SegmentationEngine:
    """Owns the backend; ``run`` is called from the inference thread only."""

    def __init__(
        self,
        backend: InferenceBackend,
        imgsz: int,
        thresholds: Thresholds,
        record_stage: StageRecorder | None = None,
    ) -> None:
        self.backend = backend
        self.info = backend.info
        self.imgsz = imgsz
        self.thresholds = thresholds
        self._record = record_stage or (lambda stage, seconds, source: None)
        self._letterboxes: dict[tuple[int, int], Letterbox] = {}
        self._decoders: dict[tuple[tuple[int, int], tuple[int, int]], MaskDecoder] = {}
        # Torch/TensorRT on a GPU: letterbox, NMS and mask decoding on the device (inference/device_path).
        self._device_runner: DeviceRunner | None = None
        device_backend = backend.device_path()
        if device_backend is not None:
            from streamseg.inference.device_path import DeviceRunner  # noqa: PLC0415 - imports torch

            self._device_runner = DeviceRunner(device_backend, self.info.num_classes, thresholds)

    def close(self) -> None:
        self.backend.close()

    def letterbox_for(self, frame_hw: tuple[int, int]) -> Letterbox:
        lb = self._letterboxes.get(frame_hw)
        if lb is None:
            lb = make_letterbox(frame_hw, self.imgsz, self.info.stride, self.info.fixed_input_hw)
            self._letterboxes[frame_hw] = lb
        return lb

    def run(self, frames: Sequence[Frame]) -> list[SegResult]:
        """Segment a batch; results come back in the order of ``frames``."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, frame in enumerate(frames):
            groups.setdefault(self.letterbox_for(frame.image.shape[:2]).input_hw, []).append(i)
        results: list[SegResult | None] = [None] * len(frames)
        max_batch = self.info.max_batch or len(frames)
        for indices in groups.values():
            for start in range(0, len(indices), max_batch):
                chunk = indices[start : start + max_batch]
                for i, result in zip(chunk, self._run_same_shape([frames[i] for i in chunk]), strict=True):
                    results[i] = result
        return [r for r in results if r is not None]

    def _run_same_shape(self, frames: Sequence[Frame]) -> list[SegResult]:
        if self._device_runner is not None:
            return self._run_on_device(self._device_runner, frames)
        t0 = time.perf_counter()
        boxes = [self.letterbox_for(f.image.shape[:2]) for f in frames]
        h, w = boxes[0].input_hw
        batch = np.empty((len(frames), 3, h, w), dtype=np.float32)
        for k, (frame, lb) in enumerate(zip(frames, boxes, strict=True)):
            to_tensor(lb.apply(frame.image), batch[k])
        t1 = time.perf_counter()
        head, protos = self.backend.infer(batch)
        t2 = time.perf_counter()
        per_frame_pre = (t1 - t0) / len(frames)
        per_frame_infer = (t2 - t1) / len(frames)
        out = []
        for k, (frame, lb) in enumerate(zip(frames, boxes, strict=True)):
            t3 = time.perf_counter()
            decoder = self._decoder(lb, (protos.shape[2], protos.shape[3]))
            det = postprocess(head[k], protos[k], lb, decoder, self.info.num_classes, self.thresholds)
            t4 = time.perf_counter()
            stages = {"preprocess": per_frame_pre, "infer": per_frame_infer, "postprocess": t4 - t3}
            out.append(self._result(frame, det, stages))
        return out

    def _run_on_device(self, runner: DeviceRunner, frames: Sequence[Frame]) -> list[SegResult]:
        boxes = [self.letterbox_for(f.image.shape[:2]) for f in frames]
        detections, batch_stages = runner.run([f.image for f in frames], boxes)
        stages = {stage: seconds / len(frames) for stage, seconds in batch_stages.items()}
        return [self._result(frame, det, dict(stages)) for frame, det in zip(frames, detections, strict=True)]

    def _result(self, frame: Frame, det: Detections, stages: dict[str, float]) -> SegResult:
        """Record the frame's stage times and wrap its detections."""
        for stage, seconds in stages.items():
            self._record(stage, seconds, frame.source)
        return SegResult(
            frame=frame,
            xyxy=det.xyxy,
            class_id=det.class_id,
            score=det.score,
            masks=det.masks,
            class_names=self.info.names,
            stage_seconds=stages,
            inference_time=time.monotonic(),
        )

    def _decoder(self, lb: Letterbox, proto_hw: tuple[int, int]) -> MaskDecoder:
        key = (lb.frame_hw, proto_hw)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = MaskDecoder(lb, proto_hw)
            self._decoders[key] = decoder
        return decoder
