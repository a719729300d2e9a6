"""A static ring of device slots per frame size, which decoded frames are copied into.

Why: the batch's first CUDA graph reads its frames from fixed addresses. If every decoded frame got
tensors of its own, each batch would have to copy or ``record_stream`` every frame (launches and
allocator traffic per frame). Instead the capture threads copy each frame into a free slot of the
ring for its size, and a batch is just a list of slot numbers the graph gathers from (one small
upload). A slot comes back when its frame is garbage (``weakref.finalize`` on the surface); before a
recycled slot is written, the writer's stream waits for the last batch that read the ring. A full
ring is not an error: the frame gets tensors of its own (``gpu.storage``, counted against the
budget) and the batch copies it into one of the ring's staging slots (the last ``STAGING`` ones),
which only the inference thread uses.

A ring is sized from the frames budget (``gpu.budget``) when it is first used, not when it is made
(the runner asks for the ring of host frames' size too): at most half of the budget for one size and
``CAPTURE_SLOTS``, and only what is left beside the rings already made, less a reserve for frames
outside rings. So 4K gets fewer slots than 720p, and a size that no longer fits gets no ring at all
(its frames are loose, or go through the host). A ring whose slots are all free can be dropped when
another size needs the bytes; its memory is freed when nothing holds it any more (a captured graph
may), and until then ``ring_for`` hands the same ring out again.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from streamseg.gpu import trace
from streamseg.gpu.budget import FrameLedger, budget_for, device_key, ledger_for

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# Most capture slots of one size: 16 cameras' queues (8 frames each for files), the batches in flight
# and the render thread's. 192 720p slots are 265 MB of GPU memory; on the CPU (tests, tools) fewer do.
CAPTURE_SLOTS = {"cuda": 192, "cpu": 48}
STAGING = 16  # slots the inference thread copies stray frames into (one per batch position)
MIN_CAPTURE = 4  # fewer capture slots than this: no ring (its staging slots would cost more)
RING_SHARE = 2  # one frame size takes at most 1/2 of the frames budget
RING_MAX_BYTES = 1 << 30  # ... and 1 GiB (all 208 slots at 1080p; 86 at 4K, where frames past them are loose)
RESERVE_SHARE = 8  # 1/8 of the frames budget is kept out of new rings: frames outside them, other sizes


def slot_bytes(frame_hw: tuple[int, int]) -> int:
    """Bytes of one slot: luma and interleaved 4:2:0 chroma."""
    h, w = frame_hw
    return h * w + ((h + 1) // 2) * ((w + 1) // 2) * 2


def plan_slots(frame_hw: tuple[int, int], device_type: str, frames_budget: int, room: int) -> int:
    """Capture slots for a new ring of ``frame_hw``: what its share of ``frames_budget`` (at most
    ``RING_MAX_BYTES``) and the ``room`` left hold beside its ``STAGING`` slots, at most
    ``CAPTURE_SLOTS``; 0: no ring now."""
    size = slot_bytes(frame_hw)
    share = min(frames_budget // RING_SHARE, RING_MAX_BYTES) // size - STAGING
    fits = (room - frames_budget // RESERVE_SHARE) // size - STAGING
    slots = min(CAPTURE_SLOTS.get(device_type, CAPTURE_SLOTS["cpu"]), share, fits)
    return slots if slots >= MIN_CAPTURE else 0


_uses = itertools.count()


class SurfaceRing:
    """``capture_slots + STAGING`` luma and interleaved-chroma planes of one size on one device."""

    def __init__(self, device: torch.device, frame_hw: tuple[int, int], capture_slots: int | None = None):
        """``capture_slots``: None to size the ring from the budget when it is first used."""
        self.frame_hw = frame_hw
        self.device = device
        self.last_use = next(_uses)  # which ring was used least recently (dropped first)
        self._want = capture_slots
        self._capture = 0
        self._y: torch.Tensor | None = None
        self._uv: torch.Tensor | None = None
        # Taken and given back without a lock (list pop and append are atomic): release() runs from
        # finalizers, on whichever thread lets the last reference go, possibly inside another lock.
        self._free: list[int] = []
        self._alloc_lock = threading.Lock()
        self._ledger: FrameLedger = ledger_for(device)
        self._last_read: Any = None  # CUDA event recorded after the last batch that read the ring

    @property
    def allocated(self) -> bool:
        return self._y is not None

    @property
    def capture_slots(self) -> int:
        """Slots frames are decoded into (sizing the ring now if it was not yet)."""
        self._allocate(force=True)
        return self._capture

    @property
    def y(self) -> torch.Tensor:
        """(slots, H, W) luma; the ring's memory is taken on first use."""
        if self._y is not None:
            return self._y
        return _forced(self._allocate(force=True))[0]

    @property
    def uv(self) -> torch.Tensor:
        """(slots, ceil(H/2), ceil(W/2), 2) interleaved chroma."""
        if self._uv is not None:
            return self._uv
        return _forced(self._allocate(force=True))[1]

    @property
    def nbytes(self) -> int:
        return 0 if self._y is None else (self._capture + STAGING) * slot_bytes(self.frame_hw)

    @property
    def free_slots(self) -> int:
        return len(self._free)

    @property
    def idle(self) -> bool:
        """Every capture slot is free (nothing decoded into the ring is alive)."""
        return len(self._free) == self._capture

    def starved(self) -> bool:
        """Made with staging slots only (a batch needed them while the budget was spent), and the
        budget would now hold a ring with capture slots."""
        if self._y is None or self._capture or self._want is not None:
            return False
        budget = budget_for(self.device).frames
        return plan_slots(self.frame_hw, self.device.type, budget, self._ledger.room()) > 0

    def acquire(self) -> int | None:
        """A free capture slot, or None when every one is taken (or the budget holds no ring now)."""
        self.last_use = next(_uses)
        if self._y is None:
            self._allocate(force=False)
        try:
            return self._free.pop()
        except IndexError:
            return None

    def release(self, slot: int) -> None:
        self._free.append(slot)
        self._ledger.changed()

    def staging_slot(self, position: int) -> int:
        """The staging slot for batch position ``position`` (inference thread only); the ring is
        sized first if it was not yet, so the number is past its capture slots for good."""
        return self.capture_slots + position

    def read_on(self, stream: Any) -> None:
        """A batch on ``stream`` has queued its reads of the ring (CUDA: remember them as an event)."""
        trace.device_call("event")
        if stream is None:
            return
        import torch  # noqa: PLC0415

        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record(stream)
        self._last_read = event

    def before_write(self, stream: Any) -> None:
        """Make ``stream`` wait for the reads queued so far before it overwrites a recycled slot."""
        event = self._last_read
        if stream is not None and event is not None:
            stream.wait_event(event)

    def _allocate(self, force: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Take the ring's memory: the planned capture slots and the staging ones; None when the
        budget holds no ring now. ``force``: the staging slots are needed now (a batch stages into
        them), so they are taken even past the budget."""
        import torch  # noqa: PLC0415

        with self._alloc_lock:
            if self._y is not None and self._uv is not None:
                return self._y, self._uv
            h, w = self.frame_hw
            slots = self._want
            if slots is None:
                budget = budget_for(self.device).frames
                slots = plan_slots(self.frame_hw, self.device.type, budget, self._ledger.room())
            nbytes = (slots + STAGING) * slot_bytes(self.frame_hw)
            if slots == 0 or not self._ledger.try_take(nbytes):
                if not force:
                    return None
                slots, nbytes = 0, STAGING * slot_bytes(self.frame_hw)
                self._ledger.force_take(nbytes)
                logger.info(
                    "%s: no room for a %dx%d ring in the frames budget; staging only", self.device, w, h
                )
            total = slots + STAGING
            with torch.inference_mode(False):  # written by capture threads outside inference mode
                # empty, not zeros: a fill would be queued on this thread's stream, which the
                # importers' streams do not wait for (a slot is always written before it is read)
                y = torch.empty((total, h, w), dtype=torch.uint8, device=self.device)
                uv = torch.empty(
                    (total, (h + 1) // 2, (w + 1) // 2, 2), dtype=torch.uint8, device=self.device
                )
            self._ledger.track(y, total * h * w)
            self._ledger.track(uv, nbytes - total * h * w)
            self._capture = slots
            self._free.extend(range(slots))
            self._y, self._uv = y, uv
            return y, uv


def _forced(planes: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
    if planes is None:  # a forced allocation always returns the planes
        raise RuntimeError("surface ring was not allocated")
    return planes


_rings: dict[tuple[str, tuple[int, int]], SurfaceRing] = {}
_dropped: dict[tuple[str, tuple[int, int]], weakref.ref[SurfaceRing]] = {}
_rings_lock = threading.Lock()


def ring_for(device: torch.device, frame_hw: tuple[int, int]) -> SurfaceRing:
    """The ring of ``frame_hw`` frames on ``device``, made on first use (its memory is taken when
    a frame first goes into it); a dropped ring that is still alive is handed out again."""
    key = (device_key(device), frame_hw)
    with _rings_lock:
        ring = _rings.get(key)
        if ring is not None and ring.starved():  # staging only, made when the budget was spent
            _dropped[key] = weakref.ref(_rings.pop(key))
            ring = None
        if ring is None:
            old = _dropped.pop(key, None)
            ring = old() if old is not None else None
            if ring is None:
                ring = SurfaceRing(_canonical(device, key[0]), frame_hw)
            _rings[key] = ring
        return ring


def drop_idle(device: torch.device, keep: SurfaceRing | None) -> int:
    """Drop the rings of ``device`` with every slot free, least recently used first (``keep`` is
    kept); returns how many. Their bytes come back when nothing holds their tensors any more."""
    name = device_key(device)
    with _rings_lock:
        idle = [
            (ring.last_use, key)
            for key, ring in _rings.items()
            if key[0] == name and ring is not keep and ring.allocated and ring.idle
        ]
        for _, key in sorted(idle):
            _dropped[key] = weakref.ref(_rings.pop(key))
    if idle:
        logger.debug("dropped %d idle surface ring(s) on %s", len(idle), name)
    return len(idle)


def rings_on(device: torch.device) -> list[SurfaceRing]:
    """The rings of ``device`` in use now (tests, telemetry)."""
    name = device_key(device)
    with _rings_lock:
        return [ring for key, ring in _rings.items() if key[0] == name]


def _canonical(device: torch.device, name: str) -> torch.device:
    import torch  # noqa: PLC0415

    return torch.device(name) if device.type == "cuda" else device
