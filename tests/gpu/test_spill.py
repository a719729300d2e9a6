"""``gpu.spill`` and ``Frame.spill``: pictures the consumer already holds move to the host, oldest
first, only when asked, and read the same afterwards."""

from __future__ import annotations

import gc

import av
import numpy as np

from streamseg.gpu import spill
from streamseg.gpu.budget import MemoryBudget
from streamseg.gpu.surface import import_video_frame
from streamseg.testing.media import synthetic_frame
from streamseg.types import Frame
from tests.gpu.memory_state import CPU, fresh_memory


def _frame(i: int) -> Frame:
    vf = av.VideoFrame.from_ndarray(synthetic_frame(i, 96, 64), format="bgr24").reformat(format="yuv420p")
    return Frame("cam", i, i / 10, 0.0, surface=import_video_frame(vf, CPU))


def test_a_spilled_frame_keeps_its_picture_and_frees_its_slot() -> None:
    with fresh_memory(MemoryBudget(64 << 20, 0)):
        frame = _frame(1)
        assert frame.surface is not None
        want = frame.surface.to_host_bgr()
        ring = frame.surface.ring  # type: ignore[attr-defined]
        free = ring.free_slots
        assert frame.on_device and frame.spill()
        gc.collect()
        assert ring.free_slots == free + 1
        assert frame.surface is None and not frame.on_device and frame.frame_hw == (64, 96)
        np.testing.assert_array_equal(frame.image, want)
        assert not frame.spill()  # already on the host
        assert frame.replace(index=5).image is frame.image


def test_oldest_handed_over_frames_move_first_and_only_those_wanted() -> None:
    with fresh_memory(MemoryBudget(64 << 20, 0)):
        frames = [_frame(i) for i in range(5)]
        kept = _frame(9)  # never handed over: never moved
        for f in frames:
            spill.hand_over(f)
        del frames[1]  # the consumer let one go: it is simply skipped
        gc.collect()
        assert spill.handed_over("cpu") == 4
        moved = spill.spill("cpu", lambda s: True, lambda: sum(not f.on_device for f in frames) >= 2)
        assert moved == 2 and [f.index for f in frames if not f.on_device] == [0, 2]
        odd = spill.spill("cpu", lambda s: s.y[0, 0] < 0, lambda: False)  # wants none of them
        assert odd == 0 and spill.handed_over("cpu") == 2
        assert spill.spill("cpu", lambda s: True, lambda: False) == 2
        assert all(not f.on_device for f in frames) and kept.on_device


def test_the_list_of_handed_over_frames_does_not_grow_with_the_run() -> None:
    """A run that never runs short hands over a result per frame; references to frames gone are
    pruned as the list doubles, so it stays about as long as what the consumer still holds."""
    with fresh_memory(MemoryBudget(64 << 20, 0)):
        kept = []
        for i in range(3 * spill.PRUNE_MIN):
            frame = _frame(i % 7)
            spill.hand_over(frame)
            if i % 100 == 0:
                kept.append(frame)
            del frame
            assert len(spill._handed["cpu"]) <= spill.PRUNE_MIN + 2 * len(kept)
        assert spill.handed_over("cpu") == len(kept)
