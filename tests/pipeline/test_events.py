"""The run's event sinks as the status (``/api/status``, the events stream) lists them: issue 30, item 3.
A Home Assistant webhook id, a key in a webhook's query and a token used as the MQTT user name are used
to deliver (a real Mosquitto broker and a real HTTP receiver get the event) and shown nowhere."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from streamseg.config import Config, EventsConfig
from streamseg.pipeline.events import open_events
from streamseg.pipeline.scene_step import SceneStep
from streamseg.redact import redact_text
from tests.notify.helpers import Broker, Receiver, Subscriber, find_binary, wait_until

HOOK_ID = "kitchen-door-7f3a9c"
QUERY_KEY = "Qk7vR2pX9"
TOKEN = "Kx9fQ2mZ7tLp4vWs"


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    binary = find_binary("mosquitto")
    if binary is None:  # part of the test setup (CI installs it): a failure, not a skip
        pytest.fail("the mosquitto broker is not installed (apt-get install mosquitto)")
    b = Broker(binary, tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


def test_the_sinks_status_shows_no_hook_id_key_or_token(broker: Broker) -> None:
    receiver = Receiver()
    hook = f"http://127.0.0.1:{receiver.port}/api/webhook/{HOOK_ID}?key={QUERY_KEY}"
    cfg = Config(events=EventsConfig(mqtt=broker.url(TOKEN, "home"), webhooks=(hook,)))
    sub = Subscriber(broker, "home/#")
    events = open_events(cfg, SceneStep(cfg), None, warn_idle=False)
    try:
        for sink in events.sinks:
            sink.send({"type": "appeared", "source": "кухня", "pts": 1.0, "track_id": 3})
        wait_until(lambda: all(s.delivered == 1 for s in events.sinks), what="both deliveries")
        assert receiver.paths == [f"/api/webhook/{HOOK_ID}?key={QUERY_KEY}"]
        wait_until(lambda: any("appeared" in m.topic for m in sub.messages), what="the MQTT message")
        status = events.status()
    finally:
        events.close()
        sub.close()
        receiver.close()
    assert [(s["sink"], s["target"]) for s in status["sinks"]] == [
        ("mqtt", f"mqtt://***@127.0.0.1:{broker.port}/home"),
        ("webhook", f"http://127.0.0.1:{receiver.port}/api/webhook/***?key=***"),
    ]
    shown = redact_text(json.dumps(status))  # what the dashboard sends
    assert not [s for s in (HOOK_ID, QUERY_KEY, TOKEN) if s in shown]
    assert [m.topic for m in sub.messages if "appeared" in m.topic] == ["home/кухня/appeared"]
