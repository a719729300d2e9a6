"""Where a decoded frame's planes go on the device: a ring slot, tensors of its own, or nowhere yet.

Why: device memory for frames is bounded by the frames budget (``gpu.budget``). In order, a frame
gets a free slot of the ring for its size; else a slot freed by moving a handed-over frame of that
ring to the host (``gpu.spill``); else loose tensors counted against the budget (after moving loose
handed-over frames out, and dropping idle rings of other sizes, if that is what it takes); else the
capture thread waits up to ``wait_s`` for frames in flight to be freed (back-pressure, never
forever), and then ``BudgetSpent`` says the frame must go through the host. A frame is never lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamseg.gpu import spill
from streamseg.gpu.budget import FrameLedger, device_key, ledger_for
from streamseg.gpu.ring import SurfaceRing, drop_idle, ring_for, slot_bytes

if TYPE_CHECKING:
    import torch


class BudgetSpent(Exception):
    """No device memory for this frame within the frames budget: hand it over on the host."""


@dataclass(frozen=True, slots=True)
class Planes:
    """A frame's luma (H, W) and interleaved chroma (ceil(H/2), ceil(W/2), 2) on the device."""

    y: torch.Tensor
    uv: torch.Tensor
    ring: SurfaceRing | None = None  # the planes are slot ``slot`` of ``ring``; None: loose tensors
    slot: int = -1

    def abandon(self, stream: Any) -> None:
        """Give a slot back after a failed copy, once ``stream`` is idle (a copy still queued must
        not land in a slot someone else got); if it cannot be made idle the slot stays taken."""
        if self.ring is None:
            return
        if stream is not None:
            try:
                stream.synchronize()
            except RuntimeError:
                return
        self.ring.release(self.slot)


def planes_for(
    device: torch.device, frame_hw: tuple[int, int], use_ring: bool = True, wait_s: float = 0.0
) -> Planes:
    """Device memory for one frame of ``frame_hw``; raises ``BudgetSpent`` (see the module docstring)."""
    ledger = ledger_for(device)
    key = device_key(device)
    ring = ring_for(device, frame_hw) if use_ring else None
    nbytes = slot_bytes(frame_hw)
    deadline: float | None = None
    while True:
        seen = ledger.version
        planes = _slot(ring) or _loose(device, frame_hw, ledger, nbytes)
        if planes is not None:
            return planes
        if _make_room(device, key, ring, ledger, nbytes):
            continue
        deadline = deadline if deadline is not None else time.monotonic() + wait_s
        left = deadline - time.monotonic()
        if left <= 0 or not ledger.wait_change(seen, left):
            h, w = frame_hw
            raise BudgetSpent(
                f"{key}: no room for a {w}x{h} frame in the frames budget "
                f"({ledger.in_use / 1e6:.0f} of {ledger.limit / 1e6:.0f} MB in use)"
            )


def _slot(ring: SurfaceRing | None) -> Planes | None:
    if ring is None:
        return None
    slot = ring.acquire()
    if slot is None:
        return None
    return Planes(ring.y[slot], ring.uv[slot], ring, slot)


def _loose(
    device: torch.device, frame_hw: tuple[int, int], ledger: FrameLedger, nbytes: int
) -> Planes | None:
    """Tensors of the frame's own, if the budget holds them (given back when they are garbage)."""
    import torch  # noqa: PLC0415

    if not ledger.try_take(nbytes):
        return None
    h, w = frame_hw
    try:
        with torch.inference_mode(False):
            y = torch.empty((h, w), dtype=torch.uint8, device=device)
            uv = torch.empty(((h + 1) // 2, (w + 1) // 2, 2), dtype=torch.uint8, device=device)
    except BaseException:
        ledger.give(nbytes)
        raise
    ledger.track(y, h * w)
    ledger.track(uv, nbytes - h * w)
    return Planes(y, uv)


def _make_room(
    device: torch.device, key: str, ring: SurfaceRing | None, ledger: FrameLedger, nbytes: int
) -> bool:
    """One step towards room for a frame; False when there is nothing left to try but waiting."""

    def in_ring(surface: Any) -> bool:
        return ring is not None and getattr(surface, "ring", None) is ring

    def loose(surface: Any) -> bool:
        return getattr(surface, "ring", None) is None

    def other_ring(surface: Any) -> bool:
        return getattr(surface, "ring", None) not in (None, ring)

    def fits() -> bool:
        return ledger.room() >= nbytes

    if ring is not None and ring.allocated and spill.spill(key, in_ring, lambda: ring.free_slots > 0):
        return True
    if spill.spill(key, loose, fits):
        return True
    if drop_idle(device, ring):  # their bytes come back once nothing holds them
        return True
    # handed-over frames of other sizes hold their rings: move them out, then their rings can go
    return spill.spill(key, other_ring, lambda: False) > 0 and drop_idle(device, ring) > 0
