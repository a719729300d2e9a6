"""Recording annotated frames to a browser-playable H.264 MP4 that survives the process being killed.

* Fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``): the header is written up front and
  every fragment is self-contained, so a killed process leaves a file that plays up to its last complete
  fragment. ``frag_duration`` caps a fragment at ``fragment_seconds`` and ``flush_packets`` hands each
  finished fragment to the OS at once, so a kill loses about one fragment plus the encoder's lookahead.
  (``+faststart`` needs a rewrite at the end, which is exactly what a kill prevents.)
* Timestamps are the source's: ``write(image, pts_seconds)`` sets ``frame.pts`` in a 1/90000 time base,
  so variable-frame-rate input plays at real speed. No B-frames, so decoded timestamps equal the written
  ones (fragmented MP4 has no edit list to hide a B-frame delay) and the encoder holds fewer frames.
* H.264 yuv420p needs even dimensions: an odd last row/column is dropped (one invisible pixel line,
  and a view instead of a 2.7 MB padded copy).
* ``segment_seconds`` (``--segment 10m``) splits the recording into consecutive files cut by presentation
  time (for live sources, wall-clock time): ``out_000.mp4``, ``out_001.mp4`` ..., each starting at t=0
  with a keyframe and playable on its own. One encoder serves every file: the frame that starts a file is
  forced to be an IDR frame and the file is switched when its packet comes out, so rotating costs no
  encoder restart. (A fresh x264 per file left RSS ~1 MiB higher per camera per rotation, fragmentation
  that a week of 10-minute files would turn into hundreds of MiB.) A reconnect does not start a new
  file; the outage shows as a gap inside the current one.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
from av.video.frame import PictureType

from streamseg.config import OutputConfig, parse_duration
from streamseg.config.names import file_in
from streamseg.errors import OutputError
from streamseg.record.encoders import NVENC, X264, encoder_options
from streamseg.record.packets import EncodedPacket
from streamseg.redact import safe_name
from streamseg.types import UInt8Array
from streamseg.util.closing import ClosesOnExit

logger = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90000)  # the MPEG clock: fine enough for any real frame rate, exact for 24/25/30/60
_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_AVCOL_SPC_SMPTE170M = 6  # cv2's BGR->I420 uses BT.601 coefficients; tag them so players decode it right
_RESTART_SECONDS = 1.0  # a pts this far behind the last one means the source restarted, not jitter
_AVCOL_RANGE_MPEG = 1  # limited (16-235) range, which is what cv2 produces


def record_path_for(base: str, source_name: str, n_sources: int) -> Path:
    """``out.mp4`` for one source; ``out_<slug>.mp4`` per source when there are several (the name's
    slug, as its clips and snapshots folders: ``кухня`` and ``двор`` get a file each), checked to stay
    in ``out.mp4``'s folder."""
    path = Path(base)
    if n_sources <= 1:
        return path
    return file_in(path.parent, f"{path.stem}_{safe_name(source_name) or 'source'}{path.suffix or '.mp4'}")


def segment_path(base: Path, index: int) -> Path:
    """``out.mp4`` -> ``out_000.mp4``, ``out_001.mp4`` ... for ``--segment``, in ``out.mp4``'s folder."""
    return file_in(base.parent, f"{base.stem}_{index:03d}{base.suffix or '.mp4'}")


class VideoWriter(ClosesOnExit):
    """H.264 MP4 writer fed BGR frames with source timestamps; use as a context manager or call ``close()``.

    The stream is created on the first ``write`` (its size is the first frame's, rounded down to even);
    later frames of another size are resized to it. ``fps_hint`` is only the rough source rate, used for
    the keyframe interval (about one second) and rate control, never for timestamps. With
    ``segment_seconds`` the files are ``segment_path(path, n)``; ``paths`` lists those written so far.
    ``path=None`` encodes without writing a file, for ``packets`` alone; ``packets(list)`` is handed a
    copy of every packet as it comes out of the encoder (on the encoding thread).
    """

    def __init__(
        self,
        path: str | Path | None,
        fps_hint: float | None = None,
        crf: int = 23,
        preset: str = "veryfast",
        fragment_seconds: float = 1.0,
        low_latency: bool = False,
        segment_seconds: float | None = None,
        codec: str = X264,
        threads: int = 0,
        packets: Callable[[list[EncodedPacket]], None] | None = None,
    ) -> None:
        """``codec``: ``libx264`` or ``h264_nvenc`` (see ``record.encoders``); ``threads``: x264's
        threads for this file (0: x264's own choice; set when many sources share the cores)."""
        if codec not in (X264, NVENC):
            raise ValueError(f"codec must be {X264} or {NVENC}, got {codec!r}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be between 0 and 51, got {crf}")
        if fragment_seconds <= 0:
            raise ValueError(f"fragment_seconds must be > 0, got {fragment_seconds}")
        if segment_seconds is not None and segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be > 0, got {segment_seconds}")
        self._base = Path(path) if path is not None else None
        self._packets = packets
        rate = fps_hint if fps_hint is not None and math.isfinite(fps_hint) and fps_hint > 0 else 30.0
        self._rate = Fraction(rate).limit_denominator(1001)
        self._gop = max(1, round(rate))
        self._crf = int(crf)
        self._preset = preset
        self._fragment_us = max(1, round(fragment_seconds * 1_000_000))
        # Live sources: no lookahead and no frame-thread delay, so a kill -9 loses at most one fragment.
        self._low_latency = low_latency
        self._codec = codec
        self._threads = max(0, int(threads))
        self.frames_written = 0
        self.pts_fixups = 0  # frames whose pts did not increase and were bumped by one tick
        self.pts_restarts = 0  # big backward jumps (source restarted) that re-based the clock
        self.resized_frames = 0
        self._first_pts: float | None = None
        self._last_ticks = -1
        self._size_wh: tuple[int, int] | None = None
        self._closed = False
        self._encoder: Any = None  # created with the first frame, when the size is known; outlives files
        self._stream: Any = None  # the current file's video stream
        self._segment_ticks = round(segment_seconds * TIME_BASE.denominator) if segment_seconds else None
        self._segment_start = 0  # encoder ticks at which the newest file (maybe still pending) starts
        self._captured: deque[float | None] = deque()  # capture times of frames still in the encoder
        self._switch_points: deque[int] = deque()  # forced IDRs still inside the encoder: files to start
        self._offset = 0  # encoder ticks subtracted in the current file, so each file starts at t=0
        self.paths: list[Path] = []
        self._container: Any = self._open_file()  # now, so a bad folder fails at start-up

    @property
    def path(self) -> Path:
        """The file being written now (the last of ``paths``; the null device when there is no file)."""
        return self.paths[-1] if self.paths else Path(os.devnull)

    @classmethod
    def from_config(
        cls,
        path: str | Path | None,
        output: OutputConfig,
        fps_hint: float | None = None,
        low_latency: bool = False,
        codec: str = X264,
        threads: int = 0,
        packets: Callable[[list[EncodedPacket]], None] | None = None,
    ) -> VideoWriter:
        """The writer the CLI/pipeline wants: crf, preset and ``--segment`` from ``OutputConfig``."""
        segment_s = parse_duration(output.segment, "output.segment") if output.segment else None
        return cls(
            path,
            fps_hint=fps_hint,
            crf=output.crf,
            preset=output.preset,
            low_latency=low_latency,
            segment_seconds=segment_s,
            codec=codec,
            threads=threads,
            packets=packets,
        )

    @property
    def size_wh(self) -> tuple[int, int] | None:
        """Encoded (width, height); ``None`` until the first frame."""
        return self._size_wh

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, image: UInt8Array, pts_seconds: float, captured: float | None = None) -> None:
        """Encode one BGR frame shown at ``pts_seconds`` (source clock; the first frame written is t=0);
        ``captured``: its capture time (``time.monotonic()``), handed on with its packet."""
        self._check_open()
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
        size = self._size_wh or self._open_stream(int(image.shape[1]), int(image.shape[0]))
        yuv = cast(UInt8Array, cv2.cvtColor(self._fit(image, size), cv2.COLOR_BGR2YUV_I420))
        self._encode(yuv, pts_seconds, captured)

    def write_i420(self, yuv: UInt8Array, pts_seconds: float, captured: float | None = None) -> None:
        """Encode one planar yuv420p frame ((H * 3 / 2, W), H and W even), as the GPU path hands it over:
        no colour conversion on the CPU."""
        self._check_open()
        if yuv.ndim != 2 or yuv.dtype != np.uint8 or yuv.shape[0] % 3 or yuv.shape[1] % 2:
            raise ValueError(f"yuv420p must be (H * 3 / 2, W) uint8, got {yuv.shape} {yuv.dtype}")
        height, width = yuv.shape[0] * 2 // 3, int(yuv.shape[1])
        size = self._size_wh or self._open_stream(width, height)
        if size != (width, height):  # the source changed size mid-stream: rare, convert and resize
            bgr = cast(UInt8Array, cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420))
            yuv = cast(UInt8Array, cv2.cvtColor(self._fit(bgr, size), cv2.COLOR_BGR2YUV_I420))
        self._encode(yuv, pts_seconds, captured)

    def _check_open(self) -> None:
        if self._closed:
            raise OutputError(f"recording {self.path} is already closed")

    def _encode(self, yuv: UInt8Array, pts_seconds: float, captured: float | None) -> None:
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        self._captured.append(captured)  # no B-frames: packets come out in frame order, one each
        frame.pts = ticks = self._ticks(pts_seconds)
        frame.time_base = TIME_BASE
        if self._starts_next_file(ticks):
            frame.pict_type = PictureType.I  # with forced-idr: an IDR frame the next file can start with
        try:
            self._mux(self._encoder.encode(frame))
        except (OSError, av.FFmpegError) as exc:
            raise OutputError(f"cannot write recording {self.path}: {_reason(exc)}") from None
        self.frames_written += 1

    def close(self) -> None:
        """Drain the encoder and finish the file. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        error: BaseException | None = None
        try:
            if self._encoder is not None:
                self._mux(self._encoder.encode(None))
        except (OSError, av.FFmpegError, OutputError) as exc:  # OutputError: the next file would not open
            error = exc
        try:
            self._container.close()
        except (OSError, av.FFmpegError) as exc:
            error = error or exc
        if self._base is None:
            pass  # no file: nothing to remove or report
        elif self.frames_written == 0:
            # Nothing was encoded, so there is no valid MP4 to keep; do not leave a 0-byte "recording".
            self.path.unlink(missing_ok=True)
            logger.warning("no frames were recorded; removed empty %s", self.path)
        elif self.pts_fixups:
            logger.warning("%s: %d frame(s) had non-increasing timestamps", self.path, self.pts_fixups)
        if isinstance(error, OutputError):
            raise error
        if error is not None:
            raise OutputError(f"cannot finish recording {self.path}: {_reason(error)}") from None
        logger.debug("closed %s after %d frames", self.path, self.frames_written)

    def _open_stream(self, width: int, height: int) -> tuple[int, int]:
        even_w, even_h = width - width % 2, height - height % 2
        if even_w < 2 or even_h < 2:
            raise ValueError(f"frame too small to encode: {width}x{height}")
        if (even_w, even_h) != (width, height):
            logger.info("%s: odd frame size %dx%d, recording %dx%d", self.path, width, height, even_w, even_h)
        stream = self._container.add_stream(self._codec, rate=self._rate)
        stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
        stream.time_base = TIME_BASE
        ctx = stream.codec_context
        ctx.time_base = TIME_BASE
        ctx.gop_size = self._gop
        ctx.colorspace = _AVCOL_SPC_SMPTE170M
        ctx.color_range = _AVCOL_RANGE_MPEG
        if self._base is None:  # no MP4 muxer to ask for it: SPS/PPS out of band, as a clip's MP4 needs
            ctx.flags |= av.codec.context.Flags.global_header
        options = encoder_options(self._codec, self._crf, self._preset, self._low_latency, self._threads)
        if self._segment_ticks is not None:
            options["forced-idr"] = "1"  # a forced keyframe is an IDR frame: each file decodes on its own
        stream.options = options
        self._stream, self._encoder = stream, ctx
        self._size_wh = (even_w, even_h)
        return self._size_wh

    # -- files ------------------------------------------------------------------------------------

    def _open_file(self) -> Any:
        """The next output file, opened now. PyAV only creates a file when the header is written, so it
        is created here first: a bad directory or missing permission is reported at once."""
        if self._base is None:
            return av.open(os.devnull, mode="w", format="null")  # fills the stream's codec parameters
        path = segment_path(self._base, len(self.paths)) if self._segment_ticks else self._base
        try:
            with path.open("wb"):
                pass
            container = av.open(
                str(path),
                mode="w",
                format="mp4",
                options={
                    "movflags": _MOVFLAGS,
                    "frag_duration": str(self._fragment_us),
                    "flush_packets": "1",
                },
            )
        except (OSError, av.FFmpegError) as exc:
            raise OutputError(f"cannot write recording {path}: {_reason(exc)}") from None
        self.paths.append(path)
        return container

    def _starts_next_file(self, ticks: int) -> bool:
        """True for the frame that opens the next segment file (it must be encoded as a keyframe)."""
        if self._segment_ticks is None or ticks - self._segment_start < self._segment_ticks:
            return False
        self._segment_start = ticks
        self._switch_points.append(ticks)
        return True

    def _mux(self, packets: list[Any]) -> None:
        """Write encoded packets, switching files at the forced keyframe (after the encoder's delay)."""
        captured = [self._captured.popleft() if self._captured else None for _ in packets]
        copies = []
        if self._packets is not None:
            copies = [EncodedPacket.copy_of(p, c) for p, c in zip(packets, captured, strict=True)]
        for packet in packets:
            if self._switch_points and packet.is_keyframe and packet.pts >= self._switch_points[0]:
                self._switch_file(packet.pts)
                self._switch_points.popleft()
            if self._offset:
                packet.pts -= self._offset
                if packet.dts is not None:
                    packet.dts -= self._offset
            packet.stream = self._stream
            self._container.mux(packet)
        if copies and self._packets is not None:
            self._packets(copies)

    @property
    def stream(self) -> Any:
        """The encoder's stream (its codec parameters: a template for clips), None before the first frame."""
        return self._stream

    def ticks_for(self, pts_seconds: float) -> int | None:
        """Encoder ticks of a source time (None before the first frame)."""
        if self._first_pts is None:
            return None
        return round((pts_seconds - self._first_pts) * TIME_BASE.denominator)

    def _switch_file(self, start_ticks: int) -> None:
        container = self._open_file()
        stream = container.add_stream_from_template(self._stream)  # the same codec parameters
        old, self._container, self._stream, self._offset = self._container, container, stream, start_ticks
        old.close()
        logger.info("recording continues in %s", self.path)

    def _fit(self, image: UInt8Array, size_wh: tuple[int, int]) -> UInt8Array:
        """The frame at the recording's size: an even-cropped view, or a resize if the source changed size."""
        w, h = size_wh
        if image.shape[1] - image.shape[1] % 2 == w and image.shape[0] - image.shape[0] % 2 == h:
            return image[:h, :w]
        if self.resized_frames == 0:
            logger.warning(
                "%s: frame size changed to %dx%d, resizing to %dx%d",
                self.path,
                image.shape[1],
                image.shape[0],
                w,
                h,
            )
        self.resized_frames += 1
        return cast(UInt8Array, cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA))

    def _ticks(self, pts_seconds: float) -> int:
        """Source seconds -> 1/90000 ticks from the first frame, forced strictly increasing.

        A small step back (duplicate or jittered pts) moves the frame one tick past the previous one. A
        jump back of more than ``_RESTART_SECONDS`` is a source restart (reconnect, looped file): the
        clock is re-based so the frame follows the previous one by a nominal frame time and the rest keep
        their real spacing, instead of every later frame being squeezed one tick apart.
        """
        if self._first_pts is None and math.isfinite(pts_seconds):
            self._first_pts = pts_seconds
        start = self._first_pts if self._first_pts is not None else 0.0
        ticks = round((pts_seconds - start) * TIME_BASE.denominator) if math.isfinite(pts_seconds) else -1
        if ticks <= self._last_ticks - _RESTART_SECONDS * TIME_BASE.denominator and math.isfinite(
            pts_seconds
        ):
            nominal = round(TIME_BASE.denominator / self._rate)
            self._first_pts = pts_seconds - (self._last_ticks + nominal) / TIME_BASE.denominator
            self.pts_restarts += 1
            logger.warning(
                "%s: timestamp jumped back from %.3f s to %.3f s; treating it as a source restart",
                self.path,
                self._last_ticks / TIME_BASE.denominator + start,
                pts_seconds,
            )
            ticks = self._last_ticks + nominal
        elif ticks <= self._last_ticks:
            if self.pts_fixups == 0:
                logger.warning(
                    "%s: non-increasing timestamp %.6f s after %.6f s; nudging it forward",
                    self.path,
                    pts_seconds,
                    self._last_ticks / TIME_BASE.denominator + start,
                )
            self.pts_fixups += 1
            ticks = self._last_ticks + 1
        self._last_ticks = ticks
        return ticks


def _reason(exc: BaseException) -> str:
    """The OS/FFmpeg message without the errno prefix, e.g. 'Permission denied'."""
    return str(getattr(exc, "strerror", None) or exc).strip() or type(exc).__name__
