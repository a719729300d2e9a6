"""``gpu.ring``: rings sized from the frames budget when first used, fewer slots for bigger frames,
idle rings of other sizes dropped when the bytes are needed (and handed out again while alive)."""

from __future__ import annotations

import gc

import torch

from streamseg.gpu.budget import MemoryBudget, memory_budget
from streamseg.gpu.ring import (
    CAPTURE_SLOTS,
    MIN_CAPTURE,
    RING_MAX_BYTES,
    STAGING,
    drop_idle,
    plan_slots,
    ring_for,
    slot_bytes,
)
from streamseg.testing.optrace import OpTrace
from tests.gpu.memory_state import CPU, fresh_memory

HD, FULL_HD, UHD = (720, 1280), (1080, 1920), (2160, 3840)


def test_slot_counts_follow_the_budget_and_the_frame_size() -> None:
    """4 GB on a GPU (2 GB for frames): 1080p rings get the most slots allowed, 4K far fewer (at most
    half the frames budget for one size); what is already taken shrinks the next ring; a budget that
    cannot hold ``MIN_CAPTURE`` slots beside the staging ones makes no ring."""
    frames = memory_budget("4GB", torch.device("cpu")).frames
    assert frames == 2_000_000_000
    full_hd = plan_slots(FULL_HD, "cuda", frames, frames)
    uhd = plan_slots(UHD, "cuda", frames, frames)
    assert full_hd == CAPTURE_SLOTS["cuda"]
    assert MIN_CAPTURE <= uhd < full_hd
    assert (uhd + STAGING) * slot_bytes(UHD) <= frames // 2
    taken = (full_hd + STAGING) * slot_bytes(FULL_HD)
    after = plan_slots(UHD, "cuda", frames, frames - taken)
    assert MIN_CAPTURE <= after <= uhd
    assert taken + (after + STAGING) * slot_bytes(UHD) <= frames
    assert plan_slots(UHD, "cuda", 300 << 20, 300 << 20) == 0  # 20 slots of 4K do not fit in 150 MB
    big = 10 << 30  # auto on an 80 GB GPU: one size still takes at most RING_MAX_BYTES
    assert plan_slots(FULL_HD, "cuda", big, big) == CAPTURE_SLOTS["cuda"]
    assert (plan_slots(UHD, "cuda", big, big) + STAGING) * slot_bytes(UHD) <= RING_MAX_BYTES


def test_a_ring_takes_its_memory_when_first_used() -> None:
    """The runner asks for the ring of host frames' size too: asking costs nothing; the first slot
    taken sizes the ring from what is left of the budget."""
    with fresh_memory(MemoryBudget(frames=200 << 20, graphs=0)) as ledger:
        ring = ring_for(CPU, HD)
        assert not ring.allocated and ledger.in_use == 0
        slot = ring.acquire()
        assert slot is not None and ring.allocated
        assert ring.capture_slots == plan_slots(HD, "cpu", 200 << 20, 200 << 20)
        assert ledger.in_use == ring.nbytes == (ring.capture_slots + STAGING) * slot_bytes(HD)
        assert ring.y.shape == (ring.capture_slots + STAGING, *HD)
        assert ring.staging_slot(0) == ring.capture_slots


def test_a_new_ring_queues_no_work() -> None:
    """The ring's memory is left as it is (``empty``): a fill would be queued on the allocating
    thread's stream, which the importers' streams do not wait for, and could land after a frame."""
    with fresh_memory(MemoryBudget(frames=200 << 20, graphs=0)), OpTrace() as traced:
        assert ring_for(CPU, HD).acquire() is not None
    assert traced.launches(None) == 0, [op.name for op in traced.ops if op.launches]


def test_staging_slots_are_past_the_capture_slots_even_on_a_new_ring() -> None:
    """A batch of loose frames may be the first to use a ring: asking for a staging slot sizes it,
    so the number it gets can never be a capture slot a frame is decoded into later."""
    with fresh_memory(MemoryBudget(frames=200 << 20, graphs=0)):
        ring = ring_for(CPU, HD)
        first = ring.staging_slot(0)
        assert ring.allocated and first == ring.capture_slots > 0
        assert first not in ring._free and ring.y.shape[0] == ring.capture_slots + STAGING


def test_no_ring_when_the_budget_cannot_hold_one() -> None:
    with fresh_memory(MemoryBudget(frames=20 << 20, graphs=0)) as ledger:
        ring = ring_for(CPU, FULL_HD)
        assert ring.acquire() is None and not ring.allocated and ledger.in_use == 0
        assert ring.y.shape[0] == STAGING  # a batch that stages into it gets its staging slots
        assert ring.capture_slots == 0 and ledger.in_use == STAGING * slot_bytes(FULL_HD)


def test_idle_rings_are_dropped_and_their_bytes_come_back_when_unreferenced() -> None:
    with fresh_memory(MemoryBudget(frames=400 << 20, graphs=0)) as ledger:
        old, busy = ring_for(CPU, HD), ring_for(CPU, (360, 640))
        slot = old.acquire()
        held = busy.acquire()
        assert slot is not None and held is not None
        old.release(slot)
        before = ledger.in_use
        graph_inputs = old.y  # what a captured graph would still hold
        assert drop_idle(CPU, keep=None) == 1  # the busy ring stays
        assert ring_for(CPU, HD) is old  # still alive: handed out again, same addresses
        assert drop_idle(CPU, keep=None) == 1
        del old
        gc.collect()
        chroma = graph_inputs.shape[0] * (slot_bytes(HD) - HD[0] * HD[1])
        assert ledger.in_use == before - chroma  # the luma a graph holds is still counted
        del graph_inputs
        gc.collect()
        assert ledger.in_use == busy.nbytes
        fresh = ring_for(CPU, HD)
        assert not fresh.allocated
