"""Event clips with pre-roll (``--clips DIR --pre-roll 5s --post-roll 5s``): one H.264 MP4 per event,
cut from the source's encoded stream without encoding again.

The source's encoder hands every packet to its ``ClipRecorder`` (``VideoWriter(packets=...)``); a ring
keeps the last pre-roll of them back to a keyframe (``record.packets``). ``trigger`` (from the render
thread, when an event is made) names the clip at once; the encoding thread writes it: first the ring
from the last keyframe at least the pre-roll before the trigger, then live packets until the post-roll
after the last trigger. A trigger while a clip is open extends it. Clips are fragmented MP4 like the
recordings, so a killed process leaves a playable clip.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import av

from streamseg.config.names import file_in
from streamseg.errors import OutputError
from streamseg.record.packets import EncodedPacket, PacketRing
from streamseg.record.writer import TIME_BASE, VideoWriter
from streamseg.redact import safe_name

logger = logging.getLogger(__name__)

_MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000"}


class ClipRecorder:
    """One source's clips. ``packets`` runs on its encoding thread, ``trigger`` on the render thread."""

    def __init__(self, folder: Path, source: str, pre_roll_s: float, post_roll_s: float) -> None:
        try:  # the folder of the name's slug, checked to lie inside --clips (OutputError else)
            self.folder = file_in(folder, safe_name(source) or "_")
            self.folder.mkdir(parents=True, exist_ok=True)
        except OutputError as exc:
            raise OutputError(f"--clips: {exc}") from None
        except OSError as exc:
            raise OutputError(f"--clips: cannot write to {self.folder}: {exc.strerror or exc}") from None
        self.source = source
        self.pre_ticks = round(pre_roll_s * TIME_BASE.denominator)
        self.post_ticks = round(post_roll_s * TIME_BASE.denominator)
        self.ring = PacketRing(self.pre_ticks)
        self.written: list[Path] = []
        self._writer: VideoWriter | None = None  # the encoder: its clock and its stream (a template)
        self._lock = threading.RLock()  # _close may run inside packets()' locked part (a failed write)
        self._pending: tuple[Path, int] | None = None  # a clip asked for: its file and start ticks
        self._early: tuple[Path, float] | None = None  # asked for before the encoder's first frame
        self._end = -1  # ticks after which the open clip ends
        self._clip: tuple[Path, Any, Any, int] | None = None  # file, container, stream, start ticks

    def attach(self, writer: VideoWriter) -> None:
        self._writer = writer

    @property
    def writing(self) -> Path | None:
        clip = self._clip
        return clip[0] if clip is not None else None

    def trigger(self, pts_seconds: float, kind: str) -> str | None:
        """A clip around the frame at ``pts_seconds``: its path (a new clip, or the open one extended).
        Before the encoder has taken its first frame (the render thread hands frames over before they
        are encoded: an event on a source's first frame) the clip is named now and placed once the
        encoder's clock starts; None without an encoder."""
        writer = self._writer
        if writer is None:
            return None
        ticks = writer.ticks_for(pts_seconds)
        with self._lock:
            if ticks is None:
                if self._early is None:
                    self._early = (self._name(pts_seconds, kind), pts_seconds)
                return str(self._early[0])
            self._place_early()  # an earlier trigger's clip, which this one extends
            self._end = max(self._end, ticks + self.post_ticks)
            if self._clip is not None:
                return str(self._clip[0])
            if self._pending is not None:
                return str(self._pending[0])
            path = self._name(pts_seconds, kind)
            self._pending = (path, ticks - self.pre_ticks)
            return str(path)

    def _name(self, pts_seconds: float, kind: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        return self.folder / f"{stamp}-{pts_seconds:.3f}-{safe_name(kind)}.mp4"

    def _place_early(self) -> None:
        """A clip asked for before the encoder's first frame, placed on its clock now that it runs."""
        early, writer = self._early, self._writer
        ticks = writer.ticks_for(early[1]) if early is not None and writer is not None else None
        if early is None or ticks is None:
            return
        self._early = None
        self._end = max(self._end, ticks + self.post_ticks)
        if self._clip is None and self._pending is None:
            self._pending = (early[0], ticks - self.pre_ticks)

    def packets(self, packets: list[EncodedPacket]) -> None:
        """The encoder's newest packets: into the ring, and into the open clip."""
        for packet in packets:
            self.ring.add(packet)
        with self._lock:  # a clip opens under the lock: a trigger meanwhile extends it, never starts another
            self._place_early()
            if self._pending is not None and self._clip is None:
                if self._open(*self._pending):
                    self._pending = None
                return  # the ring (these packets included) went into the new clip
            end = self._end
        for packet in packets if self._clip is not None else ():
            if packet.pts > end:
                self._close()
                break
            self._write(packet)

    def close(self) -> None:
        """Finish the open clip (the encoder is closing)."""
        with self._lock:
            self._pending = self._early = None
        self._close()

    def _open(self, path: Path, start_ticks: int) -> bool:
        """Start the clip with the ring from the keyframe before ``start_ticks``; False while there is
        nothing to start from yet (it stays pending)."""
        stream = self._writer.stream if self._writer is not None else None
        backlog = self.ring.since(start_ticks)
        if stream is None or not backlog:
            return False
        try:
            container = av.open(str(path), mode="w", format="mp4", options=_MP4_OPTIONS)
            out = container.add_stream_from_template(stream)
            out.time_base = TIME_BASE
        except (OSError, av.FFmpegError) as exc:
            logger.warning("clips: cannot write %s: %s", path, getattr(exc, "strerror", None) or exc)
            return True
        self._clip = (path, container, out, backlog[0].pts)
        for packet in backlog:
            self._write(packet)
        return True

    def _write(self, packet: EncodedPacket) -> None:
        clip = self._clip
        if clip is None:
            return
        path, container, stream, start = clip
        out = av.Packet(packet.data)
        out.pts, out.dts = packet.pts - start, packet.dts - start
        out.time_base = TIME_BASE
        out.is_keyframe = packet.keyframe
        out.stream = stream
        try:
            container.mux(out)
        except (OSError, av.FFmpegError) as exc:
            logger.warning("clips: writing %s failed: %s", path.name, getattr(exc, "strerror", None) or exc)
            self._close()

    def _close(self) -> None:
        with self._lock:  # a trigger from now on starts a new clip
            clip, self._clip = self._clip, None
        if clip is None:
            return
        path, container, _, _ = clip
        try:
            container.close()
            self.written.append(path)
            logger.info("clip %s written", path)
        except (OSError, av.FFmpegError) as exc:
            logger.warning("clips: finishing %s failed: %s", path.name, getattr(exc, "strerror", None) or exc)
