"""MqttSink against a real Mosquitto broker and a real paho subscriber: topics, QoS 1, retained
availability and its last will, a broker that goes away and comes back, an unreachable broker, auth."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from streamseg.notify import MqttSink, topic_level

from .helpers import Broker, Subscriber, free_port, wait_until

SECRET = "s3cr3t-pw"


def event(i: int, source: str = "door", type_: str = "entered") -> dict[str, object]:
    return {
        "type": type_, "source": source, "pts": 12.3 + i, "time": "2026-12-05T10:00:00.123Z", "track_id": i,
        "class_name": "person", "score": 0.81, "xyxy": [1, 2, 3, 4], "zone": "doorway",
    }  # fmt: skip


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "streamseg.notify.mqtt" and r.levelno >= logging.WARNING
    ]


def test_events_arrive_on_source_and_type_topics_with_qos1(broker: Broker) -> None:
    sub = Subscriber(broker, "streamseg/#")
    sink = MqttSink(broker.url())
    try:
        sent = [event(0), event(1, type_="exited"), event(2, source="front door/2+#")]
        for e in sent:
            sink.send(e)
        wait_until(lambda: sink.delivered == 3, what="3 PUBACKs")
        wait_until(lambda: len([m for m in sub.messages if "availability" not in m.topic]) == 3)
        got = {m.topic: m for m in sub.messages if "availability" not in m.topic}
        assert set(got) == {
            "streamseg/door/entered",
            "streamseg/door/exited",
            "streamseg/front_door_2_/entered",
        }
        assert got["streamseg/door/entered"].json() == sent[0]  # the JSON intact
        assert got["streamseg/front_door_2_/entered"].json() == sent[2]  # the payload keeps the real name
        assert all(m.qos == 1 and not m.retain for m in got.values())
        assert sink.state == "connected" and sink.dropped == 0
    finally:
        sink.close()
        sub.close()


def test_availability_is_retained_online_then_offline_after_close(broker: Broker) -> None:
    sink = MqttSink(broker.url(prefix="home/cams"))
    wait_until(lambda: sink.state == "connected")
    late = Subscriber(broker, "home/cams/availability")  # subscribes after: sees the retained value
    wait_until(lambda: late.payloads("home/cams/availability") == ["online"])
    assert late.on("home/cams/availability")[0].retain
    sink.close()
    assert sink.state == "closed"
    wait_until(lambda: late.payloads("home/cams/availability")[-1:] == ["offline"], what="'offline'")
    later = Subscriber(broker, "home/cams/availability")
    wait_until(lambda: later.payloads("home/cams/availability") == ["offline"], what="retained 'offline'")
    late.close()
    later.close()


def test_last_will_says_offline_when_the_connection_dies_without_close(broker: Broker) -> None:
    sub = Subscriber(broker, "streamseg/availability")
    sink = MqttSink(broker.url())
    try:
        wait_until(lambda: sub.payloads("streamseg/availability") == ["online"])
        sock = sink._client.socket()  # cut the TCP connection under paho: no DISCONNECT is sent
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        wait_until(
            lambda: sub.payloads("streamseg/availability")[:2] == ["online", "offline"], what="the will"
        )
        # ... and paho reconnects on its own (after about a second) and says "online" again.
        wait_until(
            lambda: sub.payloads("streamseg/availability")[-1:] == ["online"], timeout=8, what="online"
        )
    finally:
        sink.close()
        sub.close()


def test_publish_state_is_retained_on_its_key(broker: Broker) -> None:
    sink = MqttSink(broker.url())
    sink.publish_state("door", "zones/doorway", {"zone": "doorway", "count": 2})
    wait_until(lambda: sink.delivered == 1)
    sub = Subscriber(broker, "streamseg/door/zones/#")
    wait_until(lambda: len(sub.on("streamseg/door/zones/doorway")) == 1)
    msg = sub.on("streamseg/door/zones/doorway")[0]
    assert msg.retain and msg.json() == {"zone": "doorway", "count": 2}
    assert sink.topic_for("a b", "zones/x/y+") == "streamseg/a_b/zones/x/y_"
    sink.close()
    sub.close()


def test_events_sent_while_the_broker_is_down_arrive_after_it_restarts(broker: Broker) -> None:
    # A persistent session: the broker keeps the subscription (and queues for it) across its restart, so
    # the check does not depend on who reconnects first, the subscriber or the sink.
    sub = Subscriber(broker, "streamseg/cam/#", persistent=True)
    sink = MqttSink(broker.url())
    try:
        sink.send(event(0, source="cam"))
        wait_until(lambda: sink.delivered == 1)
        broker.stop()
        wait_until(lambda: sink.state == "reconnecting", what="the sink to notice")
        for i in range(1, 21):
            sink.send(event(i, source="cam"))
        broker.start()  # same port
        wait_until(lambda: sink.delivered == 21, timeout=10, what="the queued events' PUBACKs")
        wait_until(lambda: len(sub.on("streamseg/cam/entered")) == 21, timeout=10, what="the subscriber")
        assert [m.json()["track_id"] for m in sub.on("streamseg/cam/entered")] == list(range(21))
        assert sink.dropped == 0 and sink.state == "connected"
    finally:
        sink.close()
        sub.close()


def test_unreachable_broker_at_start_is_one_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streamseg.notify")
    sink = MqttSink(f"mqtt://user:{SECRET}@127.0.0.1:{free_port()}/x")  # nothing listens there
    wait_until(lambda: warnings_from(caplog) != [], what="the warning")
    assert sink.state == "connecting"
    sink.send(event(0))
    started = time.monotonic()
    sink.close(timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert sink.state == "closed" and sink.dropped == 1 and sink.delivered == 0
    (warning,) = warnings_from(caplog)
    assert "cannot reach the broker" in warning and "mqtt://user:***@127.0.0.1" in warning
    assert SECRET not in caplog.text


def test_a_broker_that_keeps_failing_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    """A port that takes connections and closes them at once: every attempt is seen, one warning said."""
    caplog.set_level(logging.INFO, logger="streamseg.notify")
    attempts = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(5)

        def hang_up() -> None:
            for _ in range(2):
                conn, _ = server.accept()
                attempts.append(time.monotonic())
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        sink = MqttSink(f"mqtt://127.0.0.1:{server.getsockname()[1]}")
        thread.join(6)
        time.sleep(0.1)  # the second failure reaches the sink's callbacks
        assert len(attempts) == 2
        assert sink.state == "connecting"
        sink.close(timeout=0.5)
    assert len(warnings_from(caplog)) == 1, warnings_from(caplog)


def test_overflow_while_the_broker_is_down_drops_the_oldest_and_keeps_send_fast(broker: Broker) -> None:
    sub = Subscriber(broker, "streamseg/cam/#", persistent=True)
    sink = MqttSink(broker.url(), queue_size=10)
    try:
        wait_until(lambda: sink.state == "connected")
        broker.stop()
        wait_until(lambda: sink.state == "reconnecting", what="the sink to notice")
        started = time.monotonic()
        for i in range(1000):
            sink.send(event(i, source="cam"))
        assert time.monotonic() - started < 1.0  # never waits for the broker
        assert sink.dropped == 990 and sink.queued == 10
        broker.start()
        wait_until(lambda: sink.delivered == 10, timeout=10, what="the 10 newest events")
        wait_until(lambda: len(sub.on("streamseg/cam/entered")) == 10, timeout=10, what="the subscriber")
        assert [m.json()["track_id"] for m in sub.on("streamseg/cam/entered")] == list(range(990, 1000))
    finally:
        sink.close()
        sub.close()


def test_broker_down_at_start_gets_the_events_once_it_is_up(broker: Broker) -> None:
    sub = Subscriber(broker, "streamseg/cam/#", persistent=True)
    broker.stop()
    sink = MqttSink(broker.url())  # unreachable: paho retries after 1 s, then 2 s more
    try:
        for i in range(5):
            sink.send(event(i, source="cam"))
        assert sink.state == "connecting"
        broker.start()
        wait_until(lambda: sink.delivered == 5, timeout=10, what="the queued events")
        wait_until(lambda: len(sub.on("streamseg/cam/entered")) == 5, timeout=10, what="the subscriber")
        assert [m.json()["track_id"] for m in sub.on("streamseg/cam/entered")] == list(range(5))
    finally:
        sink.close()
        sub.close()


def test_user_and_password_from_the_url(
    mosquitto: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streamseg.notify")
    b = Broker(mosquitto, tmp_path, users={"cam": SECRET, "watcher": "w"})
    b.start()
    try:
        sub = Subscriber(b, "streamseg/#", auth=("watcher", "w"))
        good = MqttSink(b.url(f"cam:{SECRET}"))
        bad = MqttSink(b.url("cam:wrong"))
        good.send(event(0))
        bad.send(event(1))
        wait_until(lambda: good.delivered == 1)
        wait_until(lambda: len(sub.on("streamseg/door/entered")) == 1)
        assert sub.on("streamseg/door/entered")[0].json()["track_id"] == 0
        wait_until(lambda: any("refused" in w for w in warnings_from(caplog)), what="the refusal warning")
        assert bad.state == "connecting" and bad.delivered == 0
        good.close()
        bad.close(timeout=0.2)
        sub.close()
        assert SECRET not in caplog.text and "wrong" not in caplog.text
    finally:
        b.stop()


def test_topic_levels_are_safe() -> None:
    assert topic_level("door") == "door"
    assert topic_level("front door") == "front_door"
    assert topic_level("a/b+c#d") == "a_b_c_d"
    assert topic_level("$SYS") == "_SYS"
    assert topic_level("") == "_"


# Issue 30, item 3: a token used as the MQTT user name is shown nowhere (target, lines).
TOKEN = "Kx9fQ2mZ7tLp4vWs"


def test_a_token_as_the_user_name_connects_and_is_never_shown(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="streamseg.notify")
    sub = Subscriber(broker, "streamseg/#")
    sink = MqttSink(broker.url(TOKEN))  # the broker takes anonymous clients: the name is all it gets
    try:
        sink.send(event(0))
        wait_until(lambda: sink.delivered == 1, what="the PUBACK")
        assert sink.target == f"mqtt://***@127.0.0.1:{broker.port}"
    finally:
        sink.close()
        sub.close()
    broker.stop()
    away = MqttSink(broker.url(TOKEN))  # the broker is away now: the warning line
    try:
        wait_until(lambda: bool(warnings_from(caplog)), what="the warning")
        assert f"MQTT sink mqtt://***@127.0.0.1:{broker.port}: cannot reach" in warnings_from(caplog)[0]
    finally:
        away.close(timeout=0.2)
    assert "connected to mqtt://***@" in caplog.text and TOKEN not in caplog.text


# Issues 30, items 4 and 9: names in other scripts keep topics of their own; '..' is no level of its own.


def test_names_in_any_script_publish_on_topics_of_their_own(broker: Broker) -> None:
    sub = Subscriber(broker, "streamseg/#")
    sink = MqttSink(broker.url())
    try:
        for source in ("кухня", "двор", "..", "."):
            sink.send(event(0, source=source))
        sink.publish_state("кухня", "zones/вход", {"count": 1})
        wait_until(lambda: sink.delivered == 5, what="5 PUBACKs")
        wait_until(lambda: len([m for m in sub.messages if "availability" not in m.topic]) == 5)
        topics = {m.topic for m in sub.messages if "availability" not in m.topic}
        assert topics == {
            "streamseg/кухня/entered",
            "streamseg/двор/entered",
            "streamseg/__/entered",
            "streamseg/_/entered",
            "streamseg/кухня/zones/вход",
        }
    finally:
        sink.close()
        sub.close()
