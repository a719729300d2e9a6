"""Meters: percentiles against numpy, windowed and whole-run rates with an injected clock."""

from __future__ import annotations

import numpy as np
import pytest

from streamseg.telemetry.meters import Gauges, RateMeter, SampleMeter, SourceCounters
from tests.telemetry.fakes import FakeClock


def test_sample_meter_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    samples = rng.exponential(0.02, 500)
    meter = SampleMeter(window=1024)
    for v in samples:
        meter.record(float(v))
    s = meter.summary()
    assert s is not None
    assert s.count == 500
    assert s.p50 == pytest.approx(np.percentile(samples, 50))
    assert s.p99 == pytest.approx(np.percentile(samples, 99))
    assert s.mean == pytest.approx(samples.mean())
    assert s.run_mean == pytest.approx(samples.mean())
    assert s.max == pytest.approx(samples.max())


def test_sample_meter_window_keeps_recent_but_counts_all() -> None:
    meter = SampleMeter(window=100)
    values = np.arange(1, 301, dtype=float)
    for v in values:
        meter.record(float(v))
    s = meter.summary()
    assert s is not None
    recent = values[-100:]
    assert s.count == 300
    assert s.run_mean == pytest.approx(values.mean())
    assert s.mean == pytest.approx(recent.mean())
    assert s.p50 == pytest.approx(np.percentile(recent, 50))
    assert s.p99 == pytest.approx(np.percentile(recent, 99))
    assert s.max == 300.0


def test_sample_meter_known_values() -> None:
    meter = SampleMeter()
    for v in [1.0, 2.0, 3.0, 4.0]:
        meter.record(v)
    s = meter.summary()
    assert s is not None
    assert (s.p50, s.mean, s.max) == (2.5, 2.5, 4.0)
    assert s.p99 == pytest.approx(3.97)


def test_empty_sample_meter() -> None:
    assert SampleMeter().summary() is None
    with pytest.raises(ValueError):
        SampleMeter(window=0)


def test_rate_steady_state_uses_the_window() -> None:
    clock = FakeClock()
    rate = RateMeter(clock, window_s=2.0)
    for _ in range(100):  # 10 s at 10 fps
        clock.advance(0.1)
        rate.add()
    assert rate.rate() == pytest.approx(10.0, rel=0.01)
    assert rate.run_rate() == pytest.approx(10.0)
    for _ in range(100):  # speeds up to 25 fps: the window follows within 2 s, the run average lags
        clock.advance(0.04)
        rate.add()
    assert rate.rate() == pytest.approx(25.0, rel=0.02)
    assert rate.run_rate() == pytest.approx(199 / (9.9 + 4.0))
    assert rate.total == 200


def test_rate_decays_when_events_stop() -> None:
    clock = FakeClock()
    rate = RateMeter(clock, window_s=2.0)
    for _ in range(50):
        clock.advance(0.1)
        rate.add()
    clock.advance(1.0)
    assert rate.rate() == pytest.approx(5.0, rel=0.05)  # half the window is empty
    clock.advance(1.5)
    assert rate.rate() == 0.0
    assert rate.run_rate() == pytest.approx(10.0)  # whole-run rate is over the active span


def test_rate_before_the_window_fills() -> None:
    clock = FakeClock()
    rate = RateMeter(clock, window_s=2.0)
    assert rate.rate() == 0.0
    rate.add()
    assert rate.rate() == 0.0  # one event is no rate (and certainly not "infinite fps")
    for _ in range(3):
        clock.advance(0.05)
        rate.add()
    assert rate.rate() == pytest.approx(20.0)


def test_rate_counts_batches() -> None:
    clock = FakeClock()
    rate = RateMeter(clock, window_s=2.0)
    for _ in range(30):
        clock.advance(0.2)
        rate.add(4)  # 4 frames every 0.2 s = 20 fps
    assert rate.rate() == pytest.approx(20.0)
    assert rate.run_rate() == pytest.approx(20.0)
    assert rate.total == 120


def test_rate_memory_is_bounded_at_high_rates() -> None:
    clock = FakeClock()
    rate = RateMeter(clock, window_s=2.0)
    for _ in range(100_000):  # 10 kHz for 10 s
        clock.advance(0.0001)
        rate.add()
    assert len(rate._buckets) <= 201
    assert rate.rate() == pytest.approx(10_000, rel=0.01)


def test_source_counters_reject_unknown_kind() -> None:
    counters = SourceCounters(FakeClock(), 2.0)
    with pytest.raises(ValueError, match="unknown frame kind"):
        counters.meter("lost")


def test_gauges_sample_at_read_time_and_survive_failures() -> None:
    gauges = Gauges()
    depth = [3]
    gauges.register("q", lambda: depth[0])

    def broken() -> int:
        raise RuntimeError("gone")

    gauges.register("broken", broken)
    assert gauges.sample() == {"q": 3, "broken": None}
    depth[0] = 5
    assert gauges.sample()["q"] == 5
    gauges.unregister("broken")
    assert gauges.sample() == {"q": 5}
