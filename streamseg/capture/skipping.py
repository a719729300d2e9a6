"""Frames a live stream's decoder leaves undecoded on the latency ladder's last rungs (FFmpeg's
``skip_frame``): first the non-reference frames (nothing else is predicted from them, so they can go
at any time), then every frame but the keyframes.

The mode is changed only where the picture stays whole: leaving "keyframes only" waits for the next
keyframe, since the frames after a skipped one are predicted from it. "Keyframes only" is refused (the
stream keeps its non-reference mode) for a stream whose keyframes are more than ``MAX_KEY_GAP_S`` apart
or not yet measured: a camera with a 10 s GOP would be starved to a frame every 10 s.
"""

from __future__ import annotations

import time
from fractions import Fraction

import av

from streamseg.capture.base import SKIP_MODES, SkipMode

MAX_KEY_GAP_S = 2.0  # keyframes at least this often for "keyframes only" (IP cameras: 1-2 s by default)


class DecodeSkipper:
    """Applies a wanted skip mode to one decoder, packet by packet (on the reader's thread)."""

    def __init__(self, codec: av.VideoCodecContext, time_base: Fraction) -> None:
        self._codec = codec
        self._tb = time_base
        self.mode: SkipMode = "DEFAULT"  # what the decoder does now
        self.key_gap_s: float | None = None  # between the last two keyframes seen
        self._last_key_pts: int | None = None
        self.packet_at: float | None = None  # when the last packet came while frames were being skipped

    def before(self, packet: av.Packet[av.VideoStream], asked: str) -> None:
        """Called with each packet before it is decoded; ``asked``: the gate's mode."""
        key = packet.is_keyframe
        if key and packet.pts is not None:
            if self._last_key_pts is not None and packet.pts > self._last_key_pts:
                self.key_gap_s = float((packet.pts - self._last_key_pts) * self._tb)
            self._last_key_pts = packet.pts
        wanted: SkipMode = next((m for m in SKIP_MODES if m == asked), "DEFAULT")
        if wanted == "NONKEY" and (self.key_gap_s is None or self.key_gap_s > MAX_KEY_GAP_S):
            wanted = "NONREF"
        if self.mode != "DEFAULT":
            self.packet_at = time.monotonic()  # the stream is alive, though few frames come out
        if wanted == self.mode or (self.mode == "NONKEY" and not key):
            return
        self._codec.skip_frame = wanted
        self.mode = wanted
