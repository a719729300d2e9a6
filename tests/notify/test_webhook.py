"""WebhookSink against a real HTTP server: retries in order through 5xx, 408, 429 and timeouts, drops
what a 4xx refuses, waits out a receiver that is down at start, and never stalls ``send``."""

from __future__ import annotations

import base64
import logging
import socket
import time

import pytest

from streamseg.notify import WebhookSink

from .helpers import Receiver, free_port, wait_until

FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.1}


def event(i: int) -> dict[str, object]:
    return {"type": "crossed", "source": "gate", "pts": float(i), "track_id": i, "xyxy": [1, 2, 3, 4]}


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "streamseg.notify.webhook" and r.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize("status", [503, 500, 408, 429])
def test_retryable_answers_are_retried_and_everything_arrives_in_order(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver([status] * 3)
    sink = WebhookSink(receiver.url, **FAST)
    try:
        for i in range(5):
            sink.send(event(i))
        wait_until(lambda: sink.delivered == 5)
        assert receiver.bodies == [event(i) for i in range(5)]
        assert receiver.requests == 8 and sink.dropped == 0 and sink.state == "connected"
        assert receiver.headers[0]["Content-Type"] == "application/json"
        assert len(warnings_from(caplog)) == 1  # one warning for the outage, not one per retry
    finally:
        sink.close()
        receiver.close()


def test_a_4xx_drops_the_event_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver([400, 400, 404])
    sink = WebhookSink(receiver.url, **FAST)
    try:
        for i in range(4):
            sink.send(event(i))
        wait_until(lambda: sink.delivered + sink.dropped == 4)
        assert sink.dropped == 3 and sink.delivered == 1
        assert receiver.bodies == [event(3)]
        warnings = warnings_from(caplog)
        assert len(warnings) == 2  # once per status, not once per event
        assert "answered HTTP 400: event dropped" in warnings[0] and "HTTP 404" in warnings[1]
    finally:
        sink.close()
        receiver.close()


def test_a_receiver_down_at_start_gets_the_events_once_it_is_up() -> None:
    port = free_port()
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", **FAST)
    for i in range(3):
        sink.send(event(i))
    time.sleep(0.1)  # a few refused attempts
    assert sink.state == "connecting" and sink.delivered == 0
    receiver = Receiver(port=port)
    try:
        wait_until(lambda: sink.delivered == 3)
        assert receiver.bodies == [event(i) for i in range(3)]
    finally:
        sink.close()
        receiver.close()


def test_a_timeout_is_retried() -> None:
    receiver = Receiver(delay_first_s=0.6)  # answers the first request after the sink gave up on it
    sink = WebhookSink(receiver.url, timeout_s=0.2, **FAST)
    try:
        sink.send(event(0))
        sink.send(event(1))
        wait_until(lambda: sink.delivered == 2)
        # At least once: the first request, answered too late, was sent again.
        assert receiver.requests == 3
        wait_until(lambda: len(receiver.bodies) == 3)
        assert sorted(b["track_id"] for b in receiver.bodies) == [0, 0, 1]
    finally:
        sink.close()
        receiver.close()


def test_a_stuck_receiver_never_stalls_send_and_close_keeps_its_timeout() -> None:
    with socket.socket() as stuck:  # takes connections (the backlog) and never answers
        stuck.bind(("127.0.0.1", 0))
        stuck.listen(16)
        sink = WebhookSink(f"http://127.0.0.1:{stuck.getsockname()[1]}/", queue_size=10, timeout_s=5.0)
        sink.send(event(0))
        wait_until(lambda: sink.queued == 0, what="the worker to take the first event")
        started = time.monotonic()
        for i in range(1, 1001):
            sink.send(event(i))
        assert time.monotonic() - started < 1.0
        assert sink.dropped == 990 and sink.queued == 10
        started = time.monotonic()
        sink.close(timeout=0.3)
        assert time.monotonic() - started < 1.0
        assert sink.state == "closed" and sink.dropped == 1000  # 0 is still in hand


def test_credentials_in_the_url_become_basic_auth_and_stay_out_of_names() -> None:
    receiver = Receiver()
    url = receiver.url.replace("http://", "http://bot:pa%3Ass@")
    sink = WebhookSink(url, **FAST)
    try:
        sink.send(event(0))
        wait_until(lambda: sink.delivered == 1)
        assert receiver.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"bot:pa:ss").decode()
        assert "pa%3Ass" not in sink.target and "bot:***@" in sink.target
    finally:
        sink.close()
        receiver.close()


# Issue 30, item 3: a Home Assistant webhook id or a Slack hook in the path, a key in the query: the
# target (the status, the events stream) and every line of a failing webhook show none of them.
HOOK_ID = "kitchen-door-7f3a9c"
QUERY_KEY = "Qk7vR2pX9"


def test_a_hook_id_in_the_path_is_used_but_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="streamseg.notify")
    receiver = Receiver([503, 503, 404])  # an outage (a warning), then a refusal (another)
    url = f"http://127.0.0.1:{receiver.port}/api/webhook/{HOOK_ID}?key={QUERY_KEY}&v=1"
    sink = WebhookSink(url, **FAST)
    try:
        for i in range(3):
            sink.send(event(i))
        wait_until(lambda: sink.delivered + sink.dropped == 3)
        assert receiver.paths[-1] == f"/api/webhook/{HOOK_ID}?key={QUERY_KEY}&v=1"  # sent as given
        assert sink.target == f"http://127.0.0.1:{receiver.port}/api/webhook/***?key=***&v=***"
        assert len(warnings_from(caplog)) == 2
    finally:
        sink.close()
        receiver.close()
    shown = sink.target + caplog.text  # the close line (debug) included
    assert HOOK_ID not in shown and QUERY_KEY not in shown


def test_a_slack_hook_that_cannot_be_reached_is_warned_about_masked(caplog: pytest.LogCaptureFixture) -> None:
    secret = "XXXXXXXXXXXXXXXXXXXXXXXX"
    sink = WebhookSink(f"http://127.0.0.1:{free_port()}/services/T0001/B0002/{secret}", **FAST)
    try:
        sink.send(event(0))
        wait_until(lambda: bool(warnings_from(caplog)), what="the warning")
        assert "/services/***/***/***: " in warnings_from(caplog)[0]
    finally:
        sink.close(timeout=0.2)
    assert secret not in caplog.text and "B0002" not in caplog.text and secret not in sink.target
