"""summary_table: a readable fixed-width report naming every source and stage."""

from __future__ import annotations

from streamseg.telemetry import Telemetry, summary_table
from tests.telemetry.fakes import FakeClock, FakeMemory


def _snapshot(gpu: bool) -> dict[str, object]:
    clock = FakeClock()
    memory = FakeMemory(rss_bytes=300 * 2**20, rss_peak_bytes=400 * 2**20)
    if gpu:
        memory.values["gpu_memory_bytes"] = 2 * 2**30
    tel = Telemetry(clock=clock, system=memory)
    for i in range(40):
        clock.advance(0.1)
        for source in ("street_cam", "lobby"):
            tel.count_frame(source, "captured")
            tel.count_frame(source, "processed")
        if i % 8 == 0:
            tel.count_frame("lobby", "dropped")
        for stage in ("queue_wait", "infer", "end_to_end"):
            tel.record_stage(stage, 0.005 * (1 + i % 4))
        tel.record_batch(2)
    return tel.snapshot()


def test_table_names_sources_stages_and_totals() -> None:
    text = summary_table(_snapshot(gpu=False))
    lines = text.splitlines()
    for word in ("street_cam", "lobby", "total", "queue_wait", "infer", "end_to_end", "p50 ms", "p99 ms"):
        assert word in text
    lobby = next(line for line in lines if line.startswith("lobby"))
    assert lobby.split() == ["lobby", "40", "40", "5", "10.00"]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split() == ["total", "80", "80", "5", "20.00"]
    infer = next(line for line in lines if line.startswith("infer"))
    assert infer.split()[-1] == "40"
    assert "RSS 300.0 MiB" in text
    assert "RSS peak 400.0 MiB" in text
    assert "GPU" not in text
    assert "mean size 2.00" in text


def test_table_shows_gpu_when_present() -> None:
    assert "GPU 2048.0 MiB" in summary_table(_snapshot(gpu=True))


def test_columns_line_up() -> None:
    lines = summary_table(_snapshot(gpu=False)).splitlines()
    source_rows = [
        line for line in lines if line.split() and line.split()[0] in ("source", "street_cam", "lobby")
    ]
    assert len({len(line) for line in source_rows}) == 1


def test_empty_snapshot() -> None:
    text = summary_table(Telemetry(system=FakeMemory()).snapshot())
    assert "source" in text
