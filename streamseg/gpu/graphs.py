"""Capturing a CUDA graph so that it stays right: what it reads is kept alive, the capture disturbs
no other thread, and its memory is its own to give back.

What a plain ``with torch.cuda.graph(g): body()`` gets wrong in a running pipeline (issue 25):

* **Reads by address.** A graph reads tensors it did not make (weights, Ultralytics' ``anchors``
  that the head rebuilds whenever the input shape changes, a letterbox's gather indices, the surface
  ring) at the addresses they had during the capture. When their owner replaces them they are freed,
  the allocator hands the block to someone else and every replay reads garbage, silently (or gathers
  out of bounds: a device assert that kills the process's CUDA context). ``capture`` watches the
  body's ops (a dispatch mode sees each op's tensor arguments) and the record keeps every tensor the
  body read and did not allocate itself, for as long as the graph lives.
* **Global capture mode and a device-wide sync.** ``torch.cuda.graph`` synchronises the device and
  empties the allocator's cache on entry, and captures in ``global`` mode, in which another thread's
  ``cudaStreamSynchronize`` or pinned allocation (a capture thread importing a frame, the render
  thread downloading one) fails with "operation not permitted when stream is capturing". We begin the
  capture ourselves in ``thread_local`` mode on our own stream: nothing else waits or fails.
* **Memory.** Each capture has a pool of its own, so a cache that evicts a graph really frees its
  memory (``gpu.graph_cache``).

``EmulatedCapturer`` does the same on any device by running the body and copying its outputs into
the first run's tensors, as a replay writes into the captured ones: CPU CI checks the static-output
handling, the liveness records and the failure policy that way.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from streamseg.gpu import trace

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)
T = TypeVar("T")
WARMUP_RUNS = 2  # eager runs on a side stream first: lazy cuBLAS/cuDNN set-up must not be captured
CAPTURE_MODE = "thread_local"  # other threads may use the GPU freely while we capture


@dataclass(eq=False)
class CapturedGraph(Generic[T]):
    """One captured body: the graph (None when emulated), its static outputs, what it reads."""

    name: str
    output: T
    reads: tuple[torch.Tensor, ...]  # every tensor the capture read and did not allocate: kept alive
    nbytes: int  # memory the graph holds: its pool on CUDA, the capture's peak allocations elsewhere
    graph: Any = None  # torch.cuda.CUDAGraph
    pool: Any = None  # the graph's own memory pool
    replays: int = field(default=0)
    serial: int = 0  # set by the cache: tells a recaptured graph from the one it replaced
    after: frozenset[int] = frozenset()  # serials of the graphs whose outputs this one reads


class Capturer(Protocol):
    """How a cache captures and replays bodies (CUDA graphs, or their emulation)."""

    verify_first_replay: bool  # compare each new graph's first replay with an eager run of its body

    def capture(self, name: str, body: Callable[[], T]) -> CapturedGraph[T]: ...

    def replay(self, record: CapturedGraph[T], body: Callable[[], T]) -> T:
        """Run the captured work again; its results are in ``record.output``."""

    def synchronize(self) -> None:
        """Wait for everything queued so far (only when a first replay is checked)."""

    def retire_after_queued_work(self) -> Any:
        """A token that says when the work queued so far is done (None: it already is)."""


class CudaCapturer:
    """Captures on ``stream`` in ``thread_local`` mode, each graph into a pool of its own."""

    verify_first_replay = True

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def capture(self, name: str, body: Callable[[], T]) -> CapturedGraph[T]:
        import torch  # noqa: PLC0415

        stream: torch.cuda.Stream = self.stream
        side = torch.cuda.Stream(stream.device)  # type: ignore[no-untyped-call]
        side.wait_stream(stream)
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                body()
        stream.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        pool = torch.cuda.graph_pool_handle()
        watch = ReadWatch()
        trace.device_call("capture")
        with torch.cuda.stream(stream):
            graph.capture_begin(pool=pool, capture_error_mode=CAPTURE_MODE)
            try:
                with watch:
                    output = body()
            except BaseException:
                _end_failed_capture(graph)
                raise
            graph.capture_end()
        return CapturedGraph(name, output, watch.reads(), _pool_bytes(pool, watch), graph, pool)

    def replay(self, record: CapturedGraph[T], body: Callable[[], T]) -> T:
        record.graph.replay()
        record.replays += 1
        return record.output

    def synchronize(self) -> None:
        self.stream.synchronize()

    def retire_after_queued_work(self) -> Any:
        import torch  # noqa: PLC0415

        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record(self.stream)
        return event


class EmulatedCapturer:
    """A "capture" and "replays" on any device: the body runs each time and its outputs are copied
    into the first run's tensors, as a replay writes into the captured ones.

    ``verify``: check first replays as on CUDA (an emulated replay is the body itself, so only a
    capturer that breaks replays on purpose, in tests, needs the extra run); ``warmup``: run the body
    once before the "capture", as on CUDA, so that what a new shape makes (Ultralytics' anchors) is
    made outside it and counts among the reads (the liveness audit needs that; replays do not)."""

    def __init__(self, verify: bool = False, warmup: bool = False) -> None:
        self.verify_first_replay = verify
        self.warmup = warmup

    def capture(self, name: str, body: Callable[[], T]) -> CapturedGraph[T]:
        if self.warmup:
            body()
        watch = ReadWatch()
        trace.device_call("capture")
        with watch:
            output = body()
        return CapturedGraph(name, output, watch.reads(), watch.peak_bytes)

    def replay(self, record: CapturedGraph[T], body: Callable[[], T]) -> T:
        copy_outputs(record.name, record.output, body())
        record.replays += 1
        return record.output

    def synchronize(self) -> None:
        return None

    def retire_after_queued_work(self) -> Any:
        return None


class ReadWatch:
    """While active, sorts every tensor the ops touch into those the body allocated and those it read
    from outside (kept by the record), and tracks the peak of what it allocated.

    A storage counts as the body's own when an op's output brought it into existence (its address was
    not seen before). An outside tensor was alive before the body began, so no allocation during the
    body can have its address: keys by address cannot mistake one for the other."""

    def __init__(self) -> None:
        self._outside: dict[tuple[str, int], torch.Tensor] = {}
        self._made: set[tuple[str, int]] = set()
        self._bytes = _ByteCount()  # what finalizers update: they must not hold the watch (nor its reads)
        self._mode: Any = None

    def __enter__(self) -> ReadWatch:
        from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415

        watch = self

        class _Mode(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's class is untyped
            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                kwargs = kwargs or {}
                watch.saw_inputs(_tensors_in((args, tuple(kwargs.values()))))
                out = func(*args, **kwargs)
                watch.saw_outputs(_tensors_in(out))
                return out

        self._mode = _Mode()  # type: ignore[no-untyped-call]
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mode.__exit__(*exc)
        self._mode = None

    def saw_inputs(self, tensors: list[torch.Tensor]) -> None:
        for t in tensors:
            key = _storage_key(t)
            if key is not None and key not in self._made and key not in self._outside:
                self._outside[key] = t

    def saw_outputs(self, tensors: list[torch.Tensor]) -> None:
        for t in tensors:
            key = _storage_key(t)
            if key is None or key in self._made or key in self._outside:
                continue
            self._made.add(key)
            nbytes = int(t.untyped_storage().nbytes())
            self._bytes.add(nbytes)
            weakref.finalize(t.untyped_storage(), self._bytes.add, -nbytes)

    @property
    def peak_bytes(self) -> int:
        """The most the body had allocated at once (its outputs included)."""
        return self._bytes.peak

    def reads(self) -> tuple[torch.Tensor, ...]:
        return tuple(self._outside.values())


class _ByteCount:
    def __init__(self) -> None:
        self.live = 0
        self.peak = 0

    def add(self, nbytes: int) -> None:
        self.live += nbytes
        self.peak = max(self.peak, self.live)


def copy_outputs(name: str, static: Any, fresh: Any) -> None:
    """Copy a body's fresh outputs into its static ones (what a replay does), shapes unchanged."""
    for s, f in zip(output_tensors(static), output_tensors(fresh), strict=True):
        if s.shape != f.shape or s.dtype != f.dtype:
            raise RuntimeError(f"{name}: a replay changed a shape ({tuple(s.shape)} -> {tuple(f.shape)})")
        s.copy_(f)


def first_replay_problem(replayed: Any, eager: Any) -> str | None:
    """Why a first replay's outputs are not the eager run's, or None when they agree.

    Integers and booleans must be equal; floating point within 1e-2 (relative and absolute): the same
    kernels run in both, and what goes wrong with a bad graph (stale or foreign memory) is far larger."""
    import torch  # noqa: PLC0415

    for i, (a, b) in enumerate(zip(output_tensors(replayed), output_tensors(eager), strict=True)):
        if a.shape != b.shape:
            return f"output {i} has shape {tuple(a.shape)}, eager {tuple(b.shape)}"
        if a.is_floating_point():
            same = torch.isclose(a.float(), b.float(), rtol=1e-2, atol=1e-2, equal_nan=True)
        else:
            same = a == b
        if not bool(same.all()):
            bad = int((~same).sum())
            return f"output {i} differs from the eager run in {bad} of {same.numel()} values"
    return None


def output_tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor reachable from a body's output (dataclass fields, attributes, lists), in order."""
    import torch  # noqa: PLC0415

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in output_tensors(item)]
    if not type(value).__module__.startswith("streamseg."):  # our output classes only
        return []
    names = getattr(value, "__dataclass_fields__", None) or vars(value)
    return [t for name in names for t in output_tensors(getattr(value, name))]


def _tensors_in(value: Any) -> list[torch.Tensor]:
    import torch  # noqa: PLC0415

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors_in(item)]
    return []


def _storage_key(t: torch.Tensor) -> tuple[str, int] | None:
    """The storage's device and address; None for storage-less or empty tensors (nothing to keep)."""
    try:
        storage = t.untyped_storage()
    except (RuntimeError, NotImplementedError):  # sparse, meta or functional tensors
        return None
    if storage.nbytes() == 0:
        return None
    return t.device.type, int(storage.data_ptr())


def _pool_bytes(pool: Any, watch: ReadWatch) -> int:
    """Bytes the allocator reserved for the graph's pool (what evicting it gives back)."""
    import torch  # noqa: PLC0415

    try:
        segments = torch.cuda.memory_snapshot(mempool_id=pool, include_traces=False)  # type: ignore[no-untyped-call]
        return int(sum(int(s.get("total_size", 0)) for s in segments))
    except Exception:  # an allocator without snapshots: the capture's own count
        logger.debug("no pool snapshot; counting the capture's allocations", exc_info=True)
        return watch.peak_bytes


def _end_failed_capture(graph: Any) -> None:
    """End a capture the body broke off, so the stream leaves capture mode; its error is the body's."""
    try:
        graph.capture_end()
    except Exception:
        logger.debug("ending a failed capture", exc_info=True)
    trace.device_call("capture ended after a failure")
