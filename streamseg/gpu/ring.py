"""A static ring of device slots per frame size, which decoded frames are copied into.

Why: the batch's first CUDA graph reads its frames from fixed addresses. If every decoded frame got
tensors of its own, each batch would have to copy or ``record_stream`` every frame (launches and
allocator traffic per frame). Instead the capture threads copy each frame into a free slot of the
ring for its size, and a batch is just a list of slot numbers the graph gathers from (one small
upload). A slot comes back when its frame is garbage (``weakref.finalize`` on the surface); before a
recycled slot is written, the writer's stream waits for the last batch that read the ring. A full
ring is not an error: the frame gets tensors of its own and the batch copies it into one of the
ring's staging slots (the last ``STAGING`` ones), which only the inference thread uses.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from streamseg.gpu import trace

if TYPE_CHECKING:
    import torch

# Frames of one size decoded but not yet done with: 16 cameras' queues (8 frames each for files),
# the batches in flight and the render thread's. 192 720p slots are 265 MB of GPU memory; on the CPU
# (tests, tools) fewer do. Past them frames get tensors of their own (and a staging copy).
CAPTURE_SLOTS = {"cuda": 192, "cpu": 48}
STAGING = 16  # slots the inference thread copies stray frames into (one per batch position)


class SurfaceRing:
    """``capture_slots + STAGING`` luma and interleaved-chroma planes of one size on one device."""

    def __init__(self, device: torch.device, frame_hw: tuple[int, int], capture_slots: int):
        import torch  # noqa: PLC0415

        h, w = frame_hw
        self.frame_hw = frame_hw
        self.device = device
        self.capture_slots = capture_slots
        slots = capture_slots + STAGING
        with torch.inference_mode(False):  # written by capture threads outside inference mode
            self.y = torch.zeros((slots, h, w), dtype=torch.uint8, device=device)
            self.uv = torch.zeros((slots, (h + 1) // 2, (w + 1) // 2, 2), dtype=torch.uint8, device=device)
        self._free = list(range(capture_slots))
        self._lock = threading.Lock()
        self._last_read: Any = None  # CUDA event recorded after the last batch that read the ring

    def acquire(self) -> int | None:
        """A free capture slot, or None when every one is taken."""
        with self._lock:
            return self._free.pop() if self._free else None

    def release(self, slot: int) -> None:
        with self._lock:
            self._free.append(slot)

    def staging_slot(self, position: int) -> int:
        """The staging slot for batch position ``position`` (inference thread only)."""
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


_rings: dict[tuple[str, tuple[int, int]], SurfaceRing] = {}
_rings_lock = threading.Lock()


def ring_for(device: torch.device, frame_hw: tuple[int, int]) -> SurfaceRing:
    """The ring of ``frame_hw`` frames on ``device``, made on first use."""
    if device.type == "cuda" and device.index is None:  # "cuda" and "cuda:0" are one device, one ring
        import torch  # noqa: PLC0415

        device = torch.device("cuda", torch.cuda.current_device())
    key = (str(device), frame_hw)
    with _rings_lock:
        ring = _rings.get(key)
        if ring is None:
            slots = CAPTURE_SLOTS.get(device.type, CAPTURE_SLOTS["cpu"])
            ring = _rings[key] = SurfaceRing(device, frame_hw, slots)
        return ring
