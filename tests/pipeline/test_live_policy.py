"""The live frame policy: newest frames only (drops counted), and a stalled camera never delays others."""

from __future__ import annotations

import queue
import statistics
import threading
import time

import numpy as np

from streamseg.pipeline.batcher import Batcher
from streamseg.pipeline.lifecycle import EndOfStream, Lifecycle
from streamseg.pipeline.workers import capture_loop
from streamseg.types import Frame

IMAGE = np.zeros((4, 4, 3), np.uint8)


def frame(source: str, i: int) -> Frame:
    return Frame(source, i, i / 30, time.monotonic(), IMAGE)


class Counter:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def record_stage(self, stage: str, seconds: float, source: str | None = None) -> None:
        pass

    def count_frame(self, source: str, kind: str, n: int = 1) -> None:
        self.counts[(source, kind)] = self.counts.get((source, kind), 0) + n

    def record_batch(self, size: int) -> None:
        pass


class Burst:
    """A live source that delivers ``n`` frames at once, then ends."""

    name = "cam"
    is_live = True

    def __init__(self, n: int) -> None:
        self._frames = [frame("cam", i) for i in range(n)]

    def read(self) -> Frame | None:
        return self._frames.pop(0) if self._frames else None

    def close(self) -> None:
        pass


def test_live_source_keeps_only_the_newest_frame_and_counts_drops() -> None:
    q: queue.Queue[Frame | EndOfStream] = queue.Queue(maxsize=1)  # live.buffer = 1
    meter = Counter()
    life = Lifecycle(0.05)
    worker = threading.Thread(target=capture_loop, args=(Burst(10), q, threading.Event(), life, meter))
    worker.start()
    deadline = time.monotonic() + 5
    while meter.counts.get(("cam", "captured"), 0) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    newest = q.get(timeout=1)
    assert isinstance(q.get(timeout=1), EndOfStream)  # the end marker waited for room
    worker.join(timeout=2)
    assert isinstance(newest, Frame) and newest.index == 9
    assert meter.counts[("cam", "captured")] == 10 and meter.counts[("cam", "dropped")] == 9


def test_batcher_does_not_wait_for_a_stalled_camera() -> None:
    queues: dict[str, queue.Queue[Frame | EndOfStream]] = {"a": queue.Queue(), "stalled": queue.Queue()}
    ready = threading.Event()
    batcher = Batcher(queues, ready, Lifecycle(0.05), max_batch=4, deadline_s=0.01)
    latencies = []
    for i in range(20):
        queues["a"].put(frame("a", i))
        ready.set()
        started = time.monotonic()
        batch = batcher.next_batch()
        latencies.append(time.monotonic() - started)
        assert batch is not None and [f.source for f in batch] == ["a"]
    # Waiting on the stalled camera would cost every call at least the 50 ms stage timeout; the median
    # says it never does, and a generous max allows for a busy machine's scheduling hiccups.
    assert statistics.median(latencies) < 0.04 and max(latencies) < 1.0, latencies
