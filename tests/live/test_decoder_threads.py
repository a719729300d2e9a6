"""Camera streams decode on ``live.decoder_threads`` threads: by default one, so no frame threads add
delay or come and go with every reconnect. Against the real RTSP server."""

from __future__ import annotations

import os

import pytest

from streamseg.capture import create_source
from streamseg.config import LiveConfig, SourceConfig
from streamseg.testing.media import native_thread_ids
from streamseg.testing.rtsp import RtspServer

pytestmark = pytest.mark.slow


def _threads_started_while_reading(url: str, live: LiveConfig) -> set[str]:
    before = native_thread_ids()
    source = create_source(SourceConfig(url), live, timeout_s=10)
    try:
        for _ in range(5):
            assert source.read() is not None
        return native_thread_ids() - before
    finally:
        source.close()


def test_one_decoding_thread_by_default(rtsp_server: RtspServer) -> None:
    assert _threads_started_while_reading(rtsp_server.url(0), LiveConfig()) == set()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="FFmpeg picks one thread on one core")
def test_zero_lets_ffmpeg_use_frame_threads(rtsp_server: RtspServer) -> None:
    assert _threads_started_while_reading(rtsp_server.url(0), LiveConfig(decoder_threads=0))
