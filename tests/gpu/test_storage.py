"""``gpu.storage``: where a frame's planes go, in order: a ring slot, a slot freed by moving a
handed-over frame out, loose tensors within the budget, bytes freed by moving loose frames out or
dropping idle rings, a bounded wait, and else ``BudgetSpent``."""

from __future__ import annotations

import gc

import pytest

from streamseg.gpu import spill
from streamseg.gpu.budget import MemoryBudget
from streamseg.gpu.colour import YuvCoefficients
from streamseg.gpu.ring import ring_for, rings_on, slot_bytes
from streamseg.gpu.storage import BudgetSpent, planes_for
from streamseg.gpu.surface import YuvSurface, _surface
from streamseg.types import Frame
from tests.gpu.memory_state import CPU, fresh_memory

SMALL = (64, 96)
COEFFICIENTS = YuvCoefficients.for_frame(1, 1)


def _held(hw: tuple[int, int] = SMALL) -> Frame:
    surface: YuvSurface = _surface(planes_for(CPU, hw), COEFFICIENTS)
    surface.y.fill_(7)
    surface.uv.fill_(128)
    return Frame("cam", 0, 0.0, 0.0, surface=surface)


def test_ring_first_then_loose_then_spill_then_spent() -> None:
    limits = MemoryBudget(frames=400_000, graphs=0)
    with fresh_memory(limits) as ledger:
        frames = [_held()]
        ring = ring_for(CPU, SMALL)
        assert frames[0].surface.ring is ring  # type: ignore[union-attr]
        while ring.free_slots:
            frames.append(_held())
        loose = _held()
        assert loose.surface.ring is None  # type: ignore[union-attr]
        while ledger.room() >= slot_bytes(SMALL):
            frames.append(_held())
        with pytest.raises(BudgetSpent, match="no room for a 96x64 frame"):
            planes_for(CPU, SMALL)
        spill.hand_over(frames[0])  # in the ring: moving it frees a slot
        again = _held()
        assert again.surface.ring is ring and not frames[0].on_device  # type: ignore[union-attr]
        spill.hand_over(loose)  # loose: moving it frees bytes
        assert _held().surface.ring is None and not loose.on_device  # type: ignore[union-attr]
        assert ledger.peak <= limits.frames


def test_rings_of_sizes_no_longer_seen_make_room() -> None:
    """A source changed size: its old frames were handed over. When the new size runs out of room,
    they move to the host, their ring (all slots free now) is dropped and its bytes come back."""
    old_hw, new_hw = (128, 160), (120, 200)
    limits = MemoryBudget(frames=3_000_000, graphs=0)
    with fresh_memory(limits) as ledger:
        old = _held(old_hw)
        spill.hand_over(old)
        held = []
        with pytest.raises(BudgetSpent):
            while True:
                held.append(_held(new_hw))
        assert not old.on_device
        assert [r.frame_hw for r in rings_on(CPU) if r.allocated] == [new_hw]
        gc.collect()
        assert ledger.in_use == sum(slot_bytes(new_hw) for f in held if f.surface.ring is None) + next(  # type: ignore[union-attr]
            r.nbytes for r in rings_on(CPU) if r.allocated
        )
        assert ledger.peak <= limits.frames


def test_abandoned_slots_come_back() -> None:
    with fresh_memory(MemoryBudget(64 << 20, 0)):
        planes = planes_for(CPU, SMALL)
        assert planes.ring is not None
        free = planes.ring.free_slots
        planes.abandon(None)
        assert planes.ring.free_slots == free + 1
