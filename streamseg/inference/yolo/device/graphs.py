"""The batch's two graph bodies captured as CUDA graphs, one per shape, and replayed.

Why hand-captured ``torch.cuda.CUDAGraph`` rather than ``torch.compile(mode="reduce-overhead")``:
the bodies already have fixed shapes and read only static tensors, so a capture is all that is
needed; compile would add a compile per shape at start (not measured: no GPU was at hand), Triton,
and recompiles whenever a capacity grows. Where graphs are off (the CPU, ``cuda_graphs: false``)
``run`` simply calls the body, so both ways run the same ops.

A key names everything a graph's shapes depend on (bucket, frame size, capacities, the overlay). A
capture costs a warm-up run and the capture itself; it happens for the first batches of each shape
and when a capacity grows (logged, once per new key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from streamseg.gpu import trace

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)
T = TypeVar("T")
WARMUP_RUNS = 2  # eager runs on the capture stream first (lazy cuBLAS/cuDNN set-up must not be captured)


class _Captured(Generic[T]):
    def __init__(self, graph: Any, output: T) -> None:
        self.graph = graph
        self.output = output


class BodyGraphs:
    """Captured bodies by key on one device stream (or plain calls when ``enabled`` is false)."""

    def __init__(self, stream: Any, enabled: bool, emulate: bool = False) -> None:
        """``emulate``: "capture" and "replay" on any device by running the body and copying its
        outputs into the first run's tensors, as a replay writes into the captured ones (CPU tests
        check the runner's handling of static outputs this way)."""
        self.enabled = enabled or emulate
        self.emulate = emulate
        self.captures = 0
        self._stream = stream
        self._pool: Any = None
        self._graphs: dict[Hashable, _Captured[Any]] = {}

    def run(self, name: str, key: Hashable, body: Callable[[], T]) -> T:
        """``body()``'s outputs: replayed from the graph of ``key`` (captured now if new)."""
        with trace.body(name):
            if not self.enabled:
                return body()
            captured = self._graphs.get(key)
            if captured is None:
                captured = self._graphs[key] = (
                    _Captured(None, body()) if self.emulate else self._capture(body)
                )
                self.captures += 1
                logger.info("captured the %s graph for %s", name, key)
            if self.emulate:
                for static, fresh in zip(_tensors(captured.output), _tensors(body()), strict=True):
                    if static.shape != fresh.shape or static.dtype != fresh.dtype:
                        raise RuntimeError(
                            f"{name}: a replay changed a shape ({static.shape} -> {fresh.shape})"
                        )
                    static.copy_(fresh)
            else:
                captured.graph.replay()
            return captured.output  # type: ignore[no-any-return]

    def forget(self, keep: Callable[[Hashable], bool]) -> None:
        """Drop the graphs whose key ``keep`` refuses (their inputs are gone)."""
        self._graphs = {k: g for k, g in self._graphs.items() if keep(k)}

    def _capture(self, body: Callable[[], T]) -> _Captured[T]:
        import torch  # noqa: PLC0415

        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        stream: torch.cuda.Stream = self._stream
        side = torch.cuda.Stream(stream.device)  # type: ignore[no-untyped-call]
        side.wait_stream(stream)
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                body()
        stream.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool, stream=stream):
            output = body()
        return _Captured(graph, output)


def _tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor reachable from a body's output (dataclass fields, attributes, lists), in order."""
    import torch  # noqa: PLC0415

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    if not type(value).__module__.startswith("streamseg."):  # our output classes only
        return []
    names = getattr(value, "__dataclass_fields__", None) or vars(value)
    return [t for name in names for t in _tensors(getattr(value, name))]
