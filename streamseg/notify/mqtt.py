"""``MqttSink``: events published to an MQTT broker (QoS 1), for Home Assistant, Node-RED and friends.

Topics (``prefix`` from the URL's path, default ``streamseg``)::

    {prefix}/availability          "online" / "offline", retained (the last will says "offline")
    {prefix}/{source}/{type}       one event, compact JSON, e.g. streamseg/door/entered
    {prefix}/{source}/{key}        publish_state(): retained JSON, e.g. streamseg/door/zones/doorway

Source names (and each level of a state key, a zone's name) become one topic level by the names'
one slug (``safe_name``, the same that names their folders): letters and digits of every script,
``_``, ``.`` and ``-`` stay, every run of anything else becomes one ``_`` ("front door" ->
``front_door``, "a/b+c" -> ``a_b_c``, "кухня" stays), so a name can never add a level or a wildcard;
an empty name is ``_``. Names that would share a slug are refused where they are given (``config.names``).

Nothing accepted while the broker is away is lost unless the queue overflows: events stay in our
bounded queue while disconnected, and at most ``INFLIGHT`` of them are handed to paho at a time, which
keeps each until the broker's PUBACK and sends it again after a reconnect.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from streamseg.notify.urls import parse_mqtt_url
from streamseg.notify.worker import CONNECTED, RECONNECTING, QueuedSink
from streamseg.redact import safe_name

logger = logging.getLogger(__name__)

QOS = 1
INFLIGHT = 50  # events handed to paho and not yet acknowledged, at most
KEEPALIVE_S = 30  # a dead connection is noticed within about 1.5x this
CONNECT_TIMEOUT_S = 5.0


def topic_level(name: str) -> str:
    """``name`` as one topic level: no ``/``, ``+``, ``#``, ``$`` or spaces (see the module docstring)."""
    return safe_name(name) or "_"


@dataclass(frozen=True)
class _Message:
    """What waits in the queue: encoded on the worker, so ``send`` stays O(1)."""

    source: str
    key: str  # the event's type, or a state key; made topic-safe on the worker
    payload: Mapping[str, Any]
    retain: bool


class MqttSink(QueuedSink[_Message]):
    """Publishes events to ``url`` (``mqtt[s]://[user:pass@]host[:port][/prefix]``) from its own
    thread; an unreachable broker is one warning and retries in the background, never an error."""

    name = "mqtt"

    def __init__(
        self,
        url: str,
        queue_size: int = 1000,
        client_id: str | None = None,
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.url = parse_mqtt_url(url)
        super().__init__(
            self.url.display, queue_size, backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s
        )
        self.prefix = self.url.prefix
        self.availability_topic = f"{self.prefix}/availability"
        self._inflight: set[int] = set()  # mids of events handed to paho, not yet acknowledged
        self._early: set[int] = set()  # mids acknowledged before the worker recorded them in _inflight
        self._own: set[int] = set()  # mids of "online" messages (not events)
        self._connected = False
        self._warned = False  # one warning per outage, not one per retry
        self._lock = threading.Lock()
        self._client = self._make_client(client_id or f"streamseg-{uuid.uuid4().hex[:12]}")
        # paho reconnects on its own; its delays are whole seconds (the first retry after >= 1 s).
        low = max(1, round(backoff_initial_s))
        self._client.reconnect_delay_set(low, max(low, round(backoff_max_s)))
        self._client.connect_async(self.url.host, self.url.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        self._start()

    def send(self, event: Mapping[str, Any]) -> None:
        """Queue one event for ``{prefix}/{source}/{type}``. Never blocks; the sink owns ``event`` now."""
        self._put(_Message(str(event.get("source", "")), str(event.get("type", "event")), event, False))

    def publish_state(self, source: str, key: str, payload: Mapping[str, Any]) -> None:
        """Queue a retained ``{prefix}/{source}/{key}`` (``key`` may have levels: ``zones/doorway``).
        ``payload`` is copied (a shallow copy): a caller may keep updating its dict of counts."""
        self._put(_Message(source, key, dict(payload), True))

    def topic_for(self, source: str, key: str) -> str:
        """The topic an event (``key`` = its type) or a state of ``source`` is published on."""
        levels = [topic_level(source), *(topic_level(k) for k in key.split("/"))]
        return "/".join([self.prefix, *levels])

    # ---- paho's side (its network thread) -------------------------------------------------------

    def _make_client(self, client_id: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if self.url.username is not None:
            client.username_pw_set(self.url.username, self.url.password)
        if self.url.tls:
            client.tls_set()
        client.will_set(self.availability_topic, "offline", qos=QOS, retain=True)
        client.max_inflight_messages_set(INFLIGHT + 2)  # + the availability messages
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._warn(f"the broker refused the connection: {reason}")
            return
        info = client.publish(self.availability_topic, "online", qos=QOS, retain=True)
        with self._cond:  # its PUBACK comes later on this same thread: no race
            self._own.add(info.mid)
        with self._lock:
            was_warned, self._warned = self._warned, False
            self._connected = True
        self._set_state(CONNECTED)
        logger.info("MQTT sink connected to %s%s", self.target, " again" if was_warned else "")
        self._poke()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._warn("cannot reach the broker")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            was_connected, self._connected = self._connected, False
        if not self._closing:
            if was_connected:
                self._set_state(RECONNECTING)
                self._warn(f"lost the connection ({reason})")
            else:  # it took the TCP connection but closed it before a CONNACK (or after a refusal)
                self._warn(f"the broker closed the connection before accepting it ({reason})")
        self._poke()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        with self._cond:  # the worker never holds this lock while it calls paho: no lock-order cycle
            if mid in self._inflight:
                self._inflight.discard(mid)
                self._delivered += 1
                self._cond.notify_all()
            elif mid in self._own:
                self._own.discard(mid)
            else:  # an event's PUBACK that beat the worker's bookkeeping (see _deliver)
                self._early.add(mid)

    def _warn(self, what: str) -> None:
        with self._lock:
            first, self._warned = not self._warned, True
        if first and not self._closing:
            logger.warning(
                "MQTT sink %s: %s; retrying in the background (up to %d events are kept meanwhile)",
                self.target, what, self.queue_size,
            )  # fmt: skip

    # ---- the worker's side ----------------------------------------------------------------------

    def _room(self) -> int:
        return INFLIGHT - len(self._inflight) if self._connected else 0

    def _idle(self) -> bool:
        return not self._inflight

    def _deliver(self, batch: list[_Message]) -> int:
        for i, message in enumerate(batch):
            text = self._encode(message.payload)
            if text is None:
                continue
            topic = self.topic_for(message.source, message.key)
            try:
                info = self._client.publish(topic, text, qos=QOS, retain=message.retain)
            except ValueError as exc:  # payload over MQTT's 256 MB limit
                self._count(dropped=1)
                logger.warning("MQTT sink %s: dropped a message: %s", self.target, exc)
                continue
            # NO_CONN is fine: paho keeps a QoS 1 message and sends it once it is connected again.
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                return i
            with self._cond:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self._delivered += 1
                else:
                    self._inflight.add(info.mid)
        return len(batch)

    def _shutdown_reserve_s(self, timeout: float) -> float:
        return min(0.5, timeout / 4)

    def _shutdown(self) -> None:
        """Say "offline" (retained) while still connected, then disconnect; events paho still holds
        unacknowledged are lost with the connection and counted as dropped."""
        if self._connected:
            info = self._client.publish(self.availability_topic, "offline", qos=QOS, retain=True)
            try:
                info.wait_for_publish(max(0.05, (self._close_by or 0.0) - time.monotonic()))
            except (RuntimeError, ValueError):
                logger.debug("MQTT sink %s: could not publish 'offline'", self.target)
        self._client.disconnect()
        self._client.loop_stop()
        with self._cond:
            self._dropped += len(self._inflight)
            self._inflight.clear()
