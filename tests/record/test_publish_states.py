"""Issue 30, item 12: a publisher says ``connected`` only once the server took its packets, a server that
is down costs one log line (not one per try), a server that keeps hanging up is logged at most once per
``log_every_s`` with a count of what was left out, and a server that takes the connection but never
answers does not freeze the run (FFmpeg's handshake holds the GIL)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamseg.record.publish import Publisher, StateLog, server_silence
from streamseg.record.writer import VideoWriter
from streamseg.testing.media import synthetic_frame
from streamseg.testing.rtsp import free_port

FPS = 30
LOGGER = "streamseg.record.publish"

# An RTSP server that takes a publisher's session (ANNOUNCE, SETUP, RECORD), reads a few packets and
# hangs up, every time. Another process: in this one it could not answer while FFmpeg's handshake
# holds the GIL.
HANGS_UP = r"""
import socket, sys, threading
def session(conn):
    f = conn.makefile("rb")
    try:
        while (line := f.readline()):
            method, headers = line.split()[0], {}
            while (h := f.readline().strip()):
                k, _, v = h.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            f.read(int(headers.get("content-length", 0)))
            extra = ""
            if method == b"SETUP":
                extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 1\r\n"
            conn.sendall(f"RTSP/1.0 200 OK\r\nCSeq: {headers.get('cseq', '0')}\r\n{extra}\r\n".encode())
            if method == b"RECORD":
                f.read(600)
                return
    except OSError:
        pass
    finally:
        conn.close()
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(8)
print(sock.getsockname()[1], flush=True)
while True:
    threading.Thread(target=session, args=(sock.accept()[0],), daemon=True).start()
"""


@pytest.fixture
def hangs_up(tmp_path: Path) -> Iterator[int]:
    script = tmp_path / "hangs_up.py"
    script.write_text(HANGS_UP)
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline())
    finally:
        server.kill()
        server.wait(10)


def _publishing(
    url: str, backoff_max_s: float = 0.1, log_every_s: float = 30.0, io_timeout_s: float = 5.0
) -> tuple[Publisher, VideoWriter]:
    publisher = Publisher(
        url,
        "door",
        backoff_initial_s=0.05,
        backoff_max_s=backoff_max_s,
        log_every_s=log_every_s,
        io_timeout_s=io_timeout_s,
    )
    writer = VideoWriter(None, fps_hint=FPS, packets=publisher.packets)
    publisher.attach(writer)
    return publisher, writer


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def test_a_server_that_is_down_is_never_connected_and_costs_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher, writer = _publishing(f"rtsp://127.0.0.1:{free_port()}/live", backoff_max_s=0.5)
    states = set()
    try:
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            for i in range(75):
                writer.write(synthetic_frame(i, 160, 96), i / FPS)
                states.add(publisher.state)
                time.sleep(1 / FPS)
    finally:
        publisher.close()
        writer.close()
    tries = [r for r in caplog.records if r.name == LOGGER and "Connection refused" in r.getMessage()]
    assert 3 <= len(tries) <= 15  # it did try again, with a backoff: not once per frame (75)
    assert states == {"connecting"} and publisher.connects == 0 and publisher.sent == 0
    assert len(_warnings(caplog)) == 1 and "cannot connect (Connection refused)" in _warnings(caplog)[0]


def test_a_server_that_keeps_hanging_up_is_logged_at_most_once_a_second(
    hangs_up: int, caplog: pytest.LogCaptureFixture
) -> None:
    publisher, writer = _publishing(f"rtsp://127.0.0.1:{hangs_up}/live", log_every_s=1.0)
    seen: list[tuple[str, int]] = []
    began = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            i = 0
            while publisher.connects < 5 and time.monotonic() - began < 30:
                writer.write(synthetic_frame(i, 160, 96), i / FPS)
                seen.append((publisher.state, publisher.sent))
                time.sleep(1 / FPS)
                i += 1
    finally:
        publisher.close()
        writer.close()
    elapsed = time.monotonic() - began
    assert publisher.connects >= 5, "the server took fewer sessions than expected"
    assert all(sent > 0 for state, sent in seen if state == "connected")
    lines = _warnings(caplog)  # 5 sessions: 9 state changes
    assert 2 <= len(lines) <= elapsed / 1.0 + 2, lines
    assert any("went away" in line for line in lines)


def test_state_lines_wait_their_turn_and_say_how_many_were_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = StateLog("publish door", 30.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        log.change("went away")
        for t, line in ((1.0, "connected"), (2.0, "went away"), (3.0, "connected")):
            now[0] = t
            log.change(line)
        now[0] = 29.0
        log.flush()
        assert _warnings(caplog) == ["publish door: went away"]
        now[0] = 30.0
        log.flush()
        log.flush()
    assert _warnings(caplog) == [
        "publish door: went away",
        "publish door: connected (2 more state changes in the last 30 s not logged)",
    ]


def test_a_server_that_never_answers_stands_the_run_still_once_at_most() -> None:
    """FFmpeg's RTSP handshake holds the GIL: to a server that took the connection and said nothing,
    every thread of the run stood still for 5 s a try (over RTMP, for good). After the first such try
    the publisher asks the server in Python first, and that question lets the run go on."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    publisher, writer = _publishing(f"rtsp://127.0.0.1:{port}/live", backoff_max_s=0.2, io_timeout_s=2.0)
    stills = []
    try:
        began = last = time.monotonic()
        i = 0
        while last - began < 7.0:
            writer.write(synthetic_frame(i, 160, 96), i / FPS)
            time.sleep(1 / FPS)
            now = time.monotonic()
            if now - last > 1.2:
                stills.append(round(now - last, 1))
            last, i = now, i + 1
        assert publisher.state == "connecting"
    finally:
        publisher.close()
        writer.close()
        silent.close()
    assert len(stills) <= 1, stills  # the first try's, at most (tries were every 0.2 s)


def test_whether_a_server_answers_is_asked_without_ffmpeg(hangs_up: int) -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        assert server_silence(f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x", 0.5) == "timed out"
    finally:
        silent.close()
    assert server_silence(f"rtmp://127.0.0.1:{free_port()}/live", 0.5) == "Connection refused"
    assert server_silence(f"rtsp://u:pw@127.0.0.1:{hangs_up}/live", 0.5) is None  # an RTSP server
    assert server_silence(f"rtmp://127.0.0.1:{hangs_up}/live", 0.5) is not None  # RTSP, not RTMP


def test_the_first_frames_are_published_at_once_however_late_they_come(hangs_up: int) -> None:
    """Waiting for the encoder's first packets is not a backoff: a model that takes seconds to load
    must not leave the stream waiting for a retry that grew meanwhile."""
    publisher, writer = _publishing(f"rtsp://127.0.0.1:{hangs_up}/live", backoff_max_s=10.0)
    try:
        time.sleep(4.0)  # as a backoff, the waits would be at 6 s by now
        for i in range(30):
            writer.write(synthetic_frame(i, 160, 96), i / FPS)
            time.sleep(1 / FPS)
        assert publisher.connects >= 1 and publisher.sent > 0
    finally:
        publisher.close()
        writer.close()
