"""A camera decoded with ``--decode gpu`` semantics over real RTSP: NVDEC refuses (no driver here), so
each connection falls back to the CPU with a log line; reconnects keep delivering surfaces."""

from __future__ import annotations

import logging
import time

import pytest
import torch

from streamseg.capture import LiveSource, open_source
from streamseg.config import LiveConfig, SourceConfig
from streamseg.gpu.decode import DecodeTarget
from streamseg.testing.rtsp import RtspServer

pytestmark = pytest.mark.slow


def test_surfaces_survive_a_server_restart(rtsp_server: RtspServer, caplog: pytest.LogCaptureFixture) -> None:
    live = LiveConfig(reconnect_initial_s=0.2, reconnect_max_s=0.5)
    target = DecodeTarget(torch.device("cpu"), nvdec=True)
    with caplog.at_level(logging.WARNING):
        src = open_source(SourceConfig(rtsp_server.url(0)), live, timeout_s=3.0, decode=target)
        assert isinstance(src, LiveSource)
        try:
            first = [src.read() for _ in range(5)]
            rtsp_server.kill()
            time.sleep(1.0)
            rtsp_server.start()
            deadline = time.monotonic() + 20
            after = []
            while len(after) < 5 and time.monotonic() < deadline:
                frame = src.read()
                if frame is not None and src.reconnects >= 1:
                    after.append(frame)
        finally:
            src.close()
    frames = [f for f in first + after if f is not None]
    assert len(frames) == 10 and all(f.on_device for f in frames)
    assert frames[-1].image.shape == (240, 320, 3)
    assert src.reconnects >= 1
    refusals = [r for r in caplog.records if "NVDEC refused" in r.message]
    assert 2 <= len(refusals) <= src.reconnects + 2  # one line per connection
