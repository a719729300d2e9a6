"""Counting the torch ops of the device path on any machine: the launch budget without a GPU.

``OpTrace`` is a ``TorchDispatchMode`` that records every aten op run while it is active, with the
shapes and dtypes of its tensor arguments and the graph body it ran in (``streamseg.gpu.trace``
tells it where bodies begin and end, when the host waits, and which device calls a CPU run does not
make, such as event records). On CUDA each body is one graph replay; what runs outside the bodies
is the glue a batch pays for in launches. ``sync_hazards`` lists ops that would make the host wait,
or that have a shape only the data decides, which a captured graph cannot contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from streamseg.gpu import trace

# Ops that are metadata only (no kernel is launched for them on a GPU).
_FREE = frozenset(
    {
        "empty",
        "empty_strided",
        "empty_like",
        "lift_fresh",
        "lift_fresh_copy",
        "_to_copy_noop",
        "detach",
        "alias",
        "set_",
        "resize_",
        "_unsafe_view",
    }
)
# Ops that wait for the device or whose output shape depends on the data.
_HAZARDS = frozenset(
    {
        "_local_scalar_dense",
        "item",
        "nonzero",
        "nonzero_numpy",
        "argwhere",
        "masked_select",
        "unique",
        "_unique",
        "_unique2",
        "unique_consecutive",
        "unique_dim",
        "bincount",
        "is_nonzero",
        "equal",
        "allclose",
        "masked_scatter_",
    }
)


@dataclass(frozen=True, slots=True)
class TracedOp:
    name: str  # aten overload packet, e.g. "index_select"
    signature: tuple[tuple[Any, ...], ...]  # per tensor argument: (shape, dtype)
    body: str | None  # the graph body it ran in, None for the glue
    launches: bool  # False for view and allocation ops (no kernel on a GPU)
    hazard: str | None  # why it could not be in a graph, or None


class OpTrace(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's class is untyped
    """Records ops (and the marks of ``gpu.trace``) while active; use as a context manager."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.ops: list[TracedOp] = []
        self.waits: list[str] = []
        self.device_calls: list[str] = []
        self.replays: list[str] = []
        self._body: str | None = None

    def __enter__(self) -> OpTrace:
        trace._listeners.append(self)
        super().__enter__()  # type: ignore[no-untyped-call]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]
        trace._listeners.remove(self)

    # gpu.trace's listener
    def enter_body(self, name: str) -> None:
        self._body = name
        self.replays.append(name)

    def exit_body(self, name: str) -> None:
        self._body = None

    def host_wait(self, what: str) -> None:
        self.waits.append(what)

    def device_call(self, what: str) -> None:
        self.device_calls.append(what)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = func._overloadpacket.__name__
        tensors = [a for a in _flat(args) + _flat(list(kwargs.values())) if isinstance(a, torch.Tensor)]
        signature = tuple((tuple(t.shape), t.dtype) for t in tensors)
        launches = not (func.is_view or name in _FREE)
        self.ops.append(TracedOp(name, signature, self._body, launches, _hazard(func, name, args, kwargs)))
        return func(*args, **kwargs)

    # summaries
    def launches(self, body: str | None) -> int:
        """Kernel-launching ops inside ``body`` (None: outside every body)."""
        return sum(1 for op in self.ops if op.launches and op.body == body)

    def outside(self) -> int:
        """What a batch costs outside the bodies on a GPU: glue ops, replays and device calls."""
        return self.launches(None) + len(self.replays) + len(self.device_calls)

    def sequence(self, body: str) -> list[tuple[str, tuple[tuple[Any, ...], ...]]]:
        """The ops of ``body`` in order, with their argument shapes: what a graph replays."""
        return [(op.name, op.signature) for op in self.ops if op.body == body]

    def hazards(self, body: str | None = None) -> list[TracedOp]:
        return [op for op in self.ops if op.hazard is not None and (body is None or op.body == body)]


def _flat(values: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(_flat(v))
        else:
            out.append(v)
    return out


def _hazard(func: Any, name: str, args: Any, kwargs: dict[str, Any]) -> str | None:
    if name in _HAZARDS:
        return f"{name}: waits for the device or has a data-dependent shape"
    if name == "repeat_interleave" and kwargs.get("output_size") is None and len(args) < 3:
        return "repeat_interleave without output_size: its length depends on the data"
    if name in {"index", "index_put", "index_put_", "_index_put_impl_"}:
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices or ()):
            return f"{name} with a boolean mask: the result's size depends on the data"
    if name == "_to_copy":
        device = kwargs.get("device")
        source = next((a for a in _flat(args) if isinstance(a, torch.Tensor)), None)
        if device is not None and source is not None and torch.device(device) != source.device:
            return "a copy between host and device inside the body"
    if name == "where" and len(args) == 1:
        return "where(condition): nonzero in disguise"
    return None
