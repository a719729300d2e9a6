"""``--publish URL``: a source's annotated video pushed to a media server (RTSP ANNOUNCE/RECORD, RTMP,
SRT caller), cut from the source's one encode: no second encoder.

The encoder hands every packet to ``packets`` (its thread, never blocked: a bounded queue). A thread of
the publisher's own connects, sends from a keyframe on, and when the server goes away closes, waits
(backoff) and connects again. While it is not connected, packets are dropped and counted: a server that
is down never holds up the pipeline, and after a reconnect the stream starts again at a keyframe.
SPS/PPS go in-band before every keyframe, so a server (or a player) that joins mid-stream can decode.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections import deque
from fractions import Fraction
from typing import Any

import av

from streamseg.config.publish import PUBLISH_FORMATS
from streamseg.record.packets import EncodedPacket
from streamseg.record.writer import TIME_BASE, VideoWriter
from streamseg.redact import redact_uri

logger = logging.getLogger(__name__)

QUEUE_PACKETS = 120  # about 4 s at 30 fps: a slow server loses the oldest, never the pipeline's time
IO_TIMEOUT_US = 5_000_000  # a server that stops answering is given up on after 5 s


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
    ) -> None:
        self.url = url
        self.shown = redact_uri(url)
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
        self._warned = False
        self._thread = threading.Thread(target=self._run, name=f"publish-{source}", daemon=True)
        self._thread.start()

    def attach(self, writer: VideoWriter) -> None:
        """The encoder whose stream (codec parameters) the published stream copies."""
        self._writer = writer

    def packets(self, packets: list[EncodedPacket]) -> None:
        """From the encoder's thread: queued (bounded) while connected or connecting for the first time;
        dropped (counted) while the server is away."""
        with self._cond:
            if self.state != "connected" and self.connects:
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
            output = self._connect()
            if output is not None:
                delay = self._backoff[0]
                self._send(*output)
            if self._stopping:
                break
            self.state = "reconnecting" if self.connects else "connecting"
            with self._cond:
                self._cond.wait(delay * random.uniform(0.8, 1.2))
            delay = min(self._backoff[1], delay * 2)

    def _connect(self) -> tuple[Any, Any, bytes] | None:
        writer = self._writer
        stream = writer.stream if writer is not None else None
        if stream is None:
            return None  # no frame encoded yet: nothing to copy the stream from
        options: dict[str, str] = {}  # only what the muxer takes (PyAV warns about the rest)
        if self._format == "rtsp":
            options = {"rtsp_transport": self.transport, "timeout": str(IO_TIMEOUT_US)}
        try:
            container = av.open(self.url, mode="w", format=self._format, options=options)
            out = container.add_stream_from_template(stream)
            out.time_base = TIME_BASE
        except (OSError, av.FFmpegError) as exc:
            self._warn(f"cannot connect ({_reason(exc)})")
            return None
        with self._cond:
            if self.connects:  # after an outage: start from now, not from what waited
                self._queue.clear()
            self.state = "connected"
        self.connects += 1
        if self._warned or self.connects > 1:
            logger.warning("publish %s: connected to %s", self.source, self.shown)
        self._warned = False
        extradata = bytes(stream.codec_context.extradata or b"")
        return container, out, extradata

    def _send(self, container: Any, out: Any, extradata: bytes) -> None:
        """Until the server goes away or the publisher stops: packets from the first keyframe on."""
        start: int | None = None
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stopping:
                        self._cond.wait(0.5)
                    if self._stopping:
                        return
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
                container.mux(sent)
                self.sent += 1
        except (OSError, av.FFmpegError) as exc:
            self._warn(f"the server went away ({_reason(exc)})")
        finally:
            with self._cond:
                if self.state == "connected":
                    self.state = "reconnecting"
                self.dropped += len(self._queue)
                self._queue.clear()
            try:
                container.close()
            except (OSError, av.FFmpegError):
                logger.debug("publish %s: closing after an error failed too", self.source)

    def _warn(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "publish %s: %s: %s; retrying in the background, frames for it are dropped meanwhile",
                self.source, self.shown, what,
            )  # fmt: skip


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
