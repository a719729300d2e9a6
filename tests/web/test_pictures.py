"""The JPEG routes: an MJPEG viewer that stops reading is dropped at the write deadline instead of
holding its connection (and the JPEG it was being sent) for as long as it stays (issue 30, item 1's
twin on ``/stream/<source>``)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from streamseg.types import Frame, InstanceMasks, SegResult
from streamseg.web.connections import ConnectionLimits
from streamseg.web.preview import PreviewEncoder, PreviewSink
from streamseg.web.server import DashboardServer
from tests.web.test_server import TOKEN, _server

TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # Linux's TCP states after a reset, and after the peer's FIN


def _noise(sink: PreviewSink, stop: threading.Event) -> None:
    """The render thread's side: noisy pictures (large JPEGs), ten a second."""
    rng = np.random.default_rng(0)
    empty = InstanceMasks((), np.zeros((0, 2), np.int32), (360, 640))
    i = 0
    while not stop.is_set():
        frame = Frame("cam", i, i / 10, time.monotonic(), rng.integers(0, 255, (360, 640, 3), np.uint8))
        result = SegResult(
            frame, np.zeros((0, 4), np.float32), np.zeros(0, int), np.zeros(0, np.float32), empty, ()
        )
        sink.write(result, None)
        i += 1
        time.sleep(0.1)


def _ended_by_server(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] in (TCP_CLOSE, TCP_CLOSE_WAIT)


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)
    return condition()


def test_an_mjpeg_viewer_that_never_reads_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    template = _server("127.0.0.1", TOKEN, ("cam",))
    sink = PreviewSink()
    encoder = PreviewEncoder(sink, None, max_fps=10)
    limits = ConnectionLimits(write_deadline_s=1.0)
    parts = (template._status, encoder, template._metrics, 10)
    server = DashboardServer(template.address, TOKEN, *parts, limits=limits).start()
    stop = threading.Event()
    feeder = threading.Thread(target=_noise, args=(sink, stop), daemon=True)
    feeder.start()
    viewer = socket.socket()
    viewer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        with caplog.at_level(logging.DEBUG):
            viewer.connect(("127.0.0.1", server.port))
            head = f"GET /stream/cam HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            viewer.sendall(head.encode())
            assert viewer.recv(12) == b"HTTP/1.1 200"  # then it never reads again
            assert _wait_for(lambda: _ended_by_server(viewer))
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    finally:
        viewer.close()
        stop.set()
        feeder.join(5)
        server.stop()
