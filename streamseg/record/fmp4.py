"""A source's encoded H.264 packets as fragmented MP4, the form a browser's Media Source Extensions play.

FFmpeg's MP4 muxer (through PyAV, into memory) writes the init segment (``ftyp`` + ``moov``: the codec
parameters, no samples) and then one fragment (``moof`` + ``mdat``) per frame (``frag_every_frame``):
a frame reaches a viewer one frame after it leaves the encoder, not a whole fragment duration later.
The packets are the encoder's own (the recording's, where the source is recorded): nothing is
decoded or encoded again here.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from streamseg.record.packets import EncodedPacket
from streamseg.record.writer import TIME_BASE

MOVFLAGS = "empty_moov+default_base_moof+frag_keyframe+frag_every_frame"
_INIT_BOXES = (b"ftyp", b"moov")


@dataclass(frozen=True, slots=True)
class InitSegment:
    """What a viewer's ``SourceBuffer`` needs first; ``codec``: the RFC 6381 name (``avc1.64001f``)."""

    data: bytes
    codec: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Fragment:
    """One frame as ``moof`` + ``mdat``: ``media_time`` (s) on the video element's timeline, ``captured``
    (``time.monotonic()``, None when unknown) for the capture-to-screen latency."""

    data: bytes
    keyframe: bool
    media_time: float
    captured: float | None


class _Collect(io.RawIOBase):
    """The muxer's output file: bytes collected until taken."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


class Fragmenter:
    """Feed ``add`` a source's packets (from a keyframe on; those before the first are skipped);
    ``on_init`` is called once with the init segment, ``on_fragment`` with every frame after it."""

    def __init__(
        self,
        template: Any,
        on_init: Callable[[InitSegment], None],
        on_fragment: Callable[[Fragment], None],
    ) -> None:
        """``template``: the encoder's stream (``VideoWriter.stream``): codec, size, SPS/PPS."""
        self._on_init = on_init
        self._on_fragment = on_fragment
        self._out = _Collect()
        self._container: Any = av.open(self._out, mode="w", format="mp4", options=_options())
        self._stream = self._container.add_stream_from_template(template)
        self._stream.time_base = TIME_BASE
        codec = template.codec_context
        self._init = InitSegment(b"", codec_name(bytes(codec.extradata or b"")), codec.width, codec.height)
        self._start: int | None = None
        self._pending: EncodedPacket | None = None  # its fragment comes out when the next one goes in
        self._buffer = b""
        self._closed = False

    def add(self, packets: list[EncodedPacket]) -> None:
        for packet in packets:
            if self._start is None:
                if not packet.keyframe:
                    continue
                self._start = packet.pts
            muxed = av.Packet(packet.data)
            muxed.pts, muxed.dts = packet.pts - self._start, packet.dts - self._start
            muxed.time_base = Fraction(TIME_BASE)
            muxed.is_keyframe = packet.keyframe
            muxed.stream = self._stream
            self._container.mux(muxed)
            self._emit(self._out.take())
            self._pending = packet

    def close(self) -> None:
        """The last frame's fragment goes out; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError, av.FFmpegError):  # nothing muxed yet: no header to finish
            self._container.close()
        self._emit(self._out.take())

    def _emit(self, data: bytes) -> None:
        """Split what the muxer wrote into the init segment and the pending frame's fragment (a
        fragment is complete with its ``mdat``; anything after the last one waits for more)."""
        self._buffer += data
        boxes = _boxes(self._buffer)
        init = b"".join(self._buffer[a:b] for kind, a, b in boxes if kind in _INIT_BOXES)
        if init:
            self._init = InitSegment(init, self._init.codec, self._init.width, self._init.height)
            self._on_init(self._init)
        ends = [b for kind, _, b in boxes if kind == b"mdat"]
        done = ends[-1] if ends else max((b for kind, _, b in boxes if kind in _INIT_BOXES), default=0)
        rest = b"".join(self._buffer[a:b] for kind, a, b in boxes if kind not in _INIT_BOXES and b <= done)
        self._buffer = self._buffer[done:]
        if rest and self._pending is not None and self._start is not None:
            packet = self._pending
            seconds = (packet.pts - self._start) / TIME_BASE.denominator
            self._on_fragment(Fragment(rest, packet.keyframe, seconds, packet.captured))


def _boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of the complete top-level boxes at the start of ``data``."""
    out, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        if size == 1 and at + 16 <= len(data):
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        if size < 8 or at + size > len(data):
            break
        out.append((kind, at, at + size))
        at += size
    return out


def codec_name(extradata: bytes) -> str:
    """``avc1.PPCCLL`` from the SPS in ``extradata`` (Annex B or ``avcC``); Baseline 3.1 if none."""
    if extradata[:1] == b"\x01" and len(extradata) >= 4:  # avcC: profile, constraints, level follow
        return "avc1." + extradata[1:4].hex()
    for start in (b"\x00\x00\x00\x01", b"\x00\x00\x01"):
        at = extradata.find(start)
        while at >= 0:
            nal = extradata[at + len(start) :]
            if nal[:1] and nal[0] & 0x1F == 7 and len(nal) >= 4:  # sequence parameter set
                return "avc1." + nal[1:4].hex()
            at = extradata.find(start, at + 1)
    return "avc1.42e01f"


def _options() -> dict[str, str]:
    return {"movflags": MOVFLAGS, "flush_packets": "1"}
