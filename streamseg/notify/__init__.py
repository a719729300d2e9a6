"""Event sinks: where appeared / left / entered / exited / loitering / crossed events are delivered.

One rule shapes all of them: a sink that is slow or down never stalls the caller (the render thread
calls ``send`` for every event). Each sink owns a bounded queue drained by its own daemon thread; when
the queue is full the oldest event is dropped and counted (``dropped``); the worker reconnects with a
jittered exponential backoff, and what is still queued is delivered when the other side is back.

- ``MqttSink``: ``--mqtt mqtt://[user:pass@]host[:1883][/prefix]``, QoS 1, topics
  ``{prefix}/{source}/{type}``, retained ``{prefix}/availability`` and ``publish_state``.
- ``WebhookSink``: ``--webhook URL``, one JSON POST per event.
- ``EventsFileSink``: ``--events PATH``, JSON lines.
"""

from __future__ import annotations

from streamseg.notify.events_file import EventsFileSink
from streamseg.notify.mqtt import MqttSink, topic_level
from streamseg.notify.urls import MqttUrl, check_webhook_url, parse_mqtt_url
from streamseg.notify.webhook import WebhookSink
from streamseg.notify.worker import CLOSED, CONNECTED, CONNECTING, RECONNECTING, Backoff, QueuedSink, to_json

__all__ = [
    "CLOSED",
    "CONNECTED",
    "CONNECTING",
    "RECONNECTING",
    "Backoff",
    "EventsFileSink",
    "MqttSink",
    "MqttUrl",
    "QueuedSink",
    "WebhookSink",
    "check_webhook_url",
    "parse_mqtt_url",
    "to_json",
    "topic_level",
]
