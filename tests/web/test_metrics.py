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
