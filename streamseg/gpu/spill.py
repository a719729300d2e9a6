"""Frames whose results the consumer already has, moved to the host when device memory runs short.

Why: a ``SegResult`` keeps its ``Frame`` and the frame its device surface, so a consumer that holds
results (a list of them, a notebook) holds GPU memory. Once a result is handed over (``hand_over``,
from ``Pipeline.results()``) the pipeline is done with its frame; when the frames budget is spent the
capture thread calls ``spill``: the oldest handed-over pictures are downloaded into their frames
(``Frame.spill``: ``Frame.image`` keeps working) and their surfaces let go, freeing slots and bytes.
Only weak references are kept here: a result the consumer dropped is not kept alive.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from streamseg.gpu.budget import device_key
from streamseg.types import Frame

_handed: dict[str, deque[weakref.ref[Frame]]] = {}
_prune_at: dict[str, int] = {}  # list length at which the references to frames gone are pruned
PRUNE_MIN = 1024
_lock = threading.Lock()


def hand_over(frame: Frame) -> None:
    """The consumer has ``frame``'s result: its picture may move to the host when memory is short.

    The list is pruned of frames gone whenever it doubles (amortised: a run that never runs short
    does not grow it by a reference per result)."""
    surface = frame.surface
    device = getattr(surface, "device", None)
    if device is None:
        return
    key = device_key(device)
    with _lock:
        queue = _handed.setdefault(key, deque())
        queue.append(weakref.ref(frame))
        if len(queue) >= _prune_at.get(key, PRUNE_MIN):
            _prune_at[key] = max(PRUNE_MIN, 2 * _prune(queue))


def handed_over(key: str) -> int:
    """Frames on device ``key`` handed over and still on the device (pruned as it counts)."""
    with _lock:
        queue = _handed.get(key)
        return 0 if queue is None else _prune(queue)


def _prune(queue: deque[weakref.ref[Frame]]) -> int:
    """Keep the frames still alive and on the device, in order; how many."""
    live = [ref for ref in queue if (f := ref()) is not None and f.surface is not None]
    queue.clear()
    queue.extend(live)
    return len(live)


def spill(key: str, wanted: Callable[[Any], bool], enough: Callable[[], bool]) -> int:
    """Move handed-over frames on device ``key`` whose surface ``wanted`` accepts to the host, oldest
    first, until ``enough()``; returns how many moved (0: nothing left to move)."""
    moved = 0
    while not enough():
        frame = _next(key, wanted)
        if frame is None:
            break
        if frame.spill():
            moved += 1
    return moved


def _next(key: str, wanted: Callable[[Any], bool]) -> Frame | None:
    """The oldest handed-over frame still on the device whose surface is ``wanted`` (taken off the
    list); frames gone or already on the host are pruned on the way."""
    with _lock:
        queue = _handed.get(key)
        if not queue:
            return None
        kept: list[weakref.ref[Frame]] = []
        found = None
        while queue:
            ref = queue.popleft()
            frame = ref()
            if frame is None or frame.surface is None:
                continue
            if wanted(frame.surface):
                found = frame
                break
            kept.append(ref)
        queue.extendleft(reversed(kept))
        return found
