"""The cluster's dashboard: the single-machine page and server, fed with every camera of the cluster.

Runs inside the controller actor, on its node. The status merges the groups' own status documents
(each camera with its ``group`` and ``node``); previews and metrics are fetched from the group that
runs the camera when a viewer or Prometheus asks, so only JPEGs and numbers cross the network.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from streamseg import __version__
from streamseg.cluster import metrics as cluster_metrics
from streamseg.config import Config
from streamseg.web.access import DEFAULT_HOST, DEFAULT_PORT, parse_listen, resolve_token
from streamseg.web.connections import ConnectionLimits
from streamseg.web.preview import Jpeg
from streamseg.web.server import DashboardServer
from streamseg.web.sources_api import GuardedControl, SourceControl
from streamseg.web.status import StatusBuilder

logger = logging.getLogger(__name__)


class ClusterView(SourceControl, Protocol):
    """What the dashboard needs of the controller (its methods, called in its own process)."""

    def status(self) -> dict[str, Any]: ...
    def group_statuses(self) -> list[tuple[str, dict[str, Any]]]: ...
    def running_groups(self) -> list[tuple[str, str, Any]]: ...
    def actor_of(self, camera: str) -> tuple[int, Any] | None: ...


FETCH_TIMEOUT_S = 3.0


def cluster_dashboard(controller: ClusterView, config: Config, token: str | None) -> DashboardServer:
    """Start the page, ``/metrics`` and the sources API for the whole cluster (raises ``DashboardError``)."""
    settings = config.dashboard
    address = parse_listen(settings.listen or f"{DEFAULT_HOST}:{DEFAULT_PORT}")
    token = resolve_token(address, token)  # off loopback, never without one (a roster that lost it)
    server = DashboardServer(
        address,
        token,
        ClusterStatus(controller, config),
        ClusterPreviews(controller, settings.preview_fps),
        ClusterMetrics(controller),
        settings.history_s,
        control=GuardedControl.for_run(controller, config, address),
        allowed_hosts=settings.allowed_hosts,
        file_roots=config.api.file_roots,
        limits=ConnectionLimits.of(settings),  # the cluster's page is bounded like a run's
    )
    return server.start()


def _remote_ray() -> Any:
    from streamseg.cluster.ray_support import require_ray  # noqa: PLC0415

    return require_ray()


class ClusterStatus:
    """``/api/status`` for the cluster: the page's document, each camera with its group and node."""

    def __init__(self, controller: ClusterView, config: Config) -> None:
        self._controller = controller
        self._config = config
        self._started = time.monotonic()

    def names(self) -> Sequence[str]:
        return [c["name"] for c in self._controller.status()["cameras"]]

    def point(self, status: dict[str, Any]) -> dict[str, Any]:
        return StatusBuilder.point(status)

    def status(self) -> dict[str, Any]:
        cameras = self._controller.status()["cameras"]
        named = self._controller.group_statuses()
        docs = [doc for _, doc in named]
        total = {
            k: sum(d["total"][k] for d in docs)
            for k in ("fps", "avg_fps", "processed", "dropped", "captured")
        }
        stages: dict[str, dict[str, float]] = {}
        for doc in docs:  # the slowest group per stage: a cluster is as late as its worst group
            for stage, v in doc["stages"].items():
                mine = stages.setdefault(stage, {"p50_ms": 0.0, "p99_ms": 0.0})
                mine["p50_ms"] = max(mine["p50_ms"], v["p50_ms"])
                mine["p99_ms"] = max(mine["p99_ms"], v["p99_ms"])
        batch = self._config.model.batch
        mean = sum(d["batch"]["recent_mean_size"] for d in docs) / len(docs) if docs else 0.0
        gpu = [d["gpu_memory_bytes"] for d in docs if d.get("gpu_memory_bytes") is not None]
        return {
            "version": __version__,
            "timestamp": round(time.time(), 3),
            "uptime_s": round(time.monotonic() - self._started, 3),
            "ready": bool(cameras) and all(c["health"] == "live" for c in cameras),
            "sources": cameras,
            "total": {k: round(v, 2) if isinstance(v, float) else v for k, v in total.items()},
            "stages": stages,
            "batch": {"max_size": batch, "recent_mean_size": mean, "fill": round(mean / batch, 3)},
            "queues": {f"{group}/{q}": depth for group, doc in named for q, depth in doc["queues"].items()},
            "rss_bytes": sum(d.get("rss_bytes") or 0 for d in docs) or None,
            "gpu_memory_bytes": sum(gpu) if gpu else None,
            "preview_fps": self._config.dashboard.preview_fps,
            "history_s": self._config.dashboard.history_s,
            # tracks and zone counts per camera, wherever its group runs; each group's event sinks
            "scene": {
                "sources": {k: v for d in docs for k, v in (d.get("scene") or {}).get("sources", {}).items()},
                "dwell": [h for d in docs for h in (d.get("scene") or {}).get("dwell", [])],
            },
            "privacy": {k: v for d in docs for k, v in (d.get("privacy") or {}).items()},
            "events": {
                "sinks": [
                    {**sink, "target": f"{group}: {sink['target']}"}
                    for group, doc in named
                    for sink in (doc.get("events") or {}).get("sinks", [])
                ]
            },
        }


class ClusterPreviews:
    """Preview JPEGs fetched from the group running the camera, at most ``max_fps`` per camera.

    Sequence numbers are the controller's own, so a viewer keeps receiving pictures after the camera's
    group moved to another node (whose numbering starts again at 1).
    """

    def __init__(self, controller: ClusterView, max_fps: float) -> None:
        self._controller = controller
        self.interval = 1.0 / max_fps
        self._cache: dict[str, Jpeg] = {}
        self._origin: dict[str, tuple[int, int]] = {}  # camera -> (group actor generation, its seq)
        self._fetched_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def ready_after(self, source: str, seq: int) -> float | None:
        cached = self._cache.get(source)
        if cached is not None and cached.seq > seq:
            return 0.0
        return max(0.0, self._fetched_at.get(source, -1e9) + self.interval - time.monotonic())

    def jpeg(self, source: str) -> Jpeg | None:
        with self._lock:
            if time.monotonic() - self._fetched_at.get(source, -1e9) < self.interval:
                return self._cache.get(source)
            self._fetched_at[source] = time.monotonic()
            found = self._controller.actor_of(source)
            if found is None:
                return self._cache.get(source)
            generation, actor = found
            ray = _remote_ray()
            try:
                got = ray.get(actor.preview.remote(source), timeout=FETCH_TIMEOUT_S)
            except (ray.exceptions.RayError, TimeoutError):
                return self._cache.get(source)
            if got is None:
                return self._cache.get(source)
            their_seq, frame_index, data = got
            if self._origin.get(source) == (generation, their_seq):
                return self._cache.get(source)
            self._origin[source] = (generation, their_seq)
            previous = self._cache.get(source)
            jpeg = Jpeg((previous.seq if previous else 0) + 1, frame_index, data)
            self._cache[source] = jpeg
            return jpeg


class ClusterMetrics:
    """``/metrics``: every running group's metrics labelled with ``node`` and ``group``, plus placement."""

    def __init__(self, controller: ClusterView) -> None:
        self._controller = controller

    def exposition(self) -> bytes:
        ray = _remote_ray()
        running = self._controller.running_groups()
        refs = [(name, node, actor.metrics.remote()) for name, node, actor in running]
        texts = []
        for name, node, ref in refs:
            try:
                texts.append((name, node, ray.get(ref, timeout=FETCH_TIMEOUT_S)))
            except (ray.exceptions.RayError, TimeoutError):
                logger.debug("group %s sent no metrics this time", name)
        status = self._controller.status()
        families = cluster_metrics.relabelled(texts)
        restarts = {g["name"]: g["restarts"] for g in status["groups"]}
        families += cluster_metrics.camera_families(status["cameras"], restarts)
        return cluster_metrics.exposition(families)
