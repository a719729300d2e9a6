"""The shared worker: send never blocks, the oldest goes when full, failed batches are retried in order
after a backoff, and close() keeps to its timeout even when delivery is stuck."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from streamseg.notify import Backoff, QueuedSink, to_json

from .helpers import wait_until


class Gate(QueuedSink[int]):
    """Delivers ints into ``out`` while ``open`` is set; ``fail`` makes the next batches fail."""

    name = "gate"

    def __init__(self, queue_size: int = 5, *, batch: int = 1) -> None:
        super().__init__("test", queue_size, backoff_initial_s=0.01, backoff_max_s=0.05)
        self.out: list[int] = []
        self.open = threading.Event()
        self.entered = threading.Event()
        self.fail = 0
        self.batch = batch
        self._start()

    def send(self, item: int) -> None:
        self._put(item)

    def _room(self) -> int:
        return self.batch

    def _deliver(self, batch: list[int]) -> int:
        self.entered.set()
        self.open.wait()
        if self.fail:
            self.fail -= 1
            return 0
        self.out.extend(batch)
        self._count(delivered=len(batch))
        return len(batch)


def test_backoff_doubles_to_its_maximum_with_jitter() -> None:
    b = Backoff(0.5, 30.0)
    delays = [b.next_delay() for _ in range(10)]
    for delay, step in zip(delays, [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30], strict=True):
        assert 0.8 * step <= delay <= 1.2 * step
    assert (
        len({round(d / s, 6) for d, s in zip(delays, [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30], strict=True)}) > 1
    )
    b.reset()
    assert 0.4 <= b.next_delay() <= 0.6
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_send_never_blocks_and_drops_the_oldest_when_full() -> None:
    sink = Gate(queue_size=5)
    sink.send(0)
    assert sink.entered.wait(2)  # the worker holds 0 and is stuck
    started = time.monotonic()
    for i in range(1, 1001):
        sink.send(i)
    assert time.monotonic() - started < 1.0
    assert sink.dropped == 995 and sink.queued == 5
    sink.open.set()
    wait_until(lambda: sink.delivered == 6)
    assert sink.out == [0, 996, 997, 998, 999, 1000]  # the newest kept, in order
    sink.close()
    assert sink.state == "closed"


def test_failed_batches_are_retried_in_order() -> None:
    sink = Gate(queue_size=100, batch=3)
    sink.fail = 3
    for i in range(10):
        sink.send(i)
    sink.open.set()
    wait_until(lambda: sink.delivered == 10)
    assert sink.out == list(range(10)) and sink.dropped == 0
    sink.close()


def test_close_keeps_to_its_timeout_when_delivery_is_stuck() -> None:
    sink = Gate(queue_size=10)
    for i in range(4):
        sink.send(i)
    assert sink.entered.wait(2)
    started = time.monotonic()
    sink.close(timeout=0.2)
    assert time.monotonic() - started < 1.0
    assert sink.state == "closed" and sink.dropped == 3  # the queued ones; 0 is still in hand
    sink.send(99)
    assert sink.dropped == 4  # after close, send only counts
    sink.open.set()


def test_close_delivers_what_is_queued() -> None:
    sink = Gate(queue_size=100, batch=10)
    for i in range(50):
        sink.send(i)
    sink.open.set()
    sink.close()
    assert sink.out == list(range(50)) and sink.dropped == 0


def test_to_json_is_compact_and_takes_numpy() -> None:
    event = {"score": np.float32(0.5), "track_id": np.int64(7), "xyxy": np.array([1.0, 2.5]), "n": "é"}
    assert to_json(event) == '{"score":0.5,"track_id":7,"xyxy":[1.0,2.5],"n":"é"}'
    with pytest.raises(ValueError):
        to_json({"score": float("nan")})
    with pytest.raises(TypeError):
        to_json({"x": object()})
