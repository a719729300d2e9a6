"""Marks where the device path's graph bodies run and where the host waits for the device.

Why: the launch budget of a batch (two CUDA graphs, a little glue, one wait) is checked on machines
without a GPU by counting torch ops on CPU tensors. A counter (``streamseg.testing.optrace``,
``tools/count_launches.py``) must know which ops ran inside a graph body and how often the host
waited; the product says so here. With nobody listening (always, outside tools and tests) each mark
costs one check of an empty list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class TraceListener(Protocol):
    def enter_body(self, name: str) -> None: ...

    def exit_body(self, name: str) -> None: ...

    def host_wait(self, what: str) -> None: ...

    def device_call(self, what: str) -> None: ...


_listeners: list[TraceListener] = []


@contextmanager
def listening(listener: TraceListener) -> Iterator[None]:
    """Send the marks to ``listener`` while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


@contextmanager
def body(name: str) -> Iterator[None]:
    """The ops run inside belong to the graph body ``name`` (a replay on CUDA, a call elsewhere)."""
    for listener in _listeners:
        listener.enter_body(name)
    try:
        yield
    finally:
        for listener in _listeners:
            listener.exit_body(name)


def host_wait(what: str) -> None:
    """The host is about to wait for the device (on CUDA: a stream or event synchronisation)."""
    for listener in _listeners:
        listener.host_wait(what)


def device_call(what: str) -> None:
    """A call into the device that is not a torch op (an event record; a copy CPU tensors skip)."""
    for listener in _listeners:
        listener.device_call(what)
