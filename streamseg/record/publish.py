"""``--publish URL``: a source's annotated video pushed to a media server (RTSP ANNOUNCE/RECORD, RTMP,
SRT caller), cut from the source's one encode: no second encoder.

The encoder hands every packet to ``packets`` (its thread, never blocked: a bounded queue). A thread of
the publisher's own connects, sends from a keyframe on, and when the server goes away closes, waits
(backoff) and connects again. While it is not connected, packets are dropped and counted: a server that
is down never holds up the pipeline, and after a reconnect the stream starts again at a keyframe.
SPS/PPS go in-band before every keyframe, so a server (or a player) that joins mid-stream can decode.

A publisher is ``connected`` once the server took its first packet, not when the socket opened: an RTSP
muxer opens without a word to the server, so a server that was down read "connected" and logged
"connected"/"went away" 1,800 times in 12 minutes. The backoff starts over only after packets flowed,
and state lines are rate-limited (``StateLog``).

FFmpeg's RTSP handshake and RTMP connect hold the GIL: a server that took the connection and said
nothing froze every thread of the run, 5 s a try over RTSP and for good over RTMP. No FFmpeg wait is
longer than ``io_timeout_s`` now, and once a try stood the run still, every next one first asks in
Python, whose waits let the other threads run, whether the server answers its protocol's opening words
(``server_silence``). Not before: a server that takes one session (``ffmpeg -rtsp_flags listen``) would
spend it on the question.
"""

from __future__ import annotations

import functools
import logging
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import av

from streamseg.config.publish import PUBLISH_FORMATS
from streamseg.record.packets import EncodedPacket
from streamseg.record.writer import TIME_BASE, VideoWriter
from streamseg.redact import redact_url

logger = logging.getLogger(__name__)

QUEUE_PACKETS = 120  # about 4 s at 30 fps: a slow server loses the oldest, never the pipeline's time
IO_TIMEOUT_S = 5.0  # a server that stops answering is given up on after 5 s
STOOD_STILL_S = 1.0  # a failed handshake this long held the GIL: ask the server in Python from then on
LOG_EVERY_S = 30.0  # one state line per publisher at most this often; the changes between are counted


class Publisher:
    """Pushes one source's packets to ``url``; ``state``: connecting, connected, reconnecting, closed."""

    def __init__(
        self,
        url: str,
        source: str,
        transport: str = "tcp",
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        queue_packets: int = QUEUE_PACKETS,
        log_every_s: float = LOG_EVERY_S,
        io_timeout_s: float = IO_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.shown = redact_url(url)  # user names, query values, stream keys: every secret-looking part
        self.source = source
        self.transport = transport
        self.state = "connecting"
        self.sent = 0
        self.dropped = 0
        self.connects = 0
        self._format = PUBLISH_FORMATS[url.split(":", 1)[0].lower()]
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._queue: deque[EncodedPacket] = deque(maxlen=queue_packets)
        self._cond = threading.Condition()
        self._stopping = False
        self._writer: VideoWriter | None = None
        self._open = False  # a connection is being made or used: packets are queued for it
        self._away = False  # the last state line said it is not connected
        self._log = StateLog(f"publish {source}", log_every_s)
        self._io_timeout_s = io_timeout_s
        self._wary = False  # a handshake stood the run still: ask the server first, until packets flow
        self._thread = threading.Thread(target=self._run, name=f"publish-{source}", daemon=True)
        self._thread.start()

    def attach(self, writer: VideoWriter) -> None:
        """The encoder whose stream (codec parameters) the published stream copies."""
        self._writer = writer

    def packets(self, packets: list[EncodedPacket]) -> None:
        """From the encoder's thread: queued (bounded) while a connection is open or before the first
        one; dropped (counted) while the server is away."""
        with self._cond:
            if not self._open and self.connects:
                self.dropped += len(packets)
                return
            overflow = max(0, len(self._queue) + len(packets) - (self._queue.maxlen or 0))
            self.dropped += overflow
            self._queue.extend(packets)
            self._cond.notify()

    def close(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self.state = "closed"

    def status(self) -> dict[str, Any]:
        return {
            "url": self.shown,
            "state": self.state,
            "sent": self.sent,
            "dropped": self.dropped,
            "connects": self.connects,
        }

    # ------------------------------------------------------------------------------------------ worker
    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stopping:
            writer = self._writer
            if writer is None or writer.stream is None:  # nothing encoded yet: wait for the first packets
                with self._cond:
                    self._cond.wait(0.5)
                continue
            output = self._connect()
            if output is not None and self._send(*output):
                delay = self._backoff[0]  # packets flowed: the next outage starts from a short wait
                self._wary = False
            if self._stopping:
                break
            self.state = "reconnecting" if self.connects else "connecting"
            self._log.flush()
            self._pause(delay * random.uniform(0.8, 1.2))
            delay = min(self._backoff[1], delay * 2)

    def _pause(self, seconds: float) -> None:
        """The backoff: only ``close`` cuts it short, not the packets that notify the same condition
        (they would have a server that is down tried at the frame rate)."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._stopping and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)

    def _connect(self) -> tuple[Any, Any, bytes] | None:
        writer = self._writer
        stream = writer.stream if writer is not None else None
        if stream is None:
            return None  # no frame encoded yet: nothing to copy the stream from
        silence = server_silence(self.url, self._io_timeout_s) if self._wary else None
        if silence is not None:
            self._failed(f"cannot connect ({silence})")
            return None
        # only what the muxer and its protocol take (PyAV warns about the rest)
        micros = str(round(self._io_timeout_s * 1e6))
        options = {"rw_timeout": micros} if self._format == "flv" else {}
        if self._format == "rtsp":
            options = {"rtsp_transport": self.transport, "timeout": micros}
        try:
            container = av.open(self.url, mode="w", format=self._format, options=options)
            out = container.add_stream_from_template(stream)
            out.time_base = TIME_BASE
        except (OSError, av.FFmpegError) as exc:
            self._failed(f"cannot connect ({_reason(exc)})")
            return None
        with self._cond:
            if self.connects:  # after an outage: start from now, not from what waited
                self._queue.clear()
            self._open = True
        extradata = bytes(stream.codec_context.extradata or b"")
        return container, out, extradata

    def _send(self, container: Any, out: Any, extradata: bytes) -> bool:
        """Until the server goes away or the publisher stops: packets from the first keyframe on. True
        when the server took at least one (it was connected)."""
        start: int | None = None
        flowing = False
        muxing = 0.0
        try:
            while True:
                self._log.flush()
                with self._cond:
                    while not self._queue and not self._stopping:
                        self._cond.wait(0.5)
                    if self._stopping:
                        return flowing
                    packet = self._queue.popleft()
                if start is None:
                    if not packet.keyframe:
                        self.dropped += 1
                        continue
                    start = packet.pts
                data = extradata + packet.data if packet.keyframe else packet.data
                sent = av.Packet(data)
                sent.pts, sent.dts = packet.pts - start, packet.dts - start
                sent.time_base = Fraction(TIME_BASE)
                sent.is_keyframe = packet.keyframe
                sent.stream = out
                muxing = time.monotonic()
                container.mux(sent)  # the first one connects (RTMP) and is answered (RTSP's RECORD)
                self.sent += 1
                if not flowing:
                    flowing = True
                    self._connected()
        except (OSError, av.FFmpegError) as exc:
            self._failed(f"{'the server went away' if flowing else 'cannot connect'} ({_reason(exc)})")
            if not flowing and time.monotonic() - muxing >= STOOD_STILL_S:
                self._wary = True
        finally:
            with self._cond:
                self._open = False
                if self.state == "connected":
                    self.state = "reconnecting"
                self.dropped += len(self._queue)
                self._queue.clear()
            try:
                container.close()
            except (OSError, av.FFmpegError):
                logger.debug("publish %s: closing after an error failed too", self.source)
        return flowing

    def _connected(self) -> None:
        with self._cond:
            self.state = "connected"
        self.connects += 1
        if self._away:
            self._away = False
            self._log.change(f"connected to {self.shown}")

    def _failed(self, what: str) -> None:
        if self._away:  # still away: not a change
            logger.debug("publish %s: %s", self.source, what)
            return
        self._away = True
        self._log.change(
            f"{self.shown}: {what}; retrying in the background, frames for it are dropped meanwhile"
        )


class StateLog:
    """A publisher's state changes as warning lines, at most one per ``every_s``: a change within that
    time waits, replaced by any later one and counted, and is logged once the time is up (``flush``), so
    the last line always tells the state now. Used from the publisher's own thread only."""

    def __init__(self, prefix: str, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._prefix = prefix
        self._every_s = every_s
        self._clock = clock
        self._last_at: float | None = None
        self._pending: str | None = None
        self._skipped = 0  # changes replaced by a later one before they were logged

    def change(self, line: str) -> None:
        if self._pending is not None:
            self._skipped += 1
        self._pending = line
        self.flush()

    def flush(self) -> None:
        """Log the waiting change when its time has come."""
        now = self._clock()
        line = self._pending
        if line is None or (self._last_at is not None and now - self._last_at < self._every_s):
            return
        if self._skipped:
            since = now - self._last_at if self._last_at is not None else 0.0
            line += f" ({self._skipped} more state changes in the last {since:.0f} s not logged)"
        logger.warning("%s: %s", self._prefix, line)
        self._last_at, self._pending, self._skipped = now, None, 0


# The port a URL without one means, and the first words its server must answer.
_GREETINGS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443}
_RTMP_C0_C1 = b"\x03" + bytes(1536)  # version 3, then C1: time 0, zeros (the plain handshake)


def server_silence(url: str, timeout_s: float) -> str | None:
    """Why the server of ``url`` would leave FFmpeg waiting (refused, silent, not its protocol), or None
    when it answers: an RTSP reply to OPTIONS, an RTMP server's S0. SRT is left to FFmpeg."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _GREETINGS:
        return None
    host = parts.hostname or ""
    try:
        port = parts.port or _GREETINGS[scheme]
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            conn = _tls(raw, host) if scheme.endswith("s") else raw
            if scheme.startswith("rtsp"):
                conn.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: streamseg\r\n\r\n")
                expected = b"RTSP/"
            else:
                conn.sendall(_RTMP_C0_C1)
                expected = b"\x03"
            got = b""
            while len(got) < len(expected) and (chunk := conn.recv(len(expected) - len(got))):
                got += chunk
    except (OSError, ValueError) as exc:  # socket.timeout is an OSError
        return _reason(exc)
    if got != expected:
        return "it did not answer as an RTSP server" if scheme.startswith("rtsp") else "not an RTMP server"
    return None


def _tls(raw: socket.socket, host: str) -> ssl.SSLSocket:
    """TLS as FFmpeg does it by default: encrypted, the certificate not verified (only asked if it
    answers; FFmpeg makes the connection that carries the video)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(raw, server_hostname=host or None)


@functools.cache
def protocol_missing(scheme: str) -> bool:
    """Whether the FFmpeg inside PyAV lacks ``scheme``'s protocol (PyAV's wheels have no libsrt, so no
    ``srt://``): asked once, by opening a loopback port nothing serves (port 9, "discard")."""
    try:
        av.open(f"{scheme}://127.0.0.1:9", timeout=1).close()
    except av.ProtocolNotFoundError:
        return True
    except (OSError, av.FFmpegError):
        return False
    return False


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc).strip() or type(exc).__name__
