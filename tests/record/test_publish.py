"""Publishing a source's encoded stream to a real RTSP server on loopback (FFmpeg's RTSP server, which
takes ANNOUNCE/RECORD, writing what it receives to a file): the stream arrives and plays, the publisher
reconnects when the server comes back, and the encoder never waits for it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from streamseg.record.publish import Publisher
from streamseg.record.writer import VideoWriter
from streamseg.testing.media import synthetic_frame
from streamseg.testing.rtsp import free_port

FPS = 30


class Receiver:
    """``ffmpeg -rtsp_flags listen``: an RTSP server for one publishing session, saved to ``path``."""

    def __init__(self, port: int, path: Path, mount: str = "live", scheme: str = "rtsp") -> None:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            pytest.fail("ffmpeg is not installed (apt-get install ffmpeg)")
        self.path = path
        listen = ["-rtsp_flags", "listen"] if scheme == "rtsp" else ["-listen", "1"]
        self.proc = subprocess.Popen(
            [ffmpeg, "-loglevel", "error", *listen, "-i", f"{scheme}://127.0.0.1:{port}/{mount}",
             "-c", "copy", "-flush_packets", "1", "-y", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(0.5)  # listening

    def stop(self) -> None:
        """The server goes away (what it received is on disk: MPEG-TS, flushed per packet)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _frames(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(f.pts * stream.time_base) for f in container.decode(stream)]


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


def _feed(writer: VideoWriter, start: int, count: int) -> float:
    """Encode ``count`` frames at the real rate; the longest single write (the encoder never waits)."""
    longest = 0.0
    for i in range(start, start + count):
        began = time.perf_counter()
        writer.write(synthetic_frame(i, 160, 96), i / FPS)
        longest = max(longest, time.perf_counter() - began)
        time.sleep(1 / FPS)
    return longest


def test_published_stream_plays_and_survives_a_server_restart(tmp_path: Path, port: int) -> None:
    url = f"rtsp://user:secret@127.0.0.1:{port}/live"
    first = Receiver(port, tmp_path / "first.ts")
    publisher = Publisher(url, "door", backoff_initial_s=0.2, backoff_max_s=0.5)
    writer = VideoWriter(None, fps_hint=FPS, packets=publisher.packets)
    publisher.attach(writer)
    try:
        _feed(writer, 0, 45)
        assert publisher.state == "connected" and publisher.sent > 20
        first.stop()  # the server goes away
        slowest = _feed(writer, 45, 30)
        assert publisher.state in ("reconnecting", "connecting") and publisher.dropped > 0
        assert slowest < 0.5  # frames for it were dropped; nothing waited on it
        second = Receiver(port, tmp_path / "second.ts")
        _feed(writer, 75, 60)
        assert publisher.state == "connected" and publisher.connects >= 2
        second.stop()
    finally:
        publisher.close()
        writer.close()
        first.stop()
    for name in ("first.ts", "second.ts"):
        times = _frames(tmp_path / name)
        assert len(times) > 15 and times == sorted(times), name
    assert "secret" not in publisher.status()["url"]


def test_rtmp_publishing_arrives(tmp_path: Path, port: int) -> None:
    received = Receiver(port, tmp_path / "rtmp.ts", mount="live/door", scheme="rtmp")
    publisher = Publisher(f"rtmp://127.0.0.1:{port}/live/door", "door", backoff_initial_s=0.2)
    writer = VideoWriter(None, fps_hint=FPS, packets=publisher.packets)
    publisher.attach(writer)
    try:
        _feed(writer, 0, 45)
        assert publisher.state == "connected"
    finally:
        publisher.close()
        writer.close()
        received.stop()
    assert len(_frames(tmp_path / "rtmp.ts")) > 20
