"""Where a run's events go: the sinks of ``events:`` (``--events``, ``--mqtt``, ``--webhook``), snapshots
(``--snapshots``) and the Python API's ``on_event``. A render-thread sink like the recordings: it is
handed every result (whose ``events`` the scene step filled) and the annotated picture, and gives each
event to every sink without waiting on any (each has its own bounded queue and thread).

Live zone counts also go to MQTT as retained ``{prefix}/{source}/zones/{zone}`` messages, sent when a
count changes, so Home Assistant can show them as sensors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from streamseg.config import Config
from streamseg.export.snapshots import SnapshotWriter
from streamseg.gpu.picture import I420Picture
from streamseg.notify import EventsFileSink, MqttSink, QueuedSink, WebhookSink
from streamseg.pipeline.clips import ClipBook
from streamseg.pipeline.scene_step import SceneStep
from streamseg.scene.events import STARTS_OR_ENDS
from streamseg.types import SegResult, UInt8Array

logger = logging.getLogger(__name__)

EventCallback = Callable[[Mapping[str, Any]], None]


class CallbackSink(QueuedSink[Mapping[str, Any]]):
    """The Python API's ``on_event``, called on a thread of its own: a slow callback drops events
    (counted) rather than slowing the pipeline. An exception in it is logged and the event counted as
    dropped."""

    name = "callback"

    def __init__(self, callback: EventCallback, queue_size: int = 1000) -> None:
        super().__init__(getattr(callback, "__qualname__", "on_event"), queue_size)
        self._callback = callback
        self._set_state("connected")
        self._start()

    def send(self, event: Mapping[str, Any]) -> None:
        self._put(event)

    def _deliver(self, batch: list[Mapping[str, Any]]) -> int:
        try:
            self._callback(batch[0])
            self._count(delivered=1)
        except Exception:
            self._count(dropped=1)
            logger.exception("on_event raised; the event is dropped")
        return 1


def open_event_sinks(cfg: Config, on_event: EventCallback | None = None) -> list[Any]:
    """The sinks ``cfg.events`` names, opened (a bad URL or an unwritable file raises here, before any
    thread starts; an unreachable broker or receiver does not: they retry in the background)."""
    e = cfg.events
    sinks: list[Any] = []
    try:
        if e.file:
            sinks.append(EventsFileSink(e.file, e.queue))
        if e.mqtt:
            sinks.append(MqttSink(e.mqtt, e.queue))
        for url in e.webhooks:
            sinks.append(WebhookSink(url, e.queue))
        if on_event is not None:
            sinks.append(CallbackSink(on_event, e.queue))
    except BaseException:
        for sink in sinks:
            sink.close(0.5)
        raise
    return sinks


def open_events(
    cfg: Config,
    scene: SceneStep,
    on_event: EventCallback | None,
    warn_idle: bool = True,
    clips: ClipBook | None = None,
) -> EventsSink:
    """The run's ``EventsSink``: always one, as it also tells the scene step that a source ended (its
    tracks leave, its counts go); with no event sink and no snapshots it only does that."""
    e = cfg.events
    sinks = open_event_sinks(cfg, on_event)
    try:
        snapshots = SnapshotWriter(e.snapshots, e.snapshots_max) if e.snapshots else None
    except BaseException:
        for sink in sinks:
            sink.close(0.5)
        raise
    if warn_idle and (sinks or snapshots is not None) and not scene.active:
        logger.warning("events are configured, but no source tracks or has zones: none will be made")
    return EventsSink(scene, sinks, snapshots, clips)


class EventsSink:
    """Feeds the event sinks and snapshots from the render thread."""

    needs_annotated = False

    def __init__(
        self,
        scene: SceneStep,
        sinks: list[Any],
        snapshots: SnapshotWriter | None,
        clips: ClipBook | None = None,
    ) -> None:
        self._scene = scene
        self._sinks = sinks
        self._snapshots = snapshots
        self._clips = clips
        self._states: dict[tuple[str, str], dict[str, int]] = {}
        self.needs_annotated = snapshots is not None

    @property
    def sinks(self) -> list[Any]:
        return list(self._sinks)

    def write(self, result: SegResult, annotated: UInt8Array | I420Picture | None) -> None:
        if self._snapshots is not None:
            self._snapshots.observe(result)
        for event in result.events:
            self._deliver(dict(event), _bgr_later(annotated))
        if self._clips is not None and not self._scene.tracks(result.source):
            self._clips.for_presence(result)  # an untracked source: --clip-classes in sight
        self._publish_counts(result.source)

    def end_source(self, name: str) -> None:
        for event in self._scene.end_source(name):
            self._deliver(event, None)
        if self._snapshots is not None:
            self._snapshots.forget_source(name)
        self._publish_counts(name)

    def _deliver(self, event: dict[str, Any], frame: Callable[[], UInt8Array | None] | None) -> None:
        if self._clips is not None and event["type"] in STARTS_OR_ENDS and frame is not None:
            clip = self._clips.for_event(event)
            if clip is not None:
                event["clip"] = clip
        if self._snapshots is not None and event["type"] in STARTS_OR_ENDS:
            self._snapshots.take(event, frame)
        for sink in self._sinks:
            sink.send(event)

    def _publish_counts(self, source: str) -> None:
        mqtt = [s for s in self._sinks if isinstance(s, MqttSink)]
        if not mqtt:
            return
        zones = self._scene.status()["sources"].get(source, {}).get("zones", {})
        for zone, by_class in zones.items():
            if self._states.get((source, zone)) == by_class:
                continue
            self._states[(source, zone)] = dict(by_class)
            payload = {"count": sum(by_class.values()), "by_class": by_class}
            for sink in mqtt:
                sink.publish_state(source, f"zones/{zone}", payload)

    def status(self) -> dict[str, Any]:
        """Per sink: its state, what it delivered and dropped (snapshots included)."""
        out = [
            {
                "sink": s.name,
                "target": s.target,
                "state": s.state,
                "delivered": s.delivered,
                "dropped": s.dropped,
            }
            for s in self._sinks
        ]
        if self._clips is not None:
            clips = self._clips.status()
            out.append(
                {
                    "sink": "clips",
                    "target": str(self._clips.folder),
                    "state": "connected",
                    "delivered": sum(clips.values()),
                    "dropped": 0,
                }
            )
        if self._snapshots is not None:
            out.append(
                {
                    "sink": "snapshots",
                    "target": str(self._snapshots.folder),
                    "state": "connected",
                    "delivered": self._snapshots.written,
                    "dropped": self._snapshots.dropped,
                }
            )
        return {"sinks": out}

    def close(self) -> None:
        for sink in self._sinks:
            try:
                sink.close()
            except Exception as exc:
                logger.warning("closing the %s event sink failed: %s", sink.name, exc)
        if self._snapshots is not None:
            self._snapshots.close()


def _bgr_later(annotated: UInt8Array | I420Picture | None) -> Callable[[], UInt8Array | None]:
    """The annotated picture as BGR, made when the snapshot writer gets to it (off the render thread)."""
    if annotated is None:
        return lambda: None
    if isinstance(annotated, I420Picture):
        return annotated.bgr
    copy = annotated  # the render step drew on a copy that no one changes after this
    return lambda: copy
