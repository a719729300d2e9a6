"""What a batch still owes after its single synchronisation, and how the render thread collects it.

``DeviceRunner.submit`` waits for the device once, for the small table of kept instances
(``KeptTable``); the masks, the instance filter (an instance whose mask is empty is dropped, as
Ultralytics does) and the annotated pictures are queued behind an event. ``DeviceBatch.resolve``,
called from the render thread, waits for that event and turns the batch into per-frame
``Detections``. Mask crops are copied to the host with the batch when a consumer asked for them,
otherwise only on first access (``InstanceMasks.deferred``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.gpu import trace
from streamseg.gpu.transfer import download_async
from streamseg.inference.letterbox import Letterbox
from streamseg.inference.yolo.postprocess import Detections
from streamseg.scene.visible import HIDDEN
from streamseg.types import BoolArray, FloatArray, Frame, InstanceMasks, IntArray

if TYPE_CHECKING:
    import torch

    from streamseg.gpu.overlay import DeviceOverlay


STAGES = ("preprocess", "infer", "postprocess")


class StageClock:
    """Stage boundaries of one batch: CUDA events (read once the batch is done, no extra waits) or,
    on the CPU, wall-clock marks."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._marks: list[Any] = [self._now()]

    def mark(self, _stage: str) -> None:
        self._marks.append(self._now())

    def _now(self) -> Any:
        trace.device_call("event")
        if self._stream is None:
            return time.perf_counter()
        import torch  # noqa: PLC0415

        event = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        event.record(self._stream)
        return event

    @property
    def done(self) -> Any:
        """The last mark: on CUDA the event that says the whole batch is finished."""
        return self._marks[-1]

    def seconds(self) -> dict[str, float]:
        """Seconds per stage for the batch (call after the last mark has completed)."""
        out = {}
        for stage, (a, b) in zip(STAGES, zip(self._marks, self._marks[1:], strict=False), strict=False):
            out[stage] = (b - a) if self._stream is None else a.elapsed_time(b) / 1000.0
        return out


@dataclass
class BatchInstances:
    """Every kept instance of a batch, frame by frame, best first within a frame (host arrays)."""

    frame: IntArray  # (M,) position of the frame in the batch
    rank: IntArray  # (M,) 0 for the best instance of its frame
    anchor: IntArray  # (M,) head column it came from
    xyxy: FloatArray  # (M, 4) frame pixels
    score: FloatArray  # (M,)
    class_id: IntArray  # (M,)
    track_id: IntArray | None = None  # (M,) set where the overlay colours by track (-1: no track)

    def colour_keys(self, lo: int, hi: int) -> IntArray:
        """What colours instances ``lo:hi``: the track where there is one, else the class."""
        if self.track_id is None:
            return self.class_id[lo:hi]
        track = self.track_id[lo:hi]
        keys: IntArray = np.where(track >= 0, track, self.class_id[lo:hi])
        return keys


def tracked(inst: BatchInstances, frames: Sequence[Frame], overlay: DeviceOverlay | None) -> BatchInstances:
    """``inst`` with its track ids, where the overlay colours by track (``DeviceOverlay.tracks``); the
    instances never reported (``HIDDEN``: below what is shown, untracked) go before masks are made."""
    if overlay is not None and overlay.tracks is not None:
        ids = overlay.tracks(frames, inst.frame, inst.xyxy, inst.score, inst.class_id)
        keep = ids != HIDDEN
        if not keep.all():
            frame = inst.frame[keep]  # frame-major still; ranks close up (the layout's slots use them)
            rank = np.arange(len(frame), dtype=np.int64) - np.searchsorted(frame, frame)
            inst = BatchInstances(
                frame, rank, inst.anchor[keep], inst.xyxy[keep], inst.score[keep], inst.class_id[keep]
            )
        inst.track_id = ids[keep]
    return inst


@dataclass
class KeptTable:
    """The downloaded table: per frame up to ``max_det`` kept candidates, and how NMS went."""

    xyxy: FloatArray  # (B, d, 4) network-input pixels
    score: FloatArray  # (B, d)
    class_id: IntArray  # (B, d)
    anchor: IntArray  # (B, d)
    n: IntArray  # (B,)
    count: IntArray  # (B,) candidates above the threshold
    converged: BoolArray  # (B,)
    replaced: dict[int, tuple[IntArray, FloatArray, FloatArray, IntArray] | None] = field(
        default_factory=dict
    )

    @classmethod
    def from_host(cls, table: np.ndarray[Any, Any], d: int) -> KeptTable:
        """Unpack ``front.pack_table``'s (B, d * 7 + 3) rows, once they are on the host."""
        body = table[:, : d * 7].reshape(len(table), d, 7)
        return cls(
            xyxy=np.ascontiguousarray(body[..., :4]),
            score=np.ascontiguousarray(body[..., 4]),
            class_id=body[..., 5].astype(np.int64),
            anchor=body[..., 6].astype(np.int64),
            n=table[:, d * 7].astype(np.int64),
            count=table[:, d * 7 + 1].astype(np.int64),
            converged=table[:, d * 7 + 2] > 0.5,
        )

    def replace_frame(self, f: int, kept: tuple[IntArray, FloatArray, FloatArray, IntArray] | None) -> None:
        """Use the host NMS's answer (anchors, boxes, scores, classes) for frame ``f``."""
        self.replaced[f] = kept

    def instances(self, letterboxes: Sequence[Letterbox]) -> BatchInstances:
        """All frames' instances in one set of arrays, boxes mapped to frame pixels (on the host, as the
        NumPy path does, so they are bit-identical to it). Vectorised: no loop over instances."""
        if self.replaced:
            return self._instances_with_replacements(letterboxes)
        d = self.score.shape[1]
        kept = np.arange(d)[None, :] < self.n[:, None]  # (B, d), frame-major like the NumPy path
        frame, rank = np.nonzero(kept)
        xyxy = self.xyxy[kept]
        _boxes_to_frame(xyxy, frame, letterboxes)
        return BatchInstances(
            frame=frame.astype(np.int64),
            rank=rank.astype(np.int64),
            anchor=self.anchor[kept],
            xyxy=xyxy.astype(np.float32, copy=False),
            score=self.score[kept].astype(np.float32, copy=False),
            class_id=self.class_id[kept],
        )

    def _instances_with_replacements(self, letterboxes: Sequence[Letterbox]) -> BatchInstances:
        """Frames whose NMS ran on the host (more candidates than slots: rare) spliced in."""
        parts: list[tuple[IntArray, FloatArray, FloatArray, IntArray]] = []
        for f in range(len(self.n)):
            if f in self.replaced:
                kept = self.replaced[f]
                if kept is None:
                    parts.append(_empty())
                else:
                    anchors, xyxy, score, class_id = kept
                    parts.append((anchors, xyxy.astype(np.float32), score.astype(np.float32), class_id))
                continue
            n = int(self.n[f])
            parts.append(
                (self.anchor[f, :n], self.xyxy[f, :n].copy(), self.score[f, :n], self.class_id[f, :n])
            )
        counts = [len(p[0]) for p in parts]
        frames = np.repeat(np.arange(len(parts), dtype=np.int64), counts)
        ranks = np.arange(len(frames), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        boxes = [lb.boxes_to_frame(p[1]) for p, lb in zip(parts, letterboxes, strict=True)]
        return BatchInstances(
            frame=frames,
            rank=ranks.astype(np.int64),
            anchor=np.concatenate([p[0] for p in parts]).astype(np.int64),
            xyxy=np.concatenate(boxes).astype(np.float32).reshape(-1, 4),
            score=np.concatenate([p[2] for p in parts]).astype(np.float32),
            class_id=np.concatenate([p[3] for p in parts]).astype(np.int64),
        )


def _boxes_to_frame(xyxy: FloatArray, frame: IntArray, letterboxes: Sequence[Letterbox]) -> None:
    """``Letterbox.boxes_to_frame`` in place for every row, a block of rows per distinct letterbox."""
    first = letterboxes[0]
    if all(lb == first for lb in letterboxes):
        first.boxes_to_frame(xyxy)
        return
    for lb in dict.fromkeys(letterboxes):
        rows = np.isin(frame, [f for f, other in enumerate(letterboxes) if other == lb])
        xyxy[rows] = lb.boxes_to_frame(xyxy[rows])


def _empty() -> tuple[IntArray, FloatArray, FloatArray, IntArray]:
    return np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)


class DeviceBatch:
    """A submitted batch; ``frame(i)`` gives frame i's detections and annotated picture once done.

    ``bounds``/``starts``: each instance's box (r0, c0, h, w) and where its pixels begin in ``packed``
    (the batch's masks, one bool per box pixel, on the device); ``nonempty`` (M,) and ``pictures``
    (yuv420p, one per frame) are copies already queued to the host.
    """

    def __init__(
        self,
        instances: BatchInstances,
        bounds: IntArray,
        starts: IntArray,
        letterboxes: list[Letterbox],
        packed: torch.Tensor,
        nonempty: torch.Tensor,
        pictures: list[Any] | None,
        host_masks: bool,
    ) -> None:
        self.instances = instances
        self.bounds = bounds
        self.starts = starts
        self.letterboxes = letterboxes
        self._packed: torch.Tensor | None = packed
        self._nonempty = nonempty
        self._pictures = pictures
        self._host_masks = host_masks
        self._order = list(range(len(letterboxes)))
        self._clock: StageClock | None = None
        self._lock = threading.Lock()
        self._packed_download: Any = None
        self._resolved: list[tuple[Detections, Any]] | None = None
        self._packed_host: BoolArray | None = None
        self.stage_seconds: dict[str, float] = {}
        self.resolve_seconds = 0.0  # the render thread's host work once the batch is done

    def finish(self, clock: StageClock) -> None:
        """Queue the mask download (when wanted) behind everything else; called once all is launched."""
        if self._host_masks and self._packed is not None:
            self._packed_download = download_async(self._packed)
        clock.mark("done")
        self._clock = clock

    def reordered(self, order: list[int]) -> DeviceBatch:
        """Frames were processed sorted by size; ``order[j]`` is the caller's index of position j."""
        self._order = [0] * len(order)
        for position, original in enumerate(order):
            self._order[original] = position
        return self

    def frame(self, i: int) -> tuple[Detections, Any]:
        """Frame ``i`` (caller's order): its detections and its yuv420p picture (or None)."""
        return self._resolve()[self._order[i]]

    def _resolve(self) -> list[tuple[Detections, Any]]:
        with self._lock:
            if self._resolved is None:
                self._resolved = self._build()
            return self._resolved

    def _build(self) -> list[tuple[Detections, Any]]:
        """Per-frame ``Detections``; one pass over frames, none over instances."""
        if self._clock is None:
            raise RuntimeError("DeviceBatch.finish() was not called")
        done = self._clock.done
        if not isinstance(done, float):
            done.synchronize()
        self.stage_seconds = self._clock.seconds()
        started = time.perf_counter()
        if self._packed_download is not None:
            self._packed_host = self._packed_download.numpy()
            self._packed = None
        inst = self.instances
        kept = np.flatnonzero(self._nonempty.numpy() > 0)  # an empty mask drops its instance
        origins = np.ascontiguousarray(self.bounds[kept][:, [1, 0]], dtype=np.int32)
        cuts = np.searchsorted(inst.frame[kept], np.arange(len(self.letterboxes) + 1))
        xyxy, class_id, score = inst.xyxy[kept], inst.class_id[kept], inst.score[kept]
        track = inst.track_id[kept] if inst.track_id is not None else None
        out = []
        for position, lb in enumerate(self.letterboxes):
            a, b = cuts[position], cuts[position + 1]
            masks = InstanceMasks.deferred(origins[a:b], lb.frame_hw, _Fetch(self, kept[a:b]))
            det = Detections(
                xyxy[a:b], class_id[a:b], score[a:b], masks, track[a:b] if track is not None else None
            )
            picture = self._pictures[position] if self._pictures is not None else None
            out.append((det, picture))
        self._pictures = None
        self.resolve_seconds = time.perf_counter() - started
        return out

    def fetch_masks(self, idx: IntArray) -> tuple[BoolArray, ...]:
        """Instances ``idx``'s crops, from the batch's masks (copied down now if they were not)."""
        with self._lock:
            if self._packed_host is None and self._packed is not None:
                self._packed_host = self._packed.cpu().numpy()
                self._packed = None  # the device copy is no longer needed
            packed = self._packed_host
        if packed is None:
            raise RuntimeError("masks were not downloaded")
        return tuple(
            packed[s : s + h * w].reshape(h, w)
            for s, h, w in zip(
                self.starts[idx].tolist(),
                self.bounds[idx, 2].tolist(),
                self.bounds[idx, 3].tolist(),
                strict=True,
            )
        )


class _Fetch:
    """The deferred-mask callback of one frame (a class, so a result keeps no closure over locals)."""

    def __init__(self, batch: DeviceBatch, idx: IntArray) -> None:
        self._batch = batch
        self._idx = idx

    def __call__(self) -> tuple[BoolArray, ...]:
        return self._batch.fetch_masks(self._idx)
