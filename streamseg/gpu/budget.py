"""GPU memory has a budget: bytes for decoded frames, and bytes for captured CUDA graphs.

Why: the surface rings used to take 192 + 16 slots per frame size whatever the size (650 MB at
1080p, 2.6 GB at 4K), and every frame past a full ring got fresh device tensors, so a consumer that
kept its results (each holds its frame, each frame its surface) grew device memory without bound.
Now ``pipeline.gpu_memory`` ("auto" or a size such as "4GB") is split between

* ``frames``: the rings (``gpu.ring``) and the frames outside them (``gpu.storage``), counted here
  per device by a ``FrameLedger``: what a new ring may take, whether a loose frame fits;
* ``graphs``: the captured graphs' pools and static outputs (the graph cache reads ``budget_for``).

Past the frames budget the capture thread moves pictures a consumer already holds to the host
(``gpu.spill``), waits a little for frames in flight, and else hands the frame over on the host.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamseg.config import parse_size

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

AUTO_SHARE = 8  # auto on a GPU: frames and graphs get 1/8 of its memory each (10 GB each on 80 GB)
AUTO_MIN = 256 << 20  # ... but never less than this each (small cards)
CPU_AUTO = (2 << 30, 512 << 20)  # a device path on the CPU (tests, tools): frames, graphs


@dataclass(frozen=True)
class MemoryBudget:
    """Bytes of one device's memory the pipeline may hold, by use."""

    frames: int  # bytes for decoded frames: the surface rings and frames outside them
    graphs: int  # bytes for captured CUDA graphs (their pools and static outputs)


def device_key(device: torch.device) -> str:
    """One name per device: "cuda" and "cuda:0" are the same GPU when 0 is the current one."""
    if device.type == "cuda" and device.index is None:
        import torch  # noqa: PLC0415

        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def memory_budget(setting: str, device: torch.device) -> MemoryBudget:
    """``pipeline.gpu_memory`` for ``device``: "auto" (from the GPU's total memory; a fixed default
    on the CPU) or a size, split evenly between frames and graphs."""
    if setting != "auto":
        total = parse_size(setting, "pipeline.gpu_memory (--gpu-memory)")
        return MemoryBudget(frames=total // 2, graphs=total - total // 2)
    if device.type != "cuda":
        return MemoryBudget(*CPU_AUTO)
    import torch  # noqa: PLC0415

    total = int(torch.cuda.get_device_properties(device).total_memory)
    share = max(AUTO_MIN, total // AUTO_SHARE)
    return MemoryBudget(frames=share, graphs=share)


_budgets: dict[str, MemoryBudget] = {}
_ledgers: dict[str, FrameLedger] = {}
_lock = threading.Lock()


def set_budget(device: torch.device, budget: MemoryBudget) -> None:
    """The budget of ``device`` for this process (every pipeline on it shares it)."""
    key = device_key(device)
    with _lock:
        _budgets[key] = budget
        ledger = _ledgers.get(key)
    if ledger is not None:
        ledger.set_limit(budget.frames)


def budget_for(device: torch.device) -> MemoryBudget:
    """The budget set for ``device``, or the auto one."""
    key = device_key(device)
    with _lock:
        budget = _budgets.get(key)
    if budget is None:
        budget = memory_budget("auto", device)
        with _lock:
            budget = _budgets.setdefault(key, budget)
    return budget


def configure_budget(setting: str, device: torch.device) -> MemoryBudget:
    """Set ``device``'s budget from ``pipeline.gpu_memory`` (called once where a run is planned)."""
    budget = memory_budget(setting, device)
    set_budget(device, budget)
    logger.info(
        "GPU memory budget on %s (%s): %.2f GB for decoded frames, %.2f GB for captured graphs",
        device_key(device),
        setting,
        budget.frames / 1e9,
        budget.graphs / 1e9,
    )
    return budget


def ledger_for(device: torch.device) -> FrameLedger:
    """The frame bytes counted on ``device`` (made on first use, limited by its frames budget)."""
    key = device_key(device)
    with _lock:
        ledger = _ledgers.get(key)
    if ledger is None:
        limit = budget_for(device).frames
        with _lock:
            ledger = _ledgers.setdefault(key, FrameLedger(key, limit))
    return ledger


class FrameLedger:
    """Bytes of decoded frames held on one device: the rings' tensors and loose surfaces.

    Bytes are given back when the tensors holding them are garbage (``track``), never earlier, so a
    ring a captured graph still references stays counted. Locks are re-entrant: a ``give`` runs from
    ``weakref.finalize``, which the garbage collector may call on a thread that is inside the ledger.
    """

    def __init__(self, key: str, limit: int) -> None:
        self.key = key
        self.limit = limit
        self.in_use = 0
        self.peak = 0  # the most ever in use (tests, telemetry)
        self.version = 0  # bumped at every give or slot release: what waiters wait for
        self.waiting = 0  # capture threads waiting for room now
        self._changed = threading.Condition(threading.RLock())

    def set_limit(self, limit: int) -> None:
        with self._changed:
            self.limit = limit
            self._bump()

    def room(self) -> int:
        """Bytes still free within the budget (negative when over it)."""
        return self.limit - self.in_use

    def try_take(self, nbytes: int) -> bool:
        """Count ``nbytes`` if they fit within the budget."""
        with self._changed:
            if self.in_use + nbytes > self.limit:
                return False
            self._add(nbytes)
            return True

    def force_take(self, nbytes: int) -> None:
        """Count ``nbytes`` even past the budget (the few bytes a batch cannot run without)."""
        with self._changed:
            self._add(nbytes)

    def give(self, nbytes: int) -> None:
        with self._changed:
            self.in_use -= nbytes
            self._bump()

    def track(self, holder: object, nbytes: int) -> None:
        """Give ``nbytes`` back when ``holder`` (a tensor) is garbage."""
        weakref.finalize(holder, self.give, nbytes)

    def changed(self) -> None:
        """Something was freed (a ring slot): wake whoever waits for room."""
        with self._changed:
            self._bump()

    def wait_change(self, since: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change after ``version`` ``since``; True if one came."""
        with self._changed:
            self.waiting += 1
            try:
                return self._changed.wait_for(lambda: self.version != since, timeout)
            finally:
                self.waiting -= 1

    def _add(self, nbytes: int) -> None:
        self.in_use += nbytes
        self.peak = max(self.peak, self.in_use)

    def _bump(self) -> None:
        self.version += 1
        self._changed.notify_all()
