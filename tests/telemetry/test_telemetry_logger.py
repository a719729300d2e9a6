"""TelemetryLogger: one JSON line per interval, prompt stop with a final line, clear errors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from streamseg.errors import OutputError
from streamseg.telemetry import Telemetry, TelemetryLogger
from tests.telemetry.fakes import FakeMemory


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_about_one_line_per_interval_and_stops_promptly(tmp_path: Path) -> None:
    tel = Telemetry(system=FakeMemory(rss_bytes=1))
    path = tmp_path / "telemetry.jsonl"
    interval, duration = 0.05, 0.5
    logger = TelemetryLogger(tel, path, interval=interval).start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < duration:
        tel.count_frame("cam0")
        tel.record_stage("infer", 0.01)
        time.sleep(0.005)
    started_stop = time.monotonic()
    final = logger.stop(timeout=2.0)
    assert time.monotonic() - started_stop < 0.5
    lines = _lines(path)
    expected = duration / interval + 1  # ticks + the final snapshot
    assert expected * 0.5 <= len(lines) <= expected + 2
    assert lines[-1] == final
    assert final["sources"]["cam0"]["processed"] == tel.snapshot()["sources"]["cam0"]["processed"]
    uptimes = [float(line["uptime_s"]) for line in lines]  # type: ignore[arg-type]
    assert uptimes == sorted(uptimes)
    assert not any(t.name == "telemetry-logger" for t in threading.enumerate())
    assert logger.error is None


def test_long_interval_still_stops_at_once_with_final_line(tmp_path: Path) -> None:
    tel = Telemetry(system=FakeMemory())
    path = tmp_path / "t.jsonl"
    with TelemetryLogger(tel, path, interval=60.0):
        tel.count_frame("a")
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 1.0
    [line] = _lines(path)
    assert line["total"]["processed"] == 1  # type: ignore[index]


def test_unwritable_path_raises_output_error(tmp_path: Path) -> None:
    bad = tmp_path / "no" / "such" / "dir.jsonl"
    logger = TelemetryLogger(Telemetry(system=FakeMemory()), bad)
    with pytest.raises(OutputError) as info:
        logger.start()
    assert str(bad) in str(info.value)
    assert "\n" not in str(info.value)


def test_stop_without_start_returns_a_snapshot(tmp_path: Path) -> None:
    snap = TelemetryLogger(Telemetry(system=FakeMemory()), tmp_path / "x.jsonl").stop()
    assert "total" in snap
    assert not (tmp_path / "x.jsonl").exists()


def test_rejects_bad_interval(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TelemetryLogger(Telemetry(system=FakeMemory()), tmp_path / "x.jsonl", interval=0)
