"""Telemetry facade: snapshot content, JSON-serialisability, memory fields, and thread safety."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from streamseg.telemetry import STAGES, Telemetry
from tests.telemetry.fakes import FakeClock, FakeMemory


def test_snapshot_layout_with_injected_clock() -> None:
    clock = FakeClock()
    tel = Telemetry(clock=clock, system=FakeMemory(rss_bytes=100, rss_peak_bytes=150))
    depth = {"frames:cam0": 2}
    tel.register_queue("frames:cam0", lambda: depth["frames:cam0"])
    for i in range(60):  # cam0 at 20 fps for 3 s, cam1 at 10 fps
        clock.advance(0.05)
        tel.count_frame("cam0", "captured")
        tel.count_frame("cam0", "processed")
        if i % 2:
            tel.count_frame("cam1", "captured")
            tel.count_frame("cam1", "processed")
        if i % 10 == 0:
            tel.count_frame("cam0", "dropped")
        tel.record_stage("infer", 0.010 + i * 1e-4, source="cam0")
        tel.record_stage("preprocess", 0.002)
    tel.record_batch(4)
    tel.record_batch(2)
    clock.advance(0.01)  # off the 50 ms grid, so no event sits exactly on the window's edge

    snap = tel.snapshot()
    assert json.loads(json.dumps(snap, allow_nan=False)) == snap
    assert snap["uptime_s"] == pytest.approx(3.01)
    assert isinstance(snap["timestamp"], float)
    cam0, cam1 = snap["sources"]["cam0"], snap["sources"]["cam1"]
    assert (cam0["captured"], cam0["processed"], cam0["dropped"]) == (60, 60, 6)
    assert cam0["fps"] == pytest.approx(20.0, rel=0.02)
    assert cam0["avg_fps"] == pytest.approx(20.0)
    assert cam0["capture_fps"] == pytest.approx(20.0, rel=0.02)
    assert cam1["fps"] == pytest.approx(10.0, rel=0.05)
    assert snap["total"]["processed"] == 90
    assert snap["total"]["dropped"] == 6
    assert snap["total"]["fps"] == pytest.approx(30.0, rel=0.05)
    assert list(snap["stages"]) == ["preprocess", "infer"]  # pipeline order, not insertion order
    infer = np.array([0.010 + i * 1e-4 for i in range(60)]) * 1e3
    assert snap["stages"]["infer"]["count"] == 60
    assert snap["stages"]["infer"]["p50_ms"] == pytest.approx(np.percentile(infer, 50), abs=1e-3)
    assert snap["stages"]["infer"]["p99_ms"] == pytest.approx(np.percentile(infer, 99), abs=1e-3)
    assert cam0["stages"]["infer"]["count"] == 60
    assert "stages" not in cam1
    assert snap["queues"] == {"frames:cam0": 2}
    assert snap["batch"] == {"batches": 2, "mean_size": 3.0, "recent_mean_size": 3.0}
    assert snap["rss_bytes"] == 100
    assert snap["rss_peak_bytes"] == 150
    assert "gpu_memory_bytes" not in snap


def test_fps_shortcut_and_unknown_source() -> None:
    clock = FakeClock()
    tel = Telemetry(clock=clock, system=FakeMemory())
    assert tel.fps() == 0.0
    assert tel.fps("nope") == 0.0
    for _ in range(50):
        clock.advance(0.1)
        tel.count_frame("a")
        tel.count_frame("b")
    assert tel.fps("a") == pytest.approx(10.0)
    assert tel.fps() == pytest.approx(20.0)


def test_gpu_field_only_when_present() -> None:
    snap = Telemetry(system=FakeMemory(rss_bytes=1, gpu_memory_bytes=12345)).snapshot()
    assert snap["gpu_memory_bytes"] == 12345


def test_real_system_probe_has_rss_and_no_gpu_here() -> None:
    tel = Telemetry()
    try:
        snap = tel.snapshot()
    finally:
        tel.close()
    assert snap["rss_bytes"] > 10 * 2**20
    assert snap["rss_peak_bytes"] >= snap["rss_bytes"]
    json.dumps(snap, allow_nan=False)
    if not _nvml_works():
        assert "gpu_memory_bytes" not in snap


def test_empty_snapshot_is_valid() -> None:
    snap = Telemetry(system=FakeMemory()).snapshot()
    assert snap["sources"] == {}
    assert snap["stages"] == {}
    assert snap["queues"] == {}
    assert snap["total"]["processed"] == 0
    assert "batch" not in snap
    json.dumps(snap, allow_nan=False)


def test_record_stages_and_non_finite() -> None:
    tel = Telemetry(system=FakeMemory())
    tel.record_stages({"preprocess": 0.001, "infer": 0.02, "custom": 0.003}, source="s")
    tel.record_stage("infer", float("nan"))
    snap = tel.snapshot()
    assert list(snap["stages"]) == ["preprocess", "infer", "custom"]
    assert snap["stages"]["infer"]["count"] == 1
    assert list(snap["sources"]) == []  # stage samples alone do not count frames


def test_unknown_frame_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown frame kind"):
        Telemetry(system=FakeMemory()).count_frame("s", "lost")


def test_concurrent_recording_adds_up() -> None:
    tel = Telemetry(system=FakeMemory())
    n_threads, per_thread = 8, 2000
    start = threading.Barrier(n_threads + 1)

    def work(k: int) -> None:
        start.wait()
        source = f"s{k % 3}"
        for i in range(per_thread):
            tel.count_frame(source, "captured")
            tel.count_frame(source, "processed")
            tel.record_stage(STAGES[i % len(STAGES)], 0.001, source=source)
            tel.record_batch(1 + i % 4)
            if i % 100 == 0:
                tel.snapshot()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join(timeout=30)
    snap = tel.snapshot()
    total = n_threads * per_thread
    assert snap["total"]["captured"] == total
    assert snap["total"]["processed"] == total
    assert sum(s["processed"] for s in snap["sources"].values()) == total
    assert sum(st["count"] for st in snap["stages"].values()) == total
    per_source_stage_counts = sum(
        st["count"] for src in snap["sources"].values() for st in src["stages"].values()
    )
    assert per_source_stage_counts == total
    assert snap["batch"]["batches"] == total
    assert snap["batch"]["mean_size"] == pytest.approx(2.5)


def _nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:
        return False
