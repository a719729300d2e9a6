"""Encoded packets kept for event clips: copies taken as they leave the encoder, and the ring that holds a
source's last seconds of them (the pre-roll) at the cost of the stream's bitrate, not of raw frames."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """A copy of one H.264 packet, in the encoder's ticks (``writer.TIME_BASE``) from its first frame;
    ``captured``: when its frame was captured (``time.monotonic()``), where the writer was told."""

    data: bytes
    pts: int
    dts: int
    keyframe: bool
    captured: float | None = None

    @classmethod
    def copy_of(cls, packet: Any, captured: float | None = None) -> EncodedPacket:
        dts = packet.dts if packet.dts is not None else packet.pts
        return cls(bytes(packet), int(packet.pts), int(dts), bool(packet.is_keyframe), captured)


class PacketRing:
    """The packets of the last ``keep_ticks`` and back to the keyframe before them, so a clip can start
    at a keyframe at least that long before now. Memory: bitrate x (keep + one keyframe interval), and
    never more than ``max_bytes`` (the oldest go, counted in ``overflowed``)."""

    def __init__(self, keep_ticks: int, max_bytes: int = 64 * 2**20) -> None:
        self.keep_ticks = keep_ticks
        self.max_bytes = max_bytes
        self.overflowed = 0
        self._packets: deque[EncodedPacket] = deque()
        self._keyframes: deque[int] = deque()  # pts of the keyframes held, oldest first
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._packets)

    def add(self, packet: EncodedPacket) -> None:
        self._packets.append(packet)
        self._bytes += len(packet.data)
        if packet.keyframe:
            self._keyframes.append(packet.pts)
        horizon = packet.pts - self.keep_ticks
        # whole keyframe intervals go while the next keyframe is still at or before the horizon
        while len(self._keyframes) > 1 and self._keyframes[1] <= horizon:
            self._keyframes.popleft()
            while self._packets and not (
                self._packets[0].keyframe and self._packets[0].pts == self._keyframes[0]
            ):
                self._pop()
        while self._bytes > self.max_bytes and len(self._packets) > 1:
            self._pop()
            self.overflowed += 1

    def since(self, ticks: int) -> list[EncodedPacket]:
        """From the last keyframe at or before ``ticks`` (else the first keyframe held) to the newest."""
        start = None
        for i, p in enumerate(self._packets):
            if p.keyframe and (start is None or p.pts <= ticks):
                start = i
            if p.pts > ticks and start is not None:
                break
        return [] if start is None else list(self._packets)[start:]

    def _pop(self) -> None:
        gone = self._packets.popleft()
        self._bytes -= len(gone.data)
        if gone.keyframe and self._keyframes and self._keyframes[0] == gone.pts:
            self._keyframes.popleft()
