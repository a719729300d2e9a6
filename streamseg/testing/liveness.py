"""The liveness audit of the device path's graph bodies, on any device.

A CUDA graph reads, at every replay, the memory its capture read. Whatever of that memory the body
did not allocate itself must stay allocated for as long as the graph is cached, or a replay reads
freed (and reused) memory. ``StorageAudit`` watches the ops run inside graph bodies (the marks of
``streamseg.gpu.trace``) and keeps a weak reference to every storage read there that was not made
since the capture began (its ``device_call("capture")`` mark: what the graph bakes in); ``dead()``
names those that were freed since. The test forces what frees
them in a running pipeline (another bucket, an imgsz rung, another frame size), collects garbage,
and expects nothing dead while the graphs that read them are cached.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from streamseg.gpu import trace


@dataclass(frozen=True)
class Read:
    body: str
    op: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    storage: weakref.ref[torch.UntypedStorage]


class StorageAudit(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's class is untyped
    """Weak references to the storages graph bodies read from outside themselves, while active."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.reads: list[Read] = []
        self._body: str | None = None
        self._made: set[int] = set()
        self._seen: set[tuple[str, int]] = set()

    def __enter__(self) -> StorageAudit:
        trace._listeners.append(self)
        super().__enter__()  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)  # type: ignore[no-untyped-call]
        trace._listeners.remove(self)

    # gpu.trace's listener
    def enter_body(self, name: str) -> None:
        self._body = name
        self._made = set()

    def exit_body(self, name: str) -> None:
        self._body = None

    def host_wait(self, what: str) -> None:
        return None

    def device_call(self, what: str) -> None:
        if what == "capture":  # the captured run begins: warm-ups before it made nothing the graph owns
            self._made = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        body = self._body
        if body is not None:
            for t in _tensors((args, tuple(kwargs.values()))):
                storage = t.untyped_storage()
                address = int(storage.data_ptr())
                if storage.nbytes() and address not in self._made and (body, address) not in self._seen:
                    self._seen.add((body, address))
                    name = func._overloadpacket.__name__
                    self.reads.append(Read(body, name, tuple(t.shape), t.dtype, weakref.ref(storage)))
        out = func(*args, **kwargs)
        if body is not None:
            for t in _tensors(out):
                address = int(t.untyped_storage().data_ptr())
                if (body, address) not in self._seen:
                    self._made.add(address)
        return out

    def dead(self) -> list[Read]:
        """The outside reads whose storage has been freed since."""
        return [r for r in self.reads if r.storage() is None]


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []
