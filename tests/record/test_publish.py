"""Publishing a source's encoded stream to real servers on loopback: FFmpeg's RTSP server (which takes
ANNOUNCE/RECORD, writing what it receives to a file) and its RTMP listener, Debian's rtsp-server-perl
(publishing over UDP only, relaying to players): the stream arrives and plays, the publisher reconnects
when the server comes back, and the encoder never waits for it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from streamseg.config import Config, OutputConfig
from streamseg.errors import ConfigError
from streamseg.pipeline.publishing import PublishBook
from streamseg.record.publish import Publisher, protocol_missing
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
        url = f"{scheme}://127.0.0.1:{port}/{mount}"
        if scheme == "srt":  # SRT has no path: a listener on the port
            listen, url = [], f"srt://127.0.0.1:{port}?mode=listener"
        self.proc = subprocess.Popen(
            [ffmpeg, "-loglevel", "error", *listen, "-i", url,
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


def test_srt_publishing_arrives_where_ffmpeg_has_srt(tmp_path: Path, port: int) -> None:
    """``--publish srt://server:port`` calls an SRT listener (FFmpeg's, built with libsrt). PyAV's wheels
    have no SRT: there the run refuses it at start, in one line (``tests/cli/test_scene_cli.py``)."""
    if protocol_missing("srt"):
        with pytest.raises(ConfigError, match="no SRT protocol"):
            PublishBook(Config(output=OutputConfig(publish=f"srt://127.0.0.1:{port}")))
        return
    received = Receiver(port, tmp_path / "srt.ts", scheme="srt")
    publisher = Publisher(f"srt://127.0.0.1:{port}", "door", backoff_initial_s=0.2)
    writer = VideoWriter(None, fps_hint=FPS, low_latency=True, packets=publisher.packets)
    publisher.attach(writer)
    try:
        _feed(writer, 0, 60)
        assert publisher.state == "connected"
    finally:
        publisher.close()
        writer.close()
        received.stop()
    times = _frames(tmp_path / "srt.ts")
    assert len(times) > 20 and times == sorted(times)


def test_protocols_pyav_has_are_not_refused() -> None:
    assert not any(protocol_missing(s) for s in ("rtsp", "rtmp", "rtmps"))


def test_rtsp_over_udp_to_a_server_that_takes_only_udp(tmp_path: Path) -> None:
    """Debian's ``rtsp-server-perl`` accepts publishing over UDP only (``--publish-transport udp``);
    what it relays to a player is the published video, timestamps in order."""
    binary = shutil.which("rtsp-server-perl")
    if binary is None:
        pytest.fail("rtsp-server-perl is not installed (apt-get install rtsp-server-perl)")
    players, publishers = free_port(), free_port()
    server = subprocess.Popen(
        [binary, "--clientport", str(players), "--serverport", str(publishers), "--loglevel", "2",
         "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
         "--rtp_start_port", str(free_port())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    publisher = Publisher(f"rtsp://127.0.0.1:{publishers}/door", "door", "udp", backoff_initial_s=0.2)
    writer = VideoWriter(None, fps_hint=FPS, low_latency=True, packets=publisher.packets)
    publisher.attach(writer)
    seen: list[float] = []
    try:
        _wait_listening(publishers)
        _feed(writer, 0, 45)
        while publisher.sent < 20 and writer.frames_written < 300:  # a slow start on a busy machine
            _feed(writer, writer.frames_written, 15)
        assert publisher.state == "connected"
        player = threading.Thread(target=_play, args=(f"rtsp://127.0.0.1:{players}/door", seen), daemon=True)
        player.start()
        _feed(writer, writer.frames_written, 120)
        player.join(10)
    finally:
        publisher.close()
        writer.close()
        server.kill()
        server.wait(10)
    assert len(seen) >= 15 and seen == sorted(seen)


def _wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"rtsp-server-perl did not listen on {port} within {timeout:.0f} s")


def _play(url: str, seen: list[float]) -> None:
    """A player of ``url`` (RTSP over UDP): the times of the frames it decodes in about 2 s."""
    with av.open(url, options={"rtsp_transport": "udp", "timeout": "5000000"}) as container:
        stream = container.streams.video[0]
        began = time.monotonic()
        for frame in container.decode(stream):
            if frame.pts is not None:
                seen.append(float(frame.pts * stream.time_base))
            if time.monotonic() - began > 2:
                return
