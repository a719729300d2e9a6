"""The leak watchdog's arithmetic: a robust slope that follows a leak and ignores noise and steps, and one
warning only when growth over the whole window stays above the threshold."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from streamseg.telemetry import Telemetry
from streamseg.telemetry.leak import PERSIST, WARMUP_BUCKETS, LeakWatch, sample_interval
from streamseg.telemetry.trend import BUCKETS, GrowthTrend, theil_sen_slope
from streamseg.util.periodic import Every
from tests.telemetry.fakes import FakeMemory

MiB = 2**20
WINDOW = 1800.0  # the default: buckets of a minute
SAMPLE = 5.0


def feed(watch: LeakWatch, minutes: float, rss: object, start: float = 0.0) -> float:
    """Readings every 5 s for ``minutes``; ``rss(t)`` gives bytes at second t. Returns the end time."""
    t = start
    while t < start + minutes * 60:
        watch.observe(t, {"rss_bytes": int(rss(t))})  # type: ignore[operator]
        t += SAMPLE
    return t


def test_theil_sen_follows_a_line_and_ignores_a_spike() -> None:
    t = np.arange(30.0)
    v = 3.0 * t + 7
    assert theil_sen_slope(t, v) == pytest.approx(3.0)
    v[10] += 1e6  # one wild reading
    assert theil_sen_slope(t, v) == pytest.approx(3.0)


def test_a_step_off_the_middle_of_the_window_reads_as_no_growth() -> None:
    t = np.arange(30.0)
    v = np.where(t >= 8, 50.0, 0.0)  # memory stepped up once (a new decoder), a quarter into the window
    assert theil_sen_slope(t, v) == 0.0


def test_trend_buckets_fill_and_slide_in_constant_memory() -> None:
    trend = GrowthTrend(window_s=60.0)  # buckets of 2 s
    for i in range(1000):  # 500 s of readings every 0.5 s, growing 1 byte/s
        trend.add(i * 0.5, i * 0.5)
    assert trend.full and trend.points == BUCKETS
    assert trend.slope() == pytest.approx(1.0)
    assert len(trend._bucket) == 64  # samples per bucket are overwritten, never appended


def test_trend_needs_a_few_buckets_and_survives_a_gap() -> None:
    trend = GrowthTrend(window_s=60.0)
    assert trend.add(0.0, 1.0) is False and trend.slope() is None
    for t in (2.0, 4.0, 6.0, 8.0, 10.0):
        assert trend.add(t, t) is True  # each closes the bucket before it
    assert trend.slope() == pytest.approx(1.0)
    trend.add(1000.0, 1000.0)  # the process was suspended for 16 minutes
    assert trend.slope() == pytest.approx(1.0)


def test_a_leak_is_warned_once_after_it_stays_over_the_threshold(caplog: pytest.LogCaptureFixture) -> None:
    watch = LeakWatch(warn_mib_per_hour=20, window_s=WINDOW)
    leak = 60 * MiB / 3600  # 60 MiB an hour
    with caplog.at_level(logging.WARNING, logger="streamseg.telemetry.leak"):
        full = 30 + WARMUP_BUCKETS  # minutes: the first two are left out, then the window fills
        feed(watch, full, lambda t: 300 * MiB + leak * t)  # the window is not full yet: no warning
        assert not caplog.records
        growth = watch.growth()["rss"]
        assert growth is not None and growth == pytest.approx(60 * MiB, rel=0.02)
        end = feed(watch, PERSIST + 1, lambda t: 300 * MiB + leak * t, start=full * 60)
        assert watch.warned == {"rss"}
        feed(watch, 20, lambda t: 300 * MiB + leak * t, start=end)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "RSS +60.0 MiB/h over the last 30 min" in warnings[0]
    assert "telemetry.leak_warn_mib_per_hour" in warnings[0]


def test_the_first_minutes_are_warm_up_not_a_trend() -> None:
    watch = LeakWatch(warn_mib_per_hour=20, window_s=WINDOW)
    # 160 MiB taken in the first minute (model, decoders, encoders), then flat for ten minutes
    feed(watch, 10, lambda t: 300 * MiB if t > 60 else 140 * MiB + t / 60 * 160 * MiB)
    assert watch.growth()["rss"] == 0.0


def test_noise_and_a_one_time_step_never_warn(caplog: pytest.LogCaptureFixture) -> None:
    """A healthy run: +-8 MiB of allocator noise, and 40 MiB taken once after 20 minutes."""
    rng = np.random.default_rng(1)
    watch = LeakWatch(warn_mib_per_hour=20, window_s=WINDOW)
    biggest = 0.0
    t = 0.0
    with caplog.at_level(logging.WARNING, logger="streamseg.telemetry.leak"):
        while t < 4 * 3600:
            step = 40 * MiB if t >= 20 * 60 else 0
            watch.observe(t, {"rss_bytes": int(300 * MiB + step + rng.uniform(-8, 8) * MiB)})
            growth = watch.growth().get("rss")
            if growth is not None and t > WINDOW:
                biggest = max(biggest, growth)
            t += SAMPLE
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert watch.warned == frozenset()
    assert biggest > 20 * MiB  # the step did tip the whole window's slope for a while ...
    # ... but only ever in one half of the window: no warning


def test_the_watch_rearms_when_growth_stops(caplog: pytest.LogCaptureFixture) -> None:
    watch = LeakWatch(warn_mib_per_hour=20, window_s=WINDOW)
    leak = 100 * MiB / 3600
    with caplog.at_level(logging.INFO, logger="streamseg.telemetry.leak"):
        end = feed(watch, 40, lambda t: 300 * MiB + leak * t)
        assert watch.warned == {"rss"}
        plateau = 300 * MiB + leak * end
        end = feed(watch, 40, lambda t: plateau, start=end)  # fixed: flat for 40 minutes
        assert watch.warned == frozenset()
        feed(watch, 45, lambda t: plateau + leak * (t - end), start=end)  # leaking again
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "INFO", "WARNING"], [r.getMessage() for r in caplog.records]


def test_zero_threshold_reports_growth_but_never_warns(caplog: pytest.LogCaptureFixture) -> None:
    watch = LeakWatch(warn_mib_per_hour=0, window_s=WINDOW)
    with caplog.at_level(logging.WARNING):
        feed(watch, 60, lambda t: 300 * MiB + 1000 * t)
    assert watch.growth()["rss"] == pytest.approx(3.6e6, rel=0.01) and not caplog.records


def test_gpu_memory_is_watched_only_where_it_is_read() -> None:
    watch = LeakWatch(warn_mib_per_hour=20, window_s=60)
    for i in range(200):
        watch.observe(i * 0.5, {"rss_bytes": 100, "gpu_memory_bytes": 1000 + i})
    assert set(watch.growth()) == {"rss", "gpu"} and watch.growth()["gpu"] == pytest.approx(7200)
    cpu = LeakWatch(warn_mib_per_hour=20, window_s=60)
    cpu.observe(0.0, {"rss_bytes": 100})
    assert "gpu" not in cpu.growth()


def test_housekeeping_thread_runs_until_stopped_and_survives_its_errors() -> None:
    calls: list[float] = []

    def work() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise RuntimeError("one bad reading")

    every = Every(0.01, work, "test-every", at_start=True).start()
    deadline = time.monotonic() + 10
    while len(calls) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    every.stop()
    assert len(calls) >= 5 and not every.alive


def test_sample_interval_scales_with_the_window() -> None:
    assert sample_interval(1800) == 5.0 and sample_interval(60) == pytest.approx(60 / 30 / 12)


def test_telemetry_reports_growth_while_watching() -> None:
    memory = FakeMemory(rss_bytes=1000)
    telemetry = Telemetry(system=memory, gpu_index=None)
    assert "memory_growth_bytes_per_hour" not in telemetry.snapshot()
    watch = telemetry.watch_memory(20, 6)
    assert telemetry.watch_memory(20, 6) is watch  # one thread, however often it is asked
    deadline = time.monotonic() + 10
    while telemetry.snapshot()["memory_growth_bytes_per_hour"].get("rss") is None:
        memory.values["rss_bytes"] += 1000
        assert time.monotonic() < deadline
        time.sleep(0.01)
    telemetry.close()
    assert not any(t.name == "memory-watch" and t.is_alive() for t in threading.enumerate())
    assert telemetry.snapshot()["memory_growth_bytes_per_hour"]["rss"] > 0  # kept after the stop
