"""Frames in, a ``DeviceBatch`` out: two graph bodies per batch, a little glue, one wait.

What one batch costs on a GPU (see docs/architecture.md for the frame's whole path):

1. **Glue in**: the slot numbers of the batch's frames in the surface ring (``gpu/ring``) and their
   colour multipliers, one small upload (frames decoded on the host are copied into a static buffer).
2. **First graph** (``front.detect_body``): NV12 -> BGR, letterbox, network, candidates, NMS in a
   fixed number of steps, the packed table. Then the table's download: the batch's **one wait**.
3. **Host**: the table becomes instances and the second body's layout, vectorised (``layout``).
4. **Second graph** (``back.finish_body``): masks of all instances, the overlay and yuv420p for the
   encoders. Its outputs are queued for download; ``DeviceBatch`` is resolved by the render thread.

On CUDA with graphs on, both bodies are captured per shape (``gpu.graph_cache``: what a graph reads
is kept alive, a failing graph turns into eager runs) and replayed; elsewhere they are called, op for
op the same, which is how CPU CI checks them. What the graphs read besides the frames (static buffers,
letterboxes, decoders) is ``statics``. A batch that does not fit (frames of
several sizes; more instances or pixels than the captured capacity) runs the same bodies eagerly at
its exact size, and the capacity grows for the next batch: nothing is ever truncated.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.gpu import trace
from streamseg.gpu.graph_cache import GraphCache
from streamseg.gpu.graphs import CudaCapturer
from streamseg.gpu.ring import STAGING, ring_for
from streamseg.gpu.transfer import download_and_wait, upload, upload_into
from streamseg.inference.letterbox import Letterbox
from streamseg.inference.runtimes.base import DeviceBackend
from streamseg.inference.yolo.device import nms
from streamseg.inference.yolo.device.back import Finished, device_batch, finish_body
from streamseg.inference.yolo.device.batch import BatchInstances, DeviceBatch, KeptTable, StageClock, tracked
from streamseg.inference.yolo.device.front import (
    Detected,
    DetectSpec,
    detect,
    detect_body,
    frames_from_ring,
    pack_table,
)
from streamseg.inference.yolo.device.layout import (
    STARTING_CAPACITY,
    Capacity,
    GroupLayout,
    group_layout,
    power_of_two_at_least,
)
from streamseg.inference.yolo.device.statics import StaticInputs
from streamseg.inference.yolo.postprocess import Thresholds, kept_candidates
from streamseg.types import Frame

if TYPE_CHECKING:
    import torch

    from streamseg.gpu.overlay import DeviceOverlay

MIN_CANDIDATES = 64  # per-frame candidate slots to start with; grows to the most seen (power of two)
MAX_CANDIDATES = 2048  # beyond this a frame's NMS runs on the host (a k x k matrix per frame is enough)


class DeviceRunner:
    """Frames in, a ``DeviceBatch`` out; see the module docstring for what runs where."""

    def __init__(
        self,
        backend: DeviceBackend,
        num_classes: int,
        thresholds: Thresholds,
        fixed_shapes: bool | None = None,
        graphs: str = "auto",
        graph_budget: int | None = None,
    ) -> None:
        """``fixed_shapes``: pad every batch to a bucket and the capacities (what a CUDA graph needs;
        the default where graphs are on). Off, each batch runs at its exact size, the cheaper way to
        run eagerly; the results are the same bit for bit. ``graphs``: ``--cuda-graphs`` (auto, on,
        off; ``gpu.graph_cache``), ``graph_budget``: bytes the cached graphs may hold."""
        self.backend = backend
        capturer = CudaCapturer(backend.stream) if backend.graphs and backend.stream is not None else None
        self.fixed_shapes = capturer is not None and graphs != "off" if fixed_shapes is None else fixed_shapes
        self.num_classes = num_classes
        self.thresholds = thresholds
        self.candidate_slots = MIN_CANDIDATES
        self.capacity = STARTING_CAPACITY
        self.host_nms_frames = 0  # frames whose NMS ran on the host (more than MAX_CANDIDATES)
        self.extra_nms_rounds = 0  # batches whose suppression needed more than NMS_STEPS steps
        self.eager_batches = 0  # batches that did not fit a graph's shapes
        self.host_seconds: dict[str, float] = {}  # the last batch's host work after the wait, by step
        self.graphs = GraphCache(capturer if self.fixed_shapes else None, graphs, graph_budget)
        self.statics = StaticInputs(backend.device)
        self._stale_checked: tuple[Any, ...] = ()

    def submit(
        self,
        frames: Sequence[Frame],
        letterboxes: Sequence[Letterbox],
        overlay: DeviceOverlay | None = None,
        host_masks: bool = True,
    ) -> DeviceBatch:
        """One same-input-shape batch. Waits for the device once (the table); the rest stays queued."""
        import torch  # noqa: PLC0415

        stream = self.backend.stream
        context = torch.cuda.stream(stream) if stream is not None else _NullContext()
        order = sorted(range(len(frames)), key=lambda i: letterboxes[i].frame_hw)  # sizes together
        frames = [frames[i] for i in order]
        letterboxes = [letterboxes[i] for i in order]
        groups = _size_groups(letterboxes)
        with context, torch.inference_mode():
            clock = StageClock(stream)
            if len(groups) == 1:
                key, body = self._detect_inputs(frames, letterboxes[0])  # glue: static inputs filled
                clock.mark("preprocess")
                front = self.graphs.run("detect", key, body)  # letterbox, network and NMS: one graph
                ring_for(self.backend.device, letterboxes[0].frame_hw).read_on(stream)
                bgr: list[torch.Tensor] = [front.bgr]
            else:
                key = None
                clock.mark("preprocess")
                front, bgr = self._detect_sizes(frames, letterboxes, groups)
            clock.mark("infer")
            inst = tracked(self._instances(front, letterboxes), frames, overlay)  # the one wait
            pad = (key, self.graphs.serial("detect", key)) if self.fixed_shapes and key is not None else None
            result = self._finish(front, bgr, pad, inst, letterboxes, groups, overlay, host_masks)
            self._drop_stale()
            clock.mark("postprocess")
            result.finish(clock)
        return result.reordered(order)

    def bucket(self, n: int) -> int:
        """The batch size a batch of ``n`` runs at (its graph's bucket when shapes are fixed)."""
        return _bucket(n, self.backend.max_batch) if self.fixed_shapes else n

    @property
    def spec(self) -> DetectSpec:
        th = self.thresholds
        return DetectSpec(self.num_classes, th.conf, th.iou, th.max_det, self.candidate_slots)

    # ------------------------------------------------------------------ the first body
    def _detect_inputs(
        self, frames: Sequence[Frame], lb: Letterbox
    ) -> tuple[tuple[Any, ...], Callable[[], Detected]]:
        """Fill the first body's static inputs for frames of one size; its key and the body to run.

        Surfaces are read from the ring where the capture thread put them (one small upload of slot
        numbers); host frames are copied into a static BGR buffer.
        """
        from streamseg.gpu.surface import YuvSurface  # noqa: PLC0415

        device, n = self.backend.device, len(frames)
        bucket = self.bucket(n)
        letterbox, network, spec, dtype = (
            self.statics.letterbox(lb),
            self.backend.network,
            self.spec,
            self.backend.dtype,
        )
        surfaces = [f.surface for f in frames if isinstance(f.surface, YuvSurface)]
        ring = ring_for(device, lb.frame_hw)
        strays = sum(1 for s in surfaces if s.ring is not ring)
        if len(surfaces) == n and (strays == 0 or bucket <= STAGING):
            meta = self.statics.buffer(("meta", bucket), lambda: _zeros((bucket, 7), "int64", device))
            rows = np.zeros((bucket, 7), np.int64)
            for k, s in enumerate(surfaces):
                slot = s.slot if s.ring is ring else self._stage(ring, k, s)
                rows[k] = (slot, *s.coefficients.as_tuple())
            rows[n:] = rows[0]  # spare batch positions repeat the first frame
            upload_into(meta, rows)

            def from_ring() -> Detected:
                return detect_body(frames_from_ring(ring.y, ring.uv, meta), letterbox, network, spec, dtype)

            ring_id = (ring.y.data_ptr(), int(ring.y.shape[0]))  # a new ring is a new graph
            return ("ring", bucket, lb, spec, dtype, ring_id), from_ring
        h, w = lb.frame_hw
        static = self.statics.buffer(
            ("bgr", bucket, lb.frame_hw), lambda: _zeros((bucket, h, w, 3), "uint8", device)
        )
        for k, frame in enumerate(frames):
            static[k].copy_(self._device_bgr(frame), non_blocking=True)
        return ("bgr", bucket, lb, spec, dtype), lambda: detect_body(static, letterbox, network, spec, dtype)

    def _detect_sizes(
        self, frames: Sequence[Frame], letterboxes: Sequence[Letterbox], groups: list[tuple[int, int]]
    ) -> tuple[Detected, list[torch.Tensor]]:
        """Frames of several sizes (rare): the same steps, eagerly, one letterbox per size."""
        import torch  # noqa: PLC0415

        self.eager_batches += 1
        h, w = letterboxes[0].input_hw
        net_input = torch.empty((len(frames), 3, h, w), dtype=self.backend.dtype, device=self.backend.device)
        pictures = []
        for start, stop in groups:
            bgr = torch.stack([self._device_bgr(f) for f in frames[start:stop]])
            self.statics.letterbox(letterboxes[start]).apply(bgr, net_input[start:stop])
            pictures.append(bgr)
        head, protos = self.backend.network(net_input)
        return detect(pictures[0], head, protos, self.spec), pictures

    def _device_bgr(self, frame: Frame) -> torch.Tensor:
        """(H, W, 3) uint8 BGR of one frame on the device (a surface converted, a host image uploaded)."""
        import torch  # noqa: PLC0415

        from streamseg.gpu.surface import YuvSurface  # noqa: PLC0415

        if isinstance(frame.surface, YuvSurface):
            return frame.surface.to_bgr()
        image = frame.image
        return (
            upload(image, self.backend.device)
            if self.backend.device.type == "cuda"
            else torch.from_numpy(image)
        )

    @staticmethod
    def _stage(ring: Any, position: int, surface: Any) -> int:
        """Copy a surface that is not in ``ring`` into the ring's staging slot for ``position``."""
        slot: int = ring.staging_slot(position)
        ring.y[slot].copy_(surface.y, non_blocking=True)
        ring.uv[slot].copy_(surface.uv, non_blocking=True)
        return slot

    # ------------------------------------------------------------------ the wait
    def _instances(self, front: Detected, letterboxes: Sequence[Letterbox]) -> BatchInstances:
        """Boxes, scores, classes and anchors of every kept instance: the batch's single download."""
        th, spec, n = self.thresholds, self.spec, len(letterboxes)
        downloaded = download_and_wait(front.table)[:n]
        started = time.perf_counter()
        table = KeptTable.from_host(downloaded, spec.kept)
        state = copy.copy(front.state)  # stepping on must leave a captured graph's tensors as they are
        while not table.converged.all():  # a suppression chain longer than NMS_STEPS: rare
            self.extra_nms_rounds += 1
            converged = state.step(nms.NMS_STEPS)
            kept = nms.compact(front.candidates, state.keep, th.max_det)
            table = KeptTable.from_host(
                download_and_wait(pack_table(kept, front.candidates.count, converged))[:n], spec.kept
            )
        overflow = np.flatnonzero(table.count > front.candidates.anchors.shape[1])
        if overflow.size:  # more candidates than slots: exact NMS on the host for those frames
            self.host_nms_frames += int(overflow.size)
            self.candidate_slots = min(MAX_CANDIDATES, power_of_two_at_least(int(table.count.max())))
            for f in overflow.tolist():
                table.replace_frame(f, kept_candidates(front.pred[f].cpu().numpy(), self.num_classes, th))
        instances = table.instances(letterboxes)
        self.host_seconds = {"instances": time.perf_counter() - started}
        return instances

    # ------------------------------------------------------------------ the second body
    def _finish(
        self,
        front: Detected,
        pictures: list[torch.Tensor],
        pad: tuple[Any, int | None] | None,
        inst: BatchInstances,
        letterboxes: Sequence[Letterbox],
        groups: list[tuple[int, int]],
        overlay: DeviceOverlay | None,
        host_masks: bool,
    ) -> DeviceBatch:
        """Queue masks, overlay and pictures of every group; nothing here waits for the device."""

        n = len(letterboxes)
        proto_hw = (int(front.protos.shape[2]), int(front.protos.shape[3]))
        finished: list[tuple[GroupLayout, Finished]] = []
        for (start, stop), bgr in zip(groups, pictures, strict=True):
            lb = letterboxes[start]
            end = stop if pad is None else len(bgr)  # a padded batch covers the bucket's spare positions
            started = time.perf_counter()
            layout = group_layout(inst, start, end, lb.frame_hw, overlay)
            self._host_time("layout", started)
            head, protos = front.head[start:end], front.protos[start:end]
            decoder = self.statics.decoder(lb, proto_hw)
            run = functools.partial(
                finish_body, head, protos, bgr, num_classes=self.num_classes, decoder=decoder, overlay=overlay
            )
            finished.append((layout, self._finish_group(run, layout, pad, proto_hw, overlay, host_masks)))
        return device_batch(inst, letterboxes, finished, n, host_masks)

    def _finish_group(
        self,
        run: Callable[..., Finished],
        layout: GroupLayout,
        pad: tuple[Any, int | None] | None,
        proto_hw: tuple[int, int],
        overlay: DeviceOverlay | None,
        host_masks: bool,
    ) -> Finished:
        """The second body for one group: at the current capacity when the batch fits (replayed as a
        graph when the first body was one: ``pad`` is its key and serial), else eagerly at its exact
        size (and the capacity grows for the next batch)."""
        import torch  # noqa: PLC0415

        need, device = layout.need, self.backend.device
        if pad is not None and self.capacity.holds(need):
            capacity = self.capacity
            table = self.statics.buffer(
                ("layout", capacity), lambda: _zeros((capacity.table_size(),), "int64", device)
            )
            started = time.perf_counter()
            rows = layout.table(capacity, overlay)
            self._host_time("layout", started)
            upload_into(table, rows)
            body = functools.partial(run, table=table, capacity=capacity)
            front_key, serial = pad
            if serial is None and self.graphs.enabled:  # the first body ran eagerly: fresh outputs
                with trace.body("finish"):
                    out = body()
            else:
                graph_key = (front_key, serial, capacity, proto_hw, _overlay_key(overlay))
                out = self.graphs.run("finish", graph_key, body, after=() if serial is None else (serial,))
            if self.graphs.enabled and not host_masks:  # static: keep this batch's masks apart
                out = Finished(out.packed[: layout.masks.total].clone(), out.nonempty, out.i420)
            return out
        if pad is not None:
            self.eager_batches += 1
            self.capacity = self.capacity.grown(need)
        exact = Capacity(max(need.per_frame, 1), need.instances, need.mask_pixels, need.box_pixels)
        table = torch.from_numpy(layout.table(exact, overlay)).to(device)
        return run(table=table, capacity=exact)

    # ------------------------------------------------------------------ caches
    def _host_time(self, step: str, started: float) -> None:
        """Add the time since ``started`` to ``host_seconds[step]`` (the last batch's host work)."""
        self.host_seconds[step] = self.host_seconds.get(step, 0.0) + time.perf_counter() - started

    def _drop_stale(self) -> None:
        """Forget graphs whose key can never come back (candidate slots and the capacity only grow),
        then the static buffers no cached graph reads; only when something changed."""
        slots, capacity, graphs = self.candidate_slots, self.capacity, self.graphs
        state = (slots, capacity, graphs.captures, graphs.evictions, len(graphs.eager_bodies))
        if state == self._stale_checked:
            return
        self._stale_checked = state
        graphs.forget(lambda name, key: _still_reachable(name, key, slots, capacity))
        read: list[tuple[Any, ...]] = [("layout", capacity)]
        for name, key in graphs.slots():
            k: Any = key
            if name == "detect":
                read.append(("meta", k[1]) if k[0] == "ring" else ("bgr", k[1], k[2].frame_hw))
        if graphs.enabled:
            self.statics.prune(read)
        else:  # nothing replays: only the layout tables of outgrown capacities are dead
            self.statics.prune(k for k in self.statics.buffer_keys() if k[0] != "layout" or k == read[0])


def _still_reachable(name: str, key: Any, slots: int, capacity: Capacity) -> bool:
    """Detect keys name their spec (candidate slots), finish keys their capacity: both only grow."""
    return bool(key[3].candidates >= slots) if name == "detect" else bool(key[2] == capacity)


def _overlay_key(overlay: DeviceOverlay | None) -> tuple[Any, ...] | None:
    return None if overlay is None else (overlay.config, overlay.palette)


def _bucket(n: int, max_batch: int | None) -> int:
    """The batch size a graph is captured for: the next power of two (within the engine's limit)."""
    bucket = power_of_two_at_least(n)
    return min(bucket, max_batch) if max_batch else bucket


def _zeros(shape: tuple[int, ...], dtype: str, device: torch.device) -> torch.Tensor:
    import torch  # noqa: PLC0415

    return torch.zeros(shape, dtype=getattr(torch, dtype), device=device)


def _size_groups(letterboxes: Sequence[Letterbox]) -> list[tuple[int, int]]:
    """Runs of equal frame size in (sorted) ``letterboxes``, as (start, stop)."""
    groups: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(letterboxes) + 1):
        if i == len(letterboxes) or letterboxes[i].frame_hw != letterboxes[start].frame_hw:
            groups.append((start, i))
            start = i
    return groups


class _NullContext:
    """``contextlib.nullcontext`` without its generic typing noise."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
