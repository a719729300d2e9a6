"""Frames in, ``SegResult`` out: letterbox, run the backend on a batch, postprocess each frame.

Per frame size we build the letterbox geometry and the mask decoder once; frames of different sizes
in one batch run as separate sub-batches (one network input shape per call).

Two ways in: ``run`` returns finished results (tests, tools); ``submit`` is the pipeline's. On a
device path ``submit`` returns ``PendingResult``s: the batch has been waited for once (boxes) and the
rest (masks, the overlay) is still in flight; the render thread calls ``resolve``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.config import RenderConfig
from streamseg.gpu.budget import budget_for
from streamseg.gpu.overlay import DeviceOverlay
from streamseg.inference.letterbox import Letterbox, make_letterbox, to_tensor
from streamseg.inference.runtimes.base import InferenceBackend
from streamseg.inference.yolo.masks import MaskDecoder
from streamseg.inference.yolo.postprocess import Detections, Thresholds, postprocess
from streamseg.types import Frame, SegResult, StageRecorder

if TYPE_CHECKING:
    from streamseg.gpu.overlay import TrackHook
    from streamseg.inference.yolo.device.batch import DeviceBatch
    from streamseg.inference.yolo.device.runner import DeviceRunner


class SegmentationEngine:
    """Owns the backend; ``run`` is called from the inference thread only."""

    def __init__(
        self,
        backend: InferenceBackend,
        imgsz: int,
        thresholds: Thresholds,
        record_stage: StageRecorder | None = None,
        owns_backend: bool = True,
        *,
        overlay: RenderConfig | None = None,
        host_masks: Callable[[], bool] = lambda: True,
        tracks: TrackHook | None = None,
        cuda_graphs: str | None = None,
        graph_budget: int | None = None,
    ) -> None:
        """``owns_backend``: ``close`` closes the backend too (not when the caller lent it).

        On a device path (torch or TensorRT), ``overlay`` draws masks and boxes into the frames there (a
        yuv420p picture per frame comes back for the encoder), and ``host_masks()``, asked per batch,
        says whether masks are copied down with it (else only when someone reads them); ``tracks``
        gives the overlay each batch's track ids, to colour by track. ``cuda_graphs`` (auto, on, off;
        None: the backend's own setting) and ``graph_budget`` (bytes): the device path's graphs
        (``gpu.graph_cache``)."""
        self.backend = backend
        self._owns_backend = owns_backend
        self.info = backend.info
        self.imgsz = imgsz
        self.thresholds = thresholds
        self._record = record_stage or (lambda stage, seconds, source: None)
        self._host_masks = host_masks
        self._letterboxes: dict[tuple[tuple[int, int], int], Letterbox] = {}  # (frame_hw, imgsz)
        self._decoders: dict[tuple[tuple[int, int], tuple[int, int]], MaskDecoder] = {}
        # Torch/TensorRT on a GPU: letterbox, NMS and mask decoding on the device (yolo/device/runner).
        self._device_runner: DeviceRunner | None = None
        device_backend = backend.device_path()
        if device_backend is not None:
            from streamseg.inference.yolo.device.runner import DeviceRunner  # noqa: PLC0415 - imports torch

            mode = cuda_graphs or str(getattr(device_backend, "graphs_mode", "auto"))
            graph_budget = (
                graph_budget if graph_budget is not None else budget_for(device_backend.device).graphs
            )
            self._device_runner = DeviceRunner(
                device_backend, self.info.num_classes, thresholds, graphs=mode, graph_budget=graph_budget
            )
        self._overlay = (
            DeviceOverlay(overlay, tracks=tracks) if overlay is not None and self._device_runner else None
        )

    @property
    def class_names(self) -> Sequence[str]:
        return self.info.names

    def close(self) -> None:
        if self._owns_backend:
            self.backend.close()

    def letterbox_for(self, frame_hw: tuple[int, int]) -> Letterbox:
        """Geometry for this frame size at the current ``imgsz`` (which the latency ladder may change
        between batches; one entry per size it visits)."""
        key = (frame_hw, self.imgsz)
        lb = self._letterboxes.get(key)
        if lb is None:
            lb = make_letterbox(frame_hw, self.imgsz, self.info.stride, self.info.fixed_input_hw)
            self._letterboxes[key] = lb
        return lb

    def capture_ahead(self, frames: Sequence[Frame], max_batch: int) -> int:
        """Capture the device path's graphs now, for each of ``frames``' sizes and every batch bucket
        up to ``max_batch``: called before the capture threads start, so that only growth (a larger
        capacity, an imgsz rung, a new size) is captured mid-run. ``frames``: one per size, made as
        the run will deliver them (surfaces or host pictures); their results are dropped. Returns
        the graphs captured."""
        runner = self._device_runner
        if runner is None or not runner.graphs.enabled:
            return 0
        before = runner.graphs.captures
        buckets = sorted({runner.bucket(n) for n in range(1, max(1, max_batch) + 1)})
        for frame in frames:
            for bucket in buckets:
                batch = [frame] * bucket
                runner.submit(batch, [self.letterbox_for(frame.frame_hw)] * bucket).frame(0)
        return runner.graphs.captures - before

    @property
    def device_runner(self) -> DeviceRunner | None:
        """The device path (torch/TensorRT on their device), or None for the NumPy path."""
        return self._device_runner

    def run(self, frames: Sequence[Frame]) -> list[SegResult]:
        """Segment a batch; results come back in the order of ``frames``."""
        return [r.resolve()[0] if isinstance(r, PendingResult) else r for r in self.submit(frames)]

    def submit(self, frames: Sequence[Frame]) -> list[SegResult | PendingResult]:
        """Segment a batch; on a device path the results may still be pending (see the module doc)."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, frame in enumerate(frames):
            groups.setdefault(self.letterbox_for(frame.frame_hw).input_hw, []).append(i)
        results: list[SegResult | PendingResult | None] = [None] * len(frames)
        max_batch = self.info.max_batch or len(frames)
        for indices in groups.values():
            for start in range(0, len(indices), max_batch):
                chunk = indices[start : start + max_batch]
                for i, result in zip(chunk, self._run_same_shape([frames[i] for i in chunk]), strict=True):
                    results[i] = result
        return [r for r in results if r is not None]

    def _run_same_shape(self, frames: Sequence[Frame]) -> Sequence[SegResult | PendingResult]:
        if self._device_runner is not None:
            boxes = [self.letterbox_for(f.frame_hw) for f in frames]
            batch = self._device_runner.submit(frames, boxes, self._overlay, self._host_masks())
            done = time.monotonic()
            return [PendingResult(self, batch, k, frame, done) for k, frame in enumerate(frames)]
        t0 = time.perf_counter()
        boxes = [self.letterbox_for(f.frame_hw) for f in frames]
        h, w = boxes[0].input_hw
        batch_in = np.empty((len(frames), 3, h, w), dtype=np.float32)
        for k, (frame, lb) in enumerate(zip(frames, boxes, strict=True)):
            to_tensor(lb.apply(frame.image), batch_in[k])
        t1 = time.perf_counter()
        head, protos = self.backend.infer(batch_in)
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
            out.append(self._result(frame, det, stages, time.monotonic()))
        return out

    def _result(
        self, frame: Frame, det: Detections, stages: dict[str, float], inference_time: float
    ) -> SegResult:
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
            track_id=det.track_id if det.track_id is not None else np.full(len(det.score), -1, np.int64),
            stage_seconds=stages,
            inference_time=inference_time,
        )

    def _decoder(self, lb: Letterbox, proto_hw: tuple[int, int]) -> MaskDecoder:
        key = (lb.frame_hw, proto_hw)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = MaskDecoder(lb, proto_hw)
            self._decoders[key] = decoder
        return decoder


class PendingResult:
    """One frame of a batch the device is still finishing; ``resolve`` waits for it (once per batch)."""

    __slots__ = ("_batch", "_done", "_engine", "_index", "frame")

    def __init__(
        self, engine: SegmentationEngine, batch: DeviceBatch, index: int, frame: Frame, done: float
    ) -> None:
        self._engine = engine
        self._batch = batch
        self._index = index
        self._done = done
        self.frame = frame

    @property
    def source(self) -> str:
        return self.frame.source

    def resolve(self) -> tuple[SegResult, Any]:
        """The finished ``SegResult`` and the frame's annotated yuv420p picture (None without overlay)."""
        det, picture = self._batch.frame(self._index)
        n = len(self._batch.letterboxes)
        stages = {stage: seconds / n for stage, seconds in self._batch.stage_seconds.items()}
        return self._engine._result(self.frame, det, stages, self._done), picture
