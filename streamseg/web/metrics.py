"""Prometheus metrics for one pipeline, in its own ``CollectorRegistry`` (never the global one).

Latency and batch-size histograms are fed sample by sample (``Telemetry.add_observer``); counters
and gauges are read from a fresh status document at scrape time, so idle pipelines cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from streamseg import __version__
from streamseg.web.status import HEALTH_STATES

STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PipelineMetrics:
    """Owns the registry; pass it to ``Telemetry.add_observer`` so histograms see every sample."""

    def __init__(self, status: Callable[[], dict[str, Any]], batch_size: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._stage = Histogram(
            "streamseg_stage_seconds",
            "Time spent in each pipeline stage per frame (end_to_end: capture to drawn).",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self._batch = Histogram(
            "streamseg_batch_size",
            "Frames carried by each inference call.",
            buckets=tuple(float(b) for b in range(1, batch_size + 1)),
            registry=self.registry,
        )
        self._stage_children: dict[str, Any] = {}  # labels() takes a lock; look each stage up once
        self.registry.register(_StatusCollector(status))
        ProcessCollector(namespace="", registry=self.registry)  # process_resident_memory_bytes, CPU ...

    # -- telemetry observer (hot path: one histogram update each) -------------------------------------

    def observe_stage(self, stage: str, seconds: float, source: str | None) -> None:
        child = self._stage_children.get(stage)
        if child is None:
            child = self._stage_children.setdefault(stage, self._stage.labels(stage))
        child.observe(seconds)

    def observe_batch(self, size: int) -> None:
        self._batch.observe(size)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StatusCollector(Collector):
    """Counters and gauges derived from the dashboard status at scrape time."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._status = status

    def describe(self) -> list[Metric]:
        return []  # unknown until the first scrape; keeps registration cheap and side-effect free

    def collect(self) -> Iterator[Metric]:
        st = self._status()
        src = ["source"]
        frames = CounterMetricFamily(
            "streamseg_frames", "Frames processed (drawn and handed out).", labels=src
        )
        captured = CounterMetricFamily("streamseg_frames_captured", "Frames decoded by capture.", labels=src)
        dropped = CounterMetricFamily(
            "streamseg_frames_dropped", "Frames dropped to stay live (live sources only).", labels=src
        )
        reconnects = CounterMetricFamily("streamseg_source_reconnects", "Source reconnections.", labels=src)
        fps = GaugeMetricFamily(
            "streamseg_source_fps", "Processed frames per second, recent window.", labels=src
        )
        age = GaugeMetricFamily(
            "streamseg_frame_age_seconds",
            "Seconds since the newest shown frame was captured (grows while a source stalls).",
            labels=src,
        )
        up = GaugeMetricFamily(
            "streamseg_source_up", "1 while the source delivers frames, else 0.", labels=src
        )
        health = GaugeMetricFamily(
            "streamseg_source_health", "1 for the source's current health state.", labels=["source", "state"]
        )
        for s in st["sources"]:
            name = [s["name"]]
            frames.add_metric(name, s["processed"])
            captured.add_metric(name, s["captured"])
            dropped.add_metric(name, s["dropped"])
            reconnects.add_metric(name, s["reconnects"])
            fps.add_metric(name, s["fps"])
            if s["frame_age_ms"] is not None:
                age.add_metric(name, s["frame_age_ms"] / 1e3)
            up.add_metric(name, 1.0 if s["health"] == "live" else 0.0)
            states = HEALTH_STATES if s["health"] in HEALTH_STATES else (*HEALTH_STATES, s["health"])
            for state in states:
                health.add_metric([s["name"], state], 1.0 if state == s["health"] else 0.0)
        yield from (frames, captured, dropped, reconnects, fps, age, up, health)
        yield from _selection_metrics(st["sources"])

        total = GaugeMetricFamily("streamseg_fps", "Processed frames per second, all sources.")
        total.add_metric([], st["total"]["fps"])
        yield total
        fill = GaugeMetricFamily("streamseg_batch_fill_ratio", "Recent mean batch size over the maximum.")
        fill.add_metric([], st["batch"]["fill"])
        yield fill
        queues = GaugeMetricFamily("streamseg_queue_depth", "Items waiting in each queue.", labels=["queue"])
        for q, depth in st["queues"].items():
            if depth is not None:
                queues.add_metric([q], depth)
        yield queues
        if st["rss_bytes"] is not None:
            rss = GaugeMetricFamily("streamseg_resident_memory_bytes", "Resident set size of the process.")
            rss.add_metric([], st["rss_bytes"])
            yield rss
        if st["gpu_memory_bytes"] is not None:
            gpu = GaugeMetricFamily("streamseg_gpu_memory_bytes", "GPU memory used by this process.")
            gpu.add_metric([], st["gpu_memory_bytes"])
            yield gpu
        yield from _overload_metrics(st)
        yield from _scene_metrics(st)
        yield from _privacy_metrics(st.get("privacy") or {})
        ready = GaugeMetricFamily("streamseg_ready", "1 when every source is live.")
        ready.add_metric([], 1.0 if st["ready"] else 0.0)
        yield ready
        info = GaugeMetricFamily("streamseg_build_info", "streamseg version.", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info


def _overload_metrics(st: dict[str, Any]) -> Iterator[Metric]:
    """The leak watchdog's growth per kind of memory, and the latency ladder's rung."""
    growth = GaugeMetricFamily(
        "streamseg_memory_growth_bytes_per_hour",
        "Memory growth over the leak watch's window (telemetry.leak_window_s), a robust slope.",
        labels=["kind"],
    )
    for kind, value in st["memory_growth_bytes_per_hour"].items():
        if value is not None:
            growth.add_metric([kind], value)
    yield growth
    degradation = st["degradation"] or {}
    level = GaugeMetricFamily(
        "streamseg_degradation_level", "Rung of the latency ladder (0: full quality or no --latency-budget)."
    )
    level.add_metric([], degradation.get("level", 0))
    yield level
    skipped = CounterMetricFamily(
        "streamseg_frames_skipped", "Frames left out by the latency ladder's striding.", labels=["source"]
    )
    for source, n in (degradation.get("skipped") or {}).items():
        skipped.add_metric([source], n)
    yield skipped


def _scene_metrics(st: dict[str, Any]) -> Iterator[Metric]:
    """Zones, lines and event sinks (``pipeline/scene_step``, ``pipeline/events``)."""
    scene = st.get("scene") or {}
    objects = GaugeMetricFamily(
        "streamseg_zone_objects",
        "Objects in each zone on the last frame.",
        labels=["source", "zone", "class"],
    )
    crossings = CounterMetricFamily(
        "streamseg_line_crossings",
        "Objects that crossed each line, once per track and direction.",
        labels=["source", "line", "direction", "class"],
    )
    for source, info in (scene.get("sources") or {}).items():
        for zone, by_class in info["zones"].items():
            objects.add_metric([source, zone, ""], float(sum(by_class.values())))
            for cls, n in by_class.items():
                objects.add_metric([source, zone, cls], float(n))
        for line, rows in info["lines"].items():
            for row in rows:
                crossings.add_metric([source, line, row["direction"], row["class"]], float(row["count"]))
    yield objects
    yield crossings
    dwell = HistogramMetricFamily(
        "streamseg_zone_dwell_seconds",
        "How long objects stayed in a zone, observed when they left it.",
        labels=["source", "zone", "class"],
    )
    for h in scene.get("dwell") or []:
        cumulative, buckets = 0.0, []
        for bound, count in zip([*h["buckets"], float("inf")], h["counts"], strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
        dwell.add_metric([h["source"], h["zone"], h["class"]], buckets, h["sum"])
    yield dwell
    sinks = (st.get("events") or {}).get("sinks") or []
    dropped = CounterMetricFamily(
        "streamseg_events_dropped",
        "Events an event sink dropped (queue full, refused, or closed).",
        labels=["sink"],
    )
    delivered = CounterMetricFamily(
        "streamseg_events_delivered", "Events an event sink delivered.", labels=["sink"]
    )
    up = GaugeMetricFamily("streamseg_event_sink_up", "1 while an event sink is connected.", labels=["sink"])
    totals: dict[str, list[float]] = {}
    for s in sinks:
        row = totals.setdefault(s["sink"], [0.0, 0.0, 1.0])
        row[0] += s["dropped"]
        row[1] += s["delivered"]
        row[2] = min(row[2], 1.0 if s["state"] == "connected" else 0.0)
    for sink, (n_dropped, n_delivered, is_up) in totals.items():
        dropped.add_metric([sink], n_dropped)
        delivered.add_metric([sink], n_delivered)
        up.add_metric([sink], is_up)
    yield from (dropped, delivered, up)
    yield from _output_metrics(st)
    retention = st.get("retention")
    if retention:
        kept = GaugeMetricFamily(
            "streamseg_retained_bytes", "Bytes of recordings and snapshots kept on disk."
        )
        kept.add_metric([], float(retention["kept_bytes"]))
        deleted = CounterMetricFamily(
            "streamseg_retention_deleted_files", "Recordings and snapshots deleted by --retain/--retain-size."
        )
        deleted.add_metric([], float(retention["deleted_files"]))
        yield from (kept, deleted)


def _selection_metrics(sources: list[dict[str, Any]]) -> Iterator[Metric]:
    """Which frames the network saw per source (detect rate, motion), motion, and the network's cost."""
    rates = GaugeMetricFamily(
        "streamseg_inference_fps",
        "Frames per second by how they got their result: inferred (the network saw it), carried (an "
        "earlier result moved on: detect rate), still (no motion and no live track).",
        labels=["source", "inference"],
    )
    motion = GaugeMetricFamily(
        "streamseg_motion_share", "Share of recent frames with motion (motion on).", labels=["source"]
    )
    network = GaugeMetricFamily(
        "streamseg_network_seconds_per_second",
        "Seconds of network time a camera costs per second of its video.",
        labels=["source"],
    )
    for s in sources:
        for kind in ("inferred", "carried", "still"):
            rates.add_metric([s["name"], kind], float(s.get(f"{kind}_fps") or 0.0))
        if s.get("motion_share") is not None:
            motion.add_metric([s["name"]], float(s["motion_share"]))
        network.add_metric([s["name"]], float(s.get("network_ms_per_s") or 0.0) / 1e3)
    yield from (rates, motion, network)


def _privacy_metrics(privacy: dict[str, Any]) -> Iterator[Metric]:
    """What privacy hid per source (``privacy/step``), and how often it had to fall back: objects hidden
    where last seen or predicted, frames without inference hidden with the latest masks, whole frames."""
    hidden = CounterMetricFamily(
        "streamseg_privacy_hidden_objects", "Objects hidden by their own masks.", labels=["source"]
    )
    fallbacks = CounterMetricFamily(
        "streamseg_privacy_fallbacks",
        "Privacy fallbacks: ghost (an object hidden where predicted), carried (a frame without inference "
        "hidden with the latest masks), full_frame (no inference for longer than max_gap).",
        labels=["source", "kind"],
    )
    for source, p in privacy.items():
        hidden.add_metric([source], float(p["hidden_objects"]))
        fallbacks.add_metric([source, "ghost"], float(p["ghosts"]))
        fallbacks.add_metric([source, "carried"], float(p["carried_frames"]))
        fallbacks.add_metric([source, "full_frame"], float(p["full_frames"]))
    yield from (hidden, fallbacks)


def _output_metrics(st: dict[str, Any]) -> Iterator[Metric]:
    """Publishers (``--publish``), clips (``--clips``), disk used and the live video per source."""
    up = GaugeMetricFamily(
        "streamseg_publish_up", "1 while a source's publisher is connected.", labels=["source"]
    )
    sent = CounterMetricFamily("streamseg_publish_packets", "Packets published.", labels=["source"])
    dropped = CounterMetricFamily(
        "streamseg_publish_dropped_packets",
        "Packets not published (server down or too slow).",
        labels=["source"],
    )
    for source, p in (st.get("publish") or {}).items():
        up.add_metric([source], 1.0 if p["state"] == "connected" else 0.0)
        sent.add_metric([source], float(p["sent"]))
        dropped.add_metric([source], float(p["dropped"]))
    clips = CounterMetricFamily(
        "streamseg_clips", "Event clips written (the one being written included).", labels=["source"]
    )
    for source, n in (st.get("clips") or {}).items():
        clips.add_metric([source], float(n))
    disk = GaugeMetricFamily(
        "streamseg_disk_bytes",
        "Bytes of a source's recordings, clips and snapshots on disk.",
        labels=["source"],
    )
    for source, n in (st.get("disk") or {}).items():
        disk.add_metric([source], float(n))
    yield from (up, sent, dropped, clips, disk)
    yield from _live_metrics(st.get("live") or {"sources": {}})


def _live_metrics(live: dict[str, Any]) -> Iterator[Metric]:
    """The dashboard's live video per source: viewers now, fragments viewers were too slow for."""
    viewers = GaugeMetricFamily("streamseg_live_viewers", "Live video viewers now.", labels=["source"])
    dropped = CounterMetricFamily(
        "streamseg_live_dropped_fragments",
        "Live video frames not sent to a viewer that fell behind.",
        labels=["source"],
    )
    for source, v in live["sources"].items():
        viewers.add_metric([source], float(v["viewers"]))
        dropped.add_metric([source], float(v["dropped"]))
    yield from (viewers, dropped)
