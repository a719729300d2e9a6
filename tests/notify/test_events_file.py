"""EventsFileSink: JSON lines, in order, flushed by close; appended, not truncated; a bad path is one
OutputError line before any thread starts."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamseg.errors import OutputError
from streamseg.notify import EventsFileSink

from .helpers import wait_until


def event(i: int) -> dict[str, object]:
    return {
        "type": "appeared",
        "source": "yard",
        "pts": i / 10,
        "track_id": i,
        "class_name": "dog",
        "score": 0.9,
    }


def test_lines_are_json_in_order_and_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = EventsFileSink(path, queue_size=5000)  # sent faster than written: room for all
    assert sink.state == "connected"
    for i in range(2000):
        sink.send(event(i) | {"score": np.float32(0.5), "xyxy": np.array([1, 2, 3, 4])})
    sink.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["track_id"] for line in lines] == list(range(2000))
    assert json.loads(lines[0])["xyxy"] == [1, 2, 3, 4]
    assert sink.delivered == 2000 and sink.dropped == 0 and sink.state == "closed"


def test_lines_are_flushed_while_running_and_appended_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"earlier":true}\n', encoding="utf-8")
    sink = EventsFileSink(path)
    sink.send(event(0))
    wait_until(lambda: len(path.read_text(encoding="utf-8").splitlines()) == 2, what="the line on disk")
    sink.close()
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[1]) == event(0)


def test_an_event_that_is_not_json_is_dropped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = EventsFileSink(path)
    sink.send(event(0))
    sink.send(event(1) | {"score": float("nan")})
    sink.send(event(2))
    sink.close()
    assert [json.loads(line)["track_id"] for line in path.read_text(encoding="utf-8").splitlines()] == [0, 2]
    assert sink.dropped == 1 and sink.delivered == 2


@pytest.mark.parametrize("where", ["missing/dir/events.jsonl", "."])
def test_an_unwritable_path_is_one_output_error_before_any_thread(tmp_path: Path, where: str) -> None:
    threads = threading.active_count()
    with pytest.raises(OutputError) as info:
        EventsFileSink(tmp_path / where)
    assert str(info.value).startswith("--events: cannot write events file ") and "\n" not in str(info.value)
    assert threading.active_count() == threads


def test_a_full_disk_is_retried_and_never_stalls_send(caplog: pytest.LogCaptureFixture) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux): every write fails with ENOSPC")
    sink = EventsFileSink("/dev/full", queue_size=10, backoff_initial_s=0.01, backoff_max_s=0.02)
    for i in range(100):
        sink.send(event(i))
    wait_until(lambda: sink.state == "reconnecting", what="the failed write")
    assert sink.delivered == 0 and sink.dropped >= 90
    sink.close(timeout=0.2)
    wait_until(lambda: sink.dropped == 100)  # the worker may still hold the batch it was retrying
    warnings = [r.getMessage() for r in caplog.records if r.name == "streamseg.notify.events_file"]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]


class ShortOfSpace:
    """Wraps the sink's file: writes succeed up to ``budget`` bytes, then fail with ENOSPC (mid-line)."""

    def __init__(self, real: Any, budget: int) -> None:
        self.real = real
        self.budget = budget

    def write(self, data: memoryview) -> int:
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = int(self.real.write(data[: self.budget]))
        self.budget -= n
        return n

    def close(self) -> None:
        self.real.close()


def test_a_write_cut_short_is_finished_without_doubling_a_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = EventsFileSink(path, backoff_initial_s=0.01, backoff_max_s=0.02)
    disk = ShortOfSpace(sink._file, budget=150)  # room for about one and a half lines
    sink._file = disk  # type: ignore[assignment]
    for i in range(5):
        sink.send(event(i))
    wait_until(lambda: sink.state == "reconnecting")
    disk.budget = 10**6  # space freed
    wait_until(lambda: sink.state == "connected" and sink.queued == 0)
    sink.close()
    assert [json.loads(line)["track_id"] for line in path.read_text(encoding="utf-8").splitlines()] == list(
        range(5)
    )
    assert sink.delivered == 5
