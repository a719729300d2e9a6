"""Prometheus exposition from one pipeline's own registry."""

from __future__ import annotations

from prometheus_client import REGISTRY

from streamseg.telemetry import Telemetry
from streamseg.web.metrics import PipelineMetrics
from streamseg.web.preview import PreviewSink
from streamseg.web.status import RunInfo, StatusBuilder
from tests.telemetry.fakes import FakeMemory


def _metrics(**memory: int) -> tuple[Telemetry, PipelineMetrics]:
    telemetry = Telemetry(system=FakeMemory(**memory), gpu_index=None)
    status = StatusBuilder(telemetry.snapshot, PreviewSink(), RunInfo(("a",), 4, 4.0))
    metrics = PipelineMetrics(status.status, 4)
    telemetry.add_observer(metrics)
    return telemetry, metrics


def test_histograms_see_every_sample_and_gpu_memory_when_present() -> None:
    telemetry, metrics = _metrics(rss_bytes=100, gpu_memory_bytes=123456789)
    for seconds in (0.004, 0.02, 0.3):
        telemetry.record_stage("infer", seconds, "a")
    telemetry.record_batch(3)
    telemetry.count_frame("a", "processed", 5)
    text = metrics.exposition().decode()
    assert 'streamseg_stage_seconds_bucket{le="0.005",stage="infer"} 1.0' in text
    assert 'streamseg_stage_seconds_count{stage="infer"} 3.0' in text
    assert 'streamseg_batch_size_bucket{le="3.0"} 1.0' in text
    assert 'streamseg_frames_total{source="a"} 5.0' in text
    assert "streamseg_gpu_memory_bytes 1.23456789e+08" in text
    assert 'streamseg_source_up{source="a"} 0.0' in text  # no frame shown yet: connecting
    assert 'streamseg_source_health{source="a",state="connecting"} 1.0' in text


def test_each_pipeline_has_its_own_registry() -> None:
    _, one = _metrics()
    _, two = _metrics()  # a second pipeline in the same process: no "Duplicated timeseries"
    assert one.registry is not two.registry
    assert REGISTRY.get_sample_value("streamseg_frames_total", {"source": "a"}) is None


def test_zones_lines_event_sinks_and_retention() -> None:
    telemetry, metrics = _metrics()
    scene = {
        "sources": {
            "a": {
                "tracker": "bytetrack",
                "track_session": "s1",
                "zones": {"door": {"person": 2, "car": 1}},
                "lines": {"gate": [{"direction": "in", "class": "person", "count": 3}]},
            }
        },
        "dwell": [
            {
                "source": "a",
                "zone": "door",
                "class": "person",
                "buckets": [1.0, 5.0],
                "counts": [1, 2, 1],
                "sum": 12.5,
            }
        ],
    }
    telemetry.register_section("scene", lambda: scene)
    sinks = [
        {"sink": "mqtt", "target": "mqtt://u:***@h", "state": "reconnecting", "delivered": 7, "dropped": 2}
    ]
    telemetry.register_section("events", lambda: {"sinks": sinks})
    telemetry.register_section(
        "retention", lambda: {"kept_bytes": 5000, "kept_files": 2, "deleted_files": 4, "deleted_bytes": 9}
    )
    text = metrics.exposition().decode()
    for line in (
        'streamseg_zone_objects{class="",source="a",zone="door"} 3.0',
        'streamseg_zone_objects{class="car",source="a",zone="door"} 1.0',
        'streamseg_line_crossings_total{class="person",direction="in",line="gate",source="a"} 3.0',
        'streamseg_zone_dwell_seconds_bucket{class="person",le="1.0",source="a",zone="door"} 1.0',
        'streamseg_zone_dwell_seconds_bucket{class="person",le="5.0",source="a",zone="door"} 3.0',
        'streamseg_zone_dwell_seconds_bucket{class="person",le="+Inf",source="a",zone="door"} 4.0',
        'streamseg_zone_dwell_seconds_sum{class="person",source="a",zone="door"} 12.5',
        'streamseg_events_dropped_total{sink="mqtt"} 2.0',
        'streamseg_event_sink_up{sink="mqtt"} 0.0',
        "streamseg_retained_bytes 5000.0",
        "streamseg_retention_deleted_files_total 4.0",
    ):
        assert line in text, line


def test_privacy_hidden_objects_and_each_fallback_per_source() -> None:
    telemetry, metrics = _metrics()
    privacy = {
        "a": {
            "objects": ["person"],
            "areas": 1,
            "style": "blur",
            "hidden_objects": 40,
            "ghosts": 3,
            "carried_frames": 5,
            "full_frames": 2,
        }
    }
    telemetry.register_section("privacy", lambda: privacy)
    text = metrics.exposition().decode()
    for line in (
        'streamseg_privacy_hidden_objects_total{source="a"} 40.0',
        'streamseg_privacy_fallbacks_total{kind="ghost",source="a"} 3.0',
        'streamseg_privacy_fallbacks_total{kind="carried",source="a"} 5.0',
        'streamseg_privacy_fallbacks_total{kind="full_frame",source="a"} 2.0',
    ):
        assert line in text, line
