"""HTTP live streaming through the same PyAV source: ffmpeg writes a live HLS playlist in real time
(``-re``, a paced source), a local HTTP server serves it."""

from __future__ import annotations

import functools
import http.server
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamseg.capture import LiveSource, open_source
from streamseg.config import SourceConfig
from streamseg.testing.media import paced_test_pattern


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hls_url(tmp_path: Path) -> Iterator[str]:
    hls = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-f", "hls"]
    hls += ["-hls_time", "1", "-hls_list_size", "4", "-hls_flags", "delete_segments"]
    producer = paced_test_pattern("320x240", 15, [*hls, str(tmp_path / "live.m3u8")], pattern="testsrc")
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        deadline = time.monotonic() + 15
        while not (tmp_path / "live.m3u8").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        yield f"http://127.0.0.1:{server.server_address[1]}/live.m3u8"
    finally:
        server.shutdown()
        producer.kill()
        producer.wait(timeout=5)


def test_live_hls_is_read_as_a_reconnecting_live_source(hls_url: str) -> None:
    src = open_source(SourceConfig(hls_url))
    try:
        assert isinstance(src, LiveSource) and src.is_live and src.name == "live"
        frames = [src.read() for _ in range(45)]
        assert all(f is not None for f in frames)
        pts = [f.pts for f in frames if f is not None]
        steps = [b - a for a, b in itertools.pairwise(pts)]
        # Segments arrive in bursts; the stream's own 15 fps spacing is kept regardless.
        assert sorted(steps)[len(steps) // 2] == pytest.approx(1 / 15, abs=0.01)
        assert src.health == "live" and src.resolution_wh == (320, 240)
    finally:
        src.close()
