"""The three kinds of thread. Each loop polls the stop event on every timeout and reports its first
error to the shared ``Lifecycle``; none of them can block forever."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from streamseg.capture.base import FrameGate, FrameSource, GatedSource
from streamseg.errors import DecodeError, SourceGaveUp
from streamseg.gpu.picture import I420Picture
from streamseg.inference.segmenter import Segmenter
from streamseg.inference.yolo.engine import PendingResult
from streamseg.pipeline.batcher import Batcher
from streamseg.pipeline.carry import CarriedFrame
from streamseg.pipeline.lifecycle import END, EndOfStream, Lifecycle
from streamseg.types import Frame, SegResult, UInt8Array

logger = logging.getLogger(__name__)


class Ladder(Protocol):
    """The latency budget's ladder as capture threads see it (``pipeline/governor.py``)."""

    def admits(self, source: str, index: int) -> bool: ...
    def gate(self, source: str) -> FrameGate | None: ...


class Meter(Protocol):
    def record_stage(self, stage: str, seconds: float, source: str | None = None) -> None: ...
    def count_frame(self, source: str, kind: str, n: int = 1) -> None: ...
    def record_batch(self, size: int) -> None: ...


class Sink(Protocol):
    """Something the render thread feeds: a recording, a results file, a preview.

    ``annotated`` is the drawn frame when some sink needs one: a BGR array on the CPU path, an
    ``I420Picture`` (yuv420p, ``.bgr()`` for BGR) when it was drawn on the GPU; else None.
    """

    def write(self, result: SegResult, annotated: UInt8Array | I420Picture | None) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class EndsPerSource(Protocol):
    """A sink with per-source outputs (a recording per camera): told when a source's last frame is through."""

    def end_source(self, name: str) -> None: ...


def end_source(sinks: Iterable[object], name: str) -> None:
    """Tell every sink with per-source outputs that ``name`` has ended (its files are finalized)."""
    for sink in sinks:
        if isinstance(sink, EndsPerSource):
            sink.end_source(name)


def capture_loop(
    source: FrameSource,
    out: queue.Queue[Frame | EndOfStream],
    ready: threading.Event,
    life: Lifecycle,
    meter: Meter,
    retire: threading.Event | None = None,
    ladder: Ladder | None = None,
    motion: Callable[[UInt8Array], float] | None = None,
) -> None:
    """Thread 1 (one per source): decode frames into the source's bounded queue.

    Files are lossless (blocking put = back-pressure). Live sources keep the newest frames: when the
    queue is full the oldest frame is dropped and counted. ``retire`` ends this source alone.
    ``ladder`` (a latency budget) may leave frames out before they are queued, and may have the source's
    decoder skip frames (see ``_admission``). ``motion``: measures each host frame's moved share
    (``capture.motion``), here where it was decoded, for the frame selection.
    """
    try:
        admit = _admission(source, ladder, meter)
        while not life.stop.is_set() and not (retire is not None and retire.is_set()):
            frame = source.read()
            if frame is None:
                break
            meter.count_frame(source.name, "captured")
            if admit is not None and not admit(frame.index):
                continue
            if motion is not None and not frame.on_device:
                frame.motion = motion(frame.image)
            if source.is_live:
                _put_latest(out, frame, meter, source.name)
            elif not life.put(out, frame, retire):
                return
            ready.set()
    except (DecodeError, SourceGaveUp) as exc:  # report after the run drains; other sources carry on
        life.defer(exc)
    except Exception as exc:
        life.fail(exc, f"capture {source.name}")
        return
    finally:
        source.close()
    if retire is not None and retire.is_set():
        return  # removed: the batcher has ended this source already and reads its queue no more
    life.put(out, EndOfStream(source.name), retire)
    ready.set()


def _admission(source: FrameSource, ladder: Ladder | None, meter: Meter) -> Callable[[int], bool] | None:
    """How this thread applies the ladder: a stream that can ask it itself (``GatedSource``, when the
    ladder sheds decoding) gets a gate and passes over refused frames before converting them (counted
    as captured all the same); any other source is asked after each frame it hands out."""
    if ladder is None:
        return None
    name = source.name
    gate = ladder.gate(name)
    if gate is not None and isinstance(source, GatedSource):
        source.set_gate(_CountingGate(gate, meter, name))
        return None
    return lambda index: ladder.admits(name, index)


class _CountingGate:
    """A gate that counts each frame it refuses as captured (decoded, then passed over)."""

    def __init__(self, gate: FrameGate, meter: Meter, name: str) -> None:
        self._gate, self._meter, self._name = gate, meter, name

    def admits(self, index: int) -> bool:
        if self._gate.admits(index):
            return True
        self._meter.count_frame(self._name, "captured")
        return False

    @property
    def skip_frame(self) -> str:
        return self._gate.skip_frame


def _put_latest(out: queue.Queue[Frame | EndOfStream], frame: Frame, meter: Meter, name: str) -> None:
    while True:
        try:
            out.put_nowait(frame)
            return
        except queue.Full:
            try:
                out.get_nowait()
                meter.count_frame(name, "dropped")
            except queue.Empty:
                pass


def inference_loop(
    batcher: Batcher,
    engine: Segmenter,
    out: queue.Queue[SegResult | PendingResult | CarriedFrame | EndOfStream],
    life: Lifecycle,
    meter: Meter,
) -> None:
    """Thread 2: batch frames from all sources, run the model, postprocess (on a device path the
    results go out pending: the render thread collects what the device still finishes).

    A source's end is passed on after its last result, so the render thread can finalize its outputs.
    Frames the selection left out (``frame.inference``: carried, still) go on without the network, in
    their sources' order, for the render thread to give the latest result (``CarriedFrame``).
    """
    try:
        while True:
            batch = batcher.next_batch()
            if batch:
                now = time.monotonic()
                inferred = [frame for frame in batch if frame.inference == "inferred"]
                for frame in inferred:
                    meter.record_stage("queue_wait", now - frame.capture_time, frame.source)
                started = time.perf_counter()
                results = iter(engine.submit(inferred) if inferred else ())
                if inferred:  # what the network costs each camera: the batch's time shared per frame
                    share = (time.perf_counter() - started) / len(inferred)
                    for frame in inferred:
                        meter.record_stage("network", share, frame.source)
                    meter.record_batch(len(inferred))
                for frame in batch:
                    item = next(results) if frame.inference == "inferred" else CarriedFrame(frame)
                    if not life.put(out, item):
                        return
            for name in batcher.take_ended():
                life.put(out, EndOfStream(name))
            if batch is None:
                break
    except Exception as exc:
        life.fail(exc, "inference")
        return
    life.put(out, END)


def render_loop(
    results: queue.Queue[SegResult | PendingResult | CarriedFrame | EndOfStream],
    out: queue.Queue[SegResult | EndOfStream],
    life: Lifecycle,
    meter: Meter,
    render: Callable[
        [SegResult | PendingResult | CarriedFrame], tuple[SegResult, UInt8Array | I420Picture | None, str]
    ],
    sinks: list[Sink],
) -> None:
    """Thread 3: finish and draw each result, feed the sinks (each recording encodes on its own
    thread); then hand the result to ``Pipeline.results()``.

    Sinks are always closed here, also on stop or error, so recordings are finalized.
    """
    try:
        while True:
            item = life.get(results)
            if item is None or (isinstance(item, EndOfStream) and not item.source):
                break
            if isinstance(item, EndOfStream):  # one source ended: its last frame is through
                end_source(sinks, item.source)
                continue
            t0 = time.perf_counter()
            result, annotated, stage = render(item)
            t1 = time.perf_counter()
            for sink in sinks:
                sink.write(result, annotated)
            source = result.source
            meter.record_stage(stage, t1 - t0, source)
            meter.record_stage("end_to_end", time.monotonic() - result.frame.capture_time, source)
            meter.count_frame(source, "processed")
            if not life.put(out, result):
                break
    except Exception as exc:
        life.fail(exc, "render")
    finally:
        for sink in sinks:
            try:
                sink.close()
            except Exception as exc:
                life.fail(exc, "closing outputs")
    if not life.stop.is_set():
        life.put(out, END)
