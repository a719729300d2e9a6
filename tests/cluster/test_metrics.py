"""The controller's /metrics: every group's own exposition merged, each sample labelled with its node
and group, plus where each camera is placed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamseg.cluster.metrics import camera_families, exposition, relabelled


def group_exposition(source: str, frames: int) -> bytes:
    registry = CollectorRegistry()
    counter = Counter("streamseg_frames", "Frames processed.", ["source"], registry=registry)
    counter.labels(source).inc(frames)
    stage = Histogram(
        "streamseg_stage_seconds", "Stage time.", ["stage"], buckets=(0.1, 1.0), registry=registry
    )
    stage.labels("infer").observe(0.05)
    return generate_latest(registry)


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_groups_merged_with_node_and_group_labels() -> None:
    text = exposition(
        relabelled([("g1", "aa11", group_exposition("cam0", 7)), ("g2", "bb22", group_exposition("cam1", 3))])
    )
    got = samples(text)
    assert (
        got[("streamseg_frames_total", frozenset({"source": "cam0", "node": "aa11", "group": "g1"}.items()))]
        == 7
    )
    assert (
        got[("streamseg_frames_total", frozenset({"source": "cam1", "node": "bb22", "group": "g2"}.items()))]
        == 3
    )
    bucket = frozenset({"stage": "infer", "le": "0.1", "node": "bb22", "group": "g2"}.items())
    assert got[("streamseg_stage_seconds_bucket", bucket)] == 1
    assert text.count(b"# TYPE streamseg_frames_total counter") == 1  # one family, samples of both groups
    assert text.count(b"# TYPE streamseg_stage_seconds histogram") == 1


def test_a_group_with_garbled_metrics_is_skipped() -> None:
    text = exposition(
        relabelled([("g1", "aa", b"this is { not prometheus"), ("g2", "bb", group_exposition("c", 1))])
    )
    assert b'group="g2"' in text and b'group="g1"' not in text


def test_placement_of_every_camera() -> None:
    cameras = [
        {"name": "cam0", "group": "g1", "node": "aa11", "health": "live"},
        {"name": "cam1", "group": "g2", "node": None, "health": "unplaced"},
    ]
    got = samples(exposition(camera_families(cameras, {"g1": 0, "g2": 2})))
    state = "streamseg_cluster_camera_state"
    assert (
        got[(state, frozenset({"source": "cam0", "group": "g1", "node": "aa11", "state": "live"}.items()))]
        == 1
    )
    assert (
        got[(state, frozenset({"source": "cam1", "group": "g2", "node": "", "state": "unplaced"}.items()))]
        == 1
    )
    assert (
        got[(state, frozenset({"source": "cam1", "group": "g2", "node": "", "state": "live"}.items()))] == 0
    )
    assert got[("streamseg_cluster_group_restarts", frozenset({"group": "g2"}.items()))] == 2
