"""Video files (and anything else FFmpeg can open, such as RTSP/HTTP URLs) decoded with PyAV.

Decoding happens in the thread that calls ``read()``; the pipeline gives each source its own thread.
A damaged file is played as far as it goes: every frame that decodes is delivered, and only when the
stream ends does ``read()`` raise ``DecodeError`` saying how much was lost, so the frames before the
damage are still processed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import av
import av.error
from av.video.reformatter import VideoReformatter

from streamseg.capture.base import FrameGate, SourceBase, SourceStats
from streamseg.capture.integrity import FileRecords, estimate_count_and_rate
from streamseg.capture.opening import ContainerOpener, check_local_file
from streamseg.capture.opening import reason as _reason
from streamseg.capture.pictures import PictureMaker
from streamseg.capture.skipping import DecodeSkipper
from streamseg.capture.timestamps import PtsTracker
from streamseg.config import default_source_name
from streamseg.errors import DecodeError, SourceError, SourceTimeout
from streamseg.gpu.decode import DecodeTarget
from streamseg.redact import redact_uri
from streamseg.types import Frame

logger = logging.getLogger(__name__)

LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt", "rtp"})
# Demuxers that "play" things which are not video: still images and text rendered as ANSI art.
_STILL_FORMATS = frozenset({"image2", "tty"})
_MAX_LOGGED_ERRORS = 3


class PyAVFileSource(SourceBase):
    """A file or URL decoded by FFmpeg through PyAV; frames carry the stream's own timestamps."""

    def __init__(
        self,
        uri: str,
        name: str | None = None,
        *,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0,
        threads: int = 0,
        options: dict[str, str] | None = None,
        decode: DecodeTarget | None = None,
    ) -> None:
        """``decode``: deliver frames as surfaces on that device (NVDEC on CUDA) instead of host BGR."""
        scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
        self._is_url = scheme not in ("", "file")
        self._uri = uri
        self._path = Path(uri[len("file://") :] if scheme == "file" else uri).expanduser()
        self._name = name or default_source_name(uri)
        self._is_live = scheme in LIVE_SCHEMES
        self._open_timeout_s = open_timeout_s
        self._read_timeout_s = read_timeout_s
        self._threads = threads
        # One colour converter per source, kept: ``VideoFrame.to_ndarray`` makes a new one per frame, and
        # each started (and stopped) its own swscale threads: ~100 threads a second for 4 cameras.
        self._bgr = VideoReformatter()
        self._options = dict(options or {})  # FFmpeg demuxer/protocol options (rtsp_transport, timeout)
        self._decode_target = decode
        self._nvdec = decode is not None and decode.nvdec  # cleared when NVDEC will not open the stream
        self._pictures: PictureMaker | None = None  # made at the first frame (NVDEC may have refused)
        self._gate: FrameGate | None = None  # the latency ladder's say on each frame (live streams)
        self._skipper: DecodeSkipper | None = None
        self._stats = SourceStats()
        self._lock = threading.Lock()
        self._closing = False
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._packets: Iterator[av.Packet[av.VideoStream]] | None = None
        self._pending: deque[av.VideoFrame] = deque()
        self._tracker: PtsTracker | None = None
        self._resolution: tuple[int, int] | None = None
        self._frame_count: int | None = None
        self._nominal_fps: float | None = None
        self._records = FileRecords()  # what a file says of itself, to judge what was lost at its end
        self._last_pts = 0.0
        self._packets_read = 0
        self._demux_failure: str | None = None
        self._eof = False
        self._finished = False
        self._index = 0

    # -- FrameSource properties -------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        return self._is_live

    @property
    def frame_count(self) -> int | None:
        return None if self._is_live else self._frame_count

    @property
    def nominal_fps(self) -> float | None:
        return self._nominal_fps

    @property
    def skipped_packet_at(self) -> float | None:
        """When the last packet came while the decoder was skipping frames (it is alive, if quiet)."""
        return self._skipper.packet_at if self._skipper is not None else None

    def set_gate(self, gate: FrameGate | None) -> None:
        """Ask ``gate`` before converting each decoded frame, and decode only what its ``skip_frame``
        leaves (set from the reader's thread, or before it starts)."""
        self._gate = gate

    @property
    def draining(self) -> bool:
        """Reading failed (a dropped connection): what is left are the decoder's last frames."""
        return self._eof and self._demux_failure is not None

    # -- lifecycle --------------------------------------------------------------------------------

    def open(self) -> None:
        """Open and probe; safe to call twice. Raises ``SourceError`` with one line naming the input."""
        if self._container is not None:
            return
        if self._closing:
            raise SourceError(f"{self._label()}: source was closed")
        if not self._is_url:
            self._check_path()
        container = self._open_container()
        try:
            self._setup(container)
            self._container = container
            self._prime()
        except BaseException:
            self._container = None
            container.close()
            raise

    def close(self) -> None:
        """Release the decoder. From another thread this waits for the current packet, never for EOF."""
        self._closing = True
        if self._lock.acquire(timeout=5.0):
            try:
                self._release()
            finally:
                self._lock.release()
        # else: the reader is blocked in I/O; it releases the container when that returns.

    def read(self) -> Frame | None:
        """The next frame in presentation order; ``None`` at the end; ``DecodeError`` if frames were lost."""
        with self._lock:
            if self._closing:
                self._release()
                return None
            if self._container is None:
                raise SourceError(f"{self._label()}: read() before open()")
            started = time.perf_counter()
            try:
                frame = self._next_frame()
            finally:
                self._stats.decode_seconds += time.perf_counter() - started
            if self._closing:
                self._release()
            return frame

    # -- opening ----------------------------------------------------------------------------------

    def _check_path(self) -> None:
        check_local_file(self._path)

    def _open_container(self) -> av.container.InputContainer:
        target = self._uri if self._is_url else str(self._path)
        timeout = (self._open_timeout_s, self._read_timeout_s) if self._is_url else None
        opener = ContainerOpener(self._label(), target, self._is_url, timeout, self._options)
        if self._nvdec and self._decode_target is not None:
            container = opener.with_nvdec(self._decode_target.index)
            if container is not None:
                return container
            self._nvdec = False  # refused: the CPU decoder may still take it
        return opener.on_cpu()

    def _setup(self, container: av.container.InputContainer) -> None:
        label = self._label()
        if not container.streams.video:
            raise SourceError(f"{label} is not a video file (no video stream)")
        fmt = container.format.name
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if fmt in _STILL_FORMATS or fmt.endswith("_pipe") or codec == "ansi":
            kind = "text" if codec == "ansi" else f"a still image ({codec})"
            raise SourceError(f"{label} is not a video file (it is {kind})")
        stream.thread_type = "AUTO"  # frame + slice threads: ~1.3x the default's fps on 720p H.264, 2 cores
        # NVDEC does the decoding itself; frame threads would only add delay in front of it
        stream.codec_context.thread_count = 1 if self._nvdec else self._threads
        tb = stream.time_base or Fraction(1, 90000)
        if self._is_url and container.duration is None:
            self._is_live = True
        self._frame_count, self._nominal_fps = estimate_count_and_rate(container, stream, tb)
        if not self._is_url:
            self._records = FileRecords.read(self._path, container, stream)
        if stream.codec_context.width > 0 and stream.codec_context.height > 0:
            self._resolution = (stream.codec_context.width, stream.codec_context.height)
        rate = stream.guessed_rate or stream.average_rate or Fraction(30)
        self._tracker = PtsTracker(
            time_base=tb,
            start_ticks=stream.start_time,
            default_duration_ticks=round(1 / (rate * tb)),
            prefer_dts=fmt == "avi",  # AVI has no presentation timestamps; its packet pts are invented
        )
        self._stream = stream
        self._skipper = DecodeSkipper(stream.codec_context, tb)
        self._packets = container.demux(stream)
        logger.info(
            "opened %s: %s/%s %s, ~%s frames, %.3g fps nominal",
            label,
            fmt,
            codec,
            "x".join(map(str, self._resolution or (0, 0))),
            self._frame_count,
            self._nominal_fps or 0.0,
        )

    def _prime(self) -> None:
        """Decode up to the first frame now: proves the file plays and gives the displayed size."""
        while not self._pending and not self._eof:
            self._step()
        if self._pending:
            first = self._pending[0]
            w, h = first.width, first.height
            self._resolution = (h, w) if _quarter_turns(first) % 2 else (w, h)
        elif not self._is_live:
            why = f": {self._demux_failure}" if self._demux_failure else ""
            raise SourceError(f"{self._label()} is not a playable video (no frame could be decoded{why})")

    # -- decoding ---------------------------------------------------------------------------------

    def _next_frame(self) -> Frame | None:
        while True:
            while not self._pending:
                if self._eof:
                    self._finish()
                    return None
                self._step()
            vf = self._pending.popleft()
            if self._gate is None or self._gate.admits(self._index):
                frame = self._to_frame(vf)
                if frame is not None:
                    return frame
            else:
                self._pass_over(vf)
            if self._closing:
                return None

    def _pass_over(self, vf: av.VideoFrame) -> None:
        """A frame the gate will not use: numbered and timed like the others, never converted."""
        if self._tracker is not None:
            self._last_pts = self._tracker.next_seconds(vf.pts, vf.dts, vf.duration or None)
        self._index += 1
        self._stats.frames_decoded += 1

    def _step(self) -> None:
        """Demux one packet and decode it; failures are counted, never fatal mid-stream."""
        if self._packets is None or self._stream is None:
            self._eof = True
            return
        try:
            packet = next(self._packets)
        except StopIteration:
            self._eof = True
            return
        except av.error.ExitError:
            raise SourceTimeout(f"{self._label()}: no data for {self._read_timeout_s:g} s") from None
        except (av.error.FFmpegError, OSError) as exc:
            self._demux_failure = _reason(exc)
            self._stats.decode_errors += 1
            self._eof = True
            logger.warning("%s: reading stopped early: %s", self._label(), self._demux_failure)
            self._decode(None)  # drain the frames still inside the decoder
            return
        if packet.size > 0:
            self._packets_read += 1
        if self._skipper is not None:  # sees every packet: keyframe spacing is known before it matters
            self._skipper.before(packet, self._gate.skip_frame if self._gate is not None else "DEFAULT")
        self._decode(packet)

    def _decode(self, packet: av.Packet[av.VideoStream] | None) -> None:
        if self._stream is None:
            return
        try:
            frames = self._stream.codec_context.decode(packet)
        except (av.error.FFmpegError, ValueError) as exc:
            self._stats.decode_errors += 1
            level = logging.WARNING if self._stats.decode_errors <= _MAX_LOGGED_ERRORS else logging.DEBUG
            logger.log(
                level,
                "%s: undecodable packet at pts %s: %s",
                self._label(),
                getattr(packet, "pts", None),
                _reason(exc),
            )
            return
        for frame in frames:
            if isinstance(frame, av.VideoFrame):
                self._pending.append(frame)

    def _to_frame(self, vf: av.VideoFrame) -> Frame | None:
        """The decoded frame as a ``Frame``; None for one that could not be brought to the host (it
        keeps its number, so the gap shows; logged by ``PictureMaker``: the file is not damaged)."""
        if self._tracker is None:
            raise SourceError(f"{self._label()}: source is not open")
        if vf.is_corrupt:
            self._stats.damaged_frames += 1
        pts = self._tracker.next_seconds(vf.pts, vf.dts, vf.duration or None)
        self._last_pts = pts
        if self._pictures is None:
            # swscale threads like the decoder's: none extra for cameras (1), FFmpeg's choice for files (0)
            self._pictures = PictureMaker(
                self._label(), self._bgr, self._threads, self._decode_target, self._nvdec
            )
        image, surface = self._pictures.picture(vf, _quarter_turns(vf))
        now = time.monotonic()
        index = self._index
        self._index += 1
        self._stats.frames_decoded += 1
        if image is None and surface is None:
            return None
        frame = Frame(self._name, index, pts, now, image, surface=surface)
        if self._resolution is None:
            self._resolution = frame.resolution_wh
        return frame

    def _finish(self) -> None:
        """At end of stream: raise ``DecodeError`` once if anything was lost, else just end."""
        if self._finished:
            return
        self._finished = True
        n = self._stats.frames_decoded
        if self._tracker is not None and self._tracker.repaired:
            logger.info(
                "%s: %d timestamps were missing or out of order and were repaired",
                self._label(),
                self._tracker.repaired,
            )
        if self._is_live:
            if self._demux_failure is not None:
                raise SourceError(f"{self._label()}: stream stopped after {n} frames: {self._demux_failure}")
            return
        detail = self._records.damage(
            n,
            self._packets_read,
            self._stats,
            self._last_pts + (1 / self._nominal_fps if self._nominal_fps else 0.0),
            self._frame_count,
        )
        if detail is None:
            logger.info("%s: end of file after %d frames", self._label(), n)
            return
        if self._demux_failure is not None:
            detail += f" (reading stopped: {self._demux_failure})"
        raise DecodeError(f"{self._label()}: truncated or corrupt video: decoded {n} frames, {detail}")

    def _release(self) -> None:
        container, self._container = self._container, None
        self._packets = None
        self._stream = None
        self._pending.clear()
        if container is not None:
            container.close()

    def _label(self) -> str:
        return redact_uri(self._uri) if self._is_url else str(self._path)


def _quarter_turns(vf: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that display the frame upright (FFmpeg's autorotate)."""
    return round(vf.rotation / 90) % 4 if vf.rotation else 0
