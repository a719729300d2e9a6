"""One Prometheus endpoint for the whole cluster: every group's metrics with ``node`` and ``group`` labels.

Why the controller aggregates instead of each group being scraped: groups move between nodes (and
ports) whenever a node dies, so per-group targets would need service discovery that follows Ray's
placement; one target on the controller's node never moves, and it also reports what no group can,
such as cameras that no node runs (``unplaced``). The cost is one small call per group per scrape.
A group started again on another node has a new ``node`` label, so its counters start a new series
instead of appearing to go backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from streamseg.web.status import HEALTH_STATES

logger = logging.getLogger(__name__)

CLUSTER_STATES = (*HEALTH_STATES, "unplaced")


def relabelled(expositions: Iterable[tuple[str, str, bytes]]) -> list[Metric]:
    """Families of every ``(group, node, text)`` exposition merged by name, each sample labelled."""
    families: dict[str, Metric] = {}
    for group, node, text in expositions:
        try:
            parsed = list(text_string_to_metric_families(text.decode("utf-8")))
        except ValueError:
            logger.warning("group %s sent metrics that do not parse; skipped", group)
            continue
        for family in parsed:
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type)
            for sample in family.samples:
                labels = {**sample.labels, "node": node, "group": group}
                merged.add_sample(sample.name, labels, sample.value, sample.timestamp)
    return list(families.values())


def camera_families(cameras: list[dict[str, Any]], restarts: dict[str, int]) -> list[Metric]:
    """What only the controller knows: where each camera is placed, and how often groups were restarted."""
    placed = GaugeMetricFamily(
        "streamseg_cluster_camera_state",
        "1 for the camera's current state (unplaced: no node runs its group).",
        labels=["source", "group", "node", "state"],
    )
    for camera in cameras:
        for state in CLUSTER_STATES:
            value = 1.0 if camera["health"] == state else 0.0
            placed.add_metric([camera["name"], camera["group"], camera["node"] or "", state], value)
    restarted = GaugeMetricFamily(
        "streamseg_cluster_group_restarts",
        "Times the group was started again after its actor or node died.",
        labels=["group"],
    )
    for group, n in restarts.items():
        restarted.add_metric([group], n)
    return [placed, restarted]


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families

    def describe(self) -> list[Metric]:
        return []


def exposition(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)
