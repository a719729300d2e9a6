"""``gpu.budget``: GPU memory has a budget. Rings and loose frames stay within the frames share for
1080p, 4K and a mix of sizes; a consumer holding 1000 results does not grow device memory past it
(their pictures move to the host, and read the same); graphs get the rest of the setting."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch

from streamseg.gpu import spill
from streamseg.gpu.budget import (
    CPU_AUTO,
    FrameLedger,
    MemoryBudget,
    budget_for,
    configure_budget,
    memory_budget,
    set_budget,
)
from streamseg.gpu.decode import DecodeTarget
from streamseg.gpu.nvdec import SurfaceImporter
from streamseg.gpu.ring import rings_on, slot_bytes
from streamseg.gpu.storage import BudgetSpent, planes_for
from streamseg.types import Frame, InstanceMasks, SegResult
from tests.gpu.memory_state import CPU, fresh_memory

HD, FULL_HD, UHD = (720, 1280), (1080, 1920), (2160, 3840)


def test_a_size_is_split_between_frames_and_graphs() -> None:
    b = memory_budget("3GB", CPU)
    assert b == MemoryBudget(frames=1_500_000_000, graphs=1_500_000_000)
    assert memory_budget("auto", CPU) == MemoryBudget(*CPU_AUTO)


def test_auto_on_a_gpu_follows_its_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    props = {80: 80 * 2**30, 2: 2 * 2**30}
    for gib, total in props.items():
        monkeypatch.setattr(
            torch.cuda, "get_device_properties", lambda _d, t=total: SimpleNamespace(total_memory=t)
        )
        b = memory_budget("auto", torch.device("cuda", 0))
        assert b.frames == b.graphs == max(256 << 20, total // 8), gib


def test_the_budget_is_per_device_and_auto_until_set() -> None:
    with fresh_memory() as ledger:
        assert budget_for(CPU) == memory_budget("auto", CPU) and ledger.limit == CPU_AUTO[0]
        configured = configure_budget("500MB", CPU)
        assert budget_for(CPU) == configured and ledger.limit == configured.frames == 250_000_000
        set_budget(CPU, MemoryBudget(frames=1 << 20, graphs=2 << 20))
        assert ledger.limit == 1 << 20 and budget_for(CPU).graphs == 2 << 20


def test_the_ledger_counts_until_the_holder_is_garbage() -> None:
    ledger = FrameLedger("cpu", 100)
    assert ledger.try_take(60) and not ledger.try_take(50)
    holder = torch.empty(1)
    ledger.track(holder, 60)
    assert ledger.in_use == 60
    del holder
    assert ledger.in_use == 0 and ledger.peak == 60
    ledger.force_take(150)
    assert ledger.room() == -50


@pytest.mark.parametrize(
    "sizes", [[FULL_HD], [UHD], [FULL_HD, UHD, HD]], ids=["1080p", "4K", "1080p+4K+720p"]
)
def test_rings_and_loose_frames_stay_under_the_budget(sizes: list[tuple[int, int]]) -> None:
    """Frames taken and held (the memory is only reserved: nothing is written) until the budget says
    no: every size that fits gets a ring sized by it (4K fewer slots), loose frames fill the rest,
    and the count never passes the frames share. Graphs get the other half of the setting."""
    limits = memory_budget("2GB", CPU)
    assert limits.frames + limits.graphs == 2_000_000_000
    with fresh_memory(limits) as ledger:
        held = []
        spent: set[tuple[int, int]] = set()
        while len(spent) < len(sizes):
            for hw in sizes:
                if hw in spent:
                    continue
                try:
                    held.append(planes_for(CPU, hw))
                except BudgetSpent:
                    spent.add(hw)
        assert ledger.peak <= limits.frames
        assert ledger.room() < slot_bytes(max(sizes))  # the budget was used, not refused early
        rings = {r.frame_hw: r.capture_slots for r in rings_on(CPU) if r.allocated}
        assert set(rings) == set(sizes)
        if FULL_HD in rings and UHD in rings:
            assert rings[UHD] < rings[FULL_HD]
        assert any(p.ring is None for p in held)  # past the rings: loose, counted


def _picture(i: int, w: int = 96, h: int = 64) -> av.VideoFrame:
    """Frame ``i`` of a deterministic stream (a random picture per index)."""
    rng = np.random.default_rng(i)
    vf = av.VideoFrame(w, h, "yuv420p")
    for plane in vf.planes:
        plane.update(rng.integers(16, 240, plane.buffer_size, dtype=np.uint8).tobytes())
    return vf


def _result(frame: Frame) -> SegResult:
    none = np.zeros((0,), np.float32)
    return SegResult(
        frame, np.zeros((0, 4), np.float32), np.zeros((0,), np.int64), none, InstanceMasks.empty((64, 96)), ()
    )


def test_holding_1000_results_stays_under_the_budget() -> None:
    """The capture path's import (``SurfaceImporter``, as ``pyav_file`` drives it) for 1000 frames
    whose results a consumer keeps, handed over as ``Pipeline.results()`` does: device bytes never pass
    the frames budget (the oldest pictures move to the host), no frame goes through the host path or
    waits, and every held frame's ``image`` is its own picture."""
    limits = MemoryBudget(frames=600_000, graphs=600_000)  # a ring of a few 96x64 slots, a few loose
    importer = SurfaceImporter(DecodeTarget(CPU, nvdec=False), "cam", nvdec_opened=False)
    with fresh_memory(limits) as ledger:
        held: list[SegResult] = []
        for i in range(1000):
            surface = importer.take(_picture(i), 0)
            assert surface is not None, f"frame {i} went through the host"
            result = _result(Frame("cam", i, i / 30, 0.0, surface=surface))
            spill.hand_over(result.frame)
            held.append(result)
            assert ledger.in_use <= limits.frames
        assert ledger.peak <= limits.frames
        on_device = [r for r in held if r.frame.on_device]
        assert 0 < len(on_device) < 100 and importer.host_frames == 0
        for i, result in enumerate(held):
            want = _picture(i).to_ndarray(format="bgr24")
            diff = np.abs(result.frame.image.astype(np.int16) - want)
            assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, i


def test_frames_nobody_handed_over_go_through_the_host_past_the_budget(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Held but never handed over (nothing may be moved): once the budget is spent the importer
    waits (briefly, once) and then says None, the frame goes through the host; memory stays bounded."""
    from streamseg.gpu import nvdec

    monkeypatch.setattr(nvdec, "WAIT_S", 0.01)
    limits = MemoryBudget(frames=600_000, graphs=0)
    importer = SurfaceImporter(DecodeTarget(CPU, nvdec=False), "cam", nvdec_opened=False)
    with fresh_memory(limits) as ledger:
        with caplog.at_level(logging.WARNING, logger="streamseg.gpu.nvdec"):
            held = [importer.take(_picture(i), 0) for i in range(200)]
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and "frames budget" in lines[0] and lines[0].startswith("cam: ")
        assert ledger.peak <= limits.frames
        assert 0 < sum(s is not None for s in held) < 100
        assert importer.host_frames == sum(s is None for s in held)


def test_a_full_budget_waits_for_frames_in_flight() -> None:
    """Back-pressure: a frame that finds no room waits until one is freed (here by another thread),
    within its ``wait_s``; without a change it gives up with ``BudgetSpent``, never blocking for ever."""
    limits = MemoryBudget(frames=300_000, graphs=0)
    with fresh_memory(limits) as ledger:
        held = []
        with pytest.raises(BudgetSpent):
            while True:
                held.append(planes_for(CPU, (64, 96)))
        got: list[object] = []
        worker = threading.Thread(target=lambda: got.append(planes_for(CPU, (64, 96), wait_s=60.0)))
        worker.start()
        for _ in range(10_000):  # until the worker waits (bounded: never hang the suite)
            if ledger.waiting:
                break
            time.sleep(0.001)
        assert ledger.waiting == 1 and not got
        for planes in held:  # the frames in flight are done with
            planes.abandon(None)
        held.clear()
        worker.join(60)
        assert not worker.is_alive() and len(got) == 1
        assert ledger.peak <= limits.frames
