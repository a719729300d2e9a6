"""``Pipeline``: wires sources, the model and the outputs into the three kinds of thread.

    for result in Pipeline(sources=["street.mp4"], model="yolov8n-seg.pt").results():
        ...

Everything that can fail on bad input (config, model, sources, output paths) is checked in
``open()`` on the caller's thread, before any thread starts, so errors are immediate and clear.
Sources can be added and removed while it runs (``add_source``, ``remove_source``), checked the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from streamseg.capture import FrameSource, LiveSource, demo_clip_path, open_source
from streamseg.config import Config, SourceConfig, merge
from streamseg.gpu.decode import DecodeTarget
from streamseg.inference.factory import open_segmenter
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.sam.board import PromptBoard
from streamseg.inference.segmenter import Segmenter
from streamseg.inference.yolo.engine import PendingResult
from streamseg.pipeline.admission import InferenceCapacity
from streamseg.pipeline.batcher import Batcher
from streamseg.pipeline.carry import CarriedFrame, Carrier
from streamseg.pipeline.drawing import DrawPolicy
from streamseg.pipeline.events import EventCallback, EventsSink, open_events
from streamseg.pipeline.handoff import handed_over
from streamseg.pipeline.left_behind import leave_behind
from streamseg.pipeline.lifecycle import EndOfStream, Lifecycle, drain
from streamseg.pipeline.live import LiveBook
from streamseg.pipeline.looping import loop_source
from streamseg.pipeline.overload.governor import LatencyGovernor
from streamseg.pipeline.overload.wiring import GovernedSegmenter, open_governor
from streamseg.pipeline.prepare import capture_ahead, decide
from streamseg.pipeline.render_step import RenderStep
from streamseg.pipeline.retention import RetentionSweeper, start_retention
from streamseg.pipeline.scene_step import SceneStep
from streamseg.pipeline.selection import FrameSelection, may_leave_out
from streamseg.pipeline.selfcheck import SelfCheckReport
from streamseg.pipeline.sinks import (
    RecordingSink,
    Sinks,
    build_sinks,
    check_outputs_have_sources,
    status_sections,
)
from streamseg.pipeline.source_ends import SourceEnds
from streamseg.pipeline.sources import CAPTURE_PREFIX, RuntimeSources
from streamseg.pipeline.workers import Sink, inference_loop, render_loop
from streamseg.privacy.step import PrivacyStep
from streamseg.telemetry import Telemetry
from streamseg.types import Frame, SegResult
from streamseg.util.allocator import HeapTrimmer

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 2.5  # SIGINT/SIGTERM must finish within 3 s, recording finalized
CAPTURE_GRACE_S = 0.3  # once outputs are done, how long to wait for capture threads still in network I/O


class Pipeline(RuntimeSources):
    def __init__(
        self,
        sources: Sequence[str | SourceConfig] | None = None,
        model: str | None = None,
        *,
        config: Config | None = None,
        telemetry: Telemetry | None = None,
        sinks: Sequence[Sink] = (),
        backend: InferenceBackend | None = None,
        keep_alive: bool = False,
        record_path: Callable[[str], Path] | None = None,
        on_event: EventCallback | None = None,
        live: LiveBook | None = None,
    ) -> None:
        """``backend``: an already open runtime to use instead of loading ``config.model`` (the caller
        keeps owning it: the pipeline does not close it). ``keep_alive``: run on with no source left (or
        none at all) until ``stop()``, for sources that come and go; otherwise the run ends with its last
        source. ``record_path(name)``: where a source's recording goes (default: ``record_path_for``,
        never overwriting for sources added later). ``on_event(event)``: called with each event (a JSON
        object: ``streamseg.scene.events``) on a thread of its own; events also ride on their results
        (``SegResult.events``). ``live``: the dashboard's live video (its sources are drawn and encoded
        while watched)."""
        cfg = config or Config()
        if sources is not None:
            cfg = dataclasses.replace(
                cfg,
                sources=tuple(s if isinstance(s, SourceConfig) else SourceConfig(str(s)) for s in sources),
            )
        if model is not None:
            cfg = merge(cfg, model={"path": model})
        self.config = cfg.validated()
        self.telemetry = telemetry or Telemetry()
        self._life = Lifecycle(self.config.pipeline.stage_timeout_s)
        self._sources: list[FrameSource] = []
        self._backend: InferenceBackend | None = backend  # given by the caller, who keeps owning it
        self._host_masks = True
        self._runtime: Segmenter | None = None  # what open() loaded, closed at the end
        self._engine: Segmenter | None = None
        self.prompts: PromptBoard | None = None  # dashboard clicks, when a SAM model is configured
        self._sinks: Sinks = []
        self._extra_sinks = list(sinks)  # e.g. the dashboard's preview; fed after the built-in ones
        self._threads: list[threading.Thread] = []
        self._trimmer: HeapTrimmer | None = None  # gives free heap back while running (allocator.py)
        self._governor: LatencyGovernor | None = None  # --latency-budget (pipeline/overload/)
        self._results_q: queue.Queue[SegResult | PendingResult | CarriedFrame | EndOfStream] | None = None
        self._out_q: queue.Queue[SegResult | EndOfStream] | None = None
        self._frame_qs: dict[str, queue.Queue[Frame | EndOfStream]] = {}
        self._keep_alive = keep_alive
        self._record_path = record_path
        self._ready = threading.Event()  # a frame is waiting somewhere, or a source joined
        self._batcher: Batcher | None = None
        self._retire: dict[str, threading.Event] = {}
        self._ends = SourceEnds()
        self._control = threading.Lock()  # add_source / remove_source against each other and stop
        self._adding: set[str] = set()
        self._removing: set[str] = set()  # names of removed sources whose last frames are still in flight
        self._capacity = InferenceCapacity()  # how many more sources inference can serve (admission)
        self._decode: DecodeTarget | None = None
        self._scene = SceneStep(self.config, self.telemetry.record_stage)  # tracks, zones, lines
        self._privacy = PrivacyStep(self.config)  # people and places hidden (privacy sections)
        self._selection = FrameSelection(
            self._scene.has_live_tracks, self.telemetry.count_frame, self._rate_scale
        )
        self._carrier = Carrier(self._scene.velocities, self._selection.gated)  # for frames left out
        self._on_event = on_event
        self._live = live
        host = self._privacy.may_hide() or may_leave_out(self.config)  # drawn on the host, not the device
        self._drawing = DrawPolicy(self.config, live, host)
        self._events: EventsSink | None = None
        self._sweeper: RetentionSweeper | None = None  # --retain, --retain-size
        self.selfcheck: SelfCheckReport | None = None  # the GPU self-check's say, when the model is on CUDA
        self._opened = False
        self._started = False
        self._joined = False

    # ----------------------------------------------------------------- lifecycle (sources: ``sources.py``)
    @property
    def engine(self) -> Segmenter:
        if self._engine is None:
            raise RuntimeError("Pipeline.open() has not run")
        return self._engine

    def open(self) -> Pipeline:
        """Load the model and open every source and output; raises ``StreamsegError`` on bad input."""
        if self._opened:
            return self
        cfg = self.config
        demo = () if self._keep_alive else (SourceConfig(str(demo_clip_path()), name="demo"),)
        source_cfgs = cfg.sources or demo
        try:
            # Where the work runs, decided once; then the cheapest checks: a mistyped path should not
            # wait for a model download or export.
            cfg, plan, self.selfcheck = decide(cfg, self._backend)  # what the GPU failed is turned off
            self.config = cfg
            decode, codec = plan.decode, plan.codec
            self._decode = decode  # sources added later decode the same way
            for sc in source_cfgs:
                self._sources.append(open_source(sc, cfg.live, cfg.pipeline.source_timeout_s, decode))
            if cfg.pipeline.loop:  # --loop: file sources start over when they end
                timeout_s = cfg.pipeline.source_timeout_s
                reopen = functools.partial(open_source, live=cfg.live, timeout_s=timeout_s, decode=decode)
                self._sources = [
                    loop_source(src, functools.partial(reopen, sc))
                    for src, sc in zip(self._sources, source_cfgs, strict=True)
                ]
            check_outputs_have_sources(cfg, self._sources)  # before the model loads: it can take long
            for src, sc in zip(self._sources, source_cfgs, strict=True):
                self._watch(src, sc)
            if cfg.sam.model:
                self.prompts = PromptBoard([s.name for s in self._sources], cfg.sam.max_prompts)
            # YOLO or Mask R-CNN on the configured runtime, SAM after it when asked (segmenters).
            self._engine = self._runtime = open_segmenter(
                cfg,
                self.telemetry.record_stage,
                self.prompts,
                backend=self._backend,
                draw=self._drawing.on_device(),
                tracks=self._scene.track_early,
                host_masks=self._wants_host_masks,
            )
            named = list(zip(self.source_names, source_cfgs, strict=True))  # an unknown class: ConfigError
            self._privacy.set_class_names(self._engine.class_names, named)
            self._sinks = build_sinks(
                cfg, self._sources, codec, self.telemetry.record_stage, self._record_path, self._live
            )
            clips = next((s.clips for s in self._sinks if isinstance(s, RecordingSink)), None)
            self._events = open_events(cfg, self._scene, self._on_event, not self._keep_alive, clips)
            capture_ahead(self._engine, self._sources, decode, cfg.model.batch)  # before threads use the GPU
        except BaseException:
            self._close_everything()
            raise
        self._opened = True
        return self

    def start(self) -> Pipeline:
        if self._started:
            return self
        self.open()
        with self._control:  # no source joins or leaves while the threads are set up
            self._start_threads()
        return self

    def _start_threads(self) -> None:
        cfg = self.config
        life = self._life
        qsize = cfg.pipeline.queue_size
        priorities = {src.name: sc.priority for src, sc in zip(self._sources, cfg.sources, strict=False)}
        self._governor = open_governor(
            cfg, self._sources, priorities, self.engine, self.telemetry, runtime_sources=self._keep_alive
        )
        self.telemetry.watch_memory(cfg.telemetry.leak_warn_mib_per_hour, cfg.telemetry.leak_window_s)
        self.telemetry.add_observer(self._capacity)
        self.telemetry.register_section("finalizing", self._finalizing)
        self._trimmer = HeapTrimmer().start()
        self._sweeper = start_retention(cfg, self._sinks, life.stop, self.telemetry)
        self._results_q = queue.Queue(maxsize=qsize)
        self._out_q = queue.Queue(maxsize=qsize)
        for src in self._sources:
            self._threads.append(self._capture_thread(src))
        self.telemetry.register_queue("results", self._results_q.qsize)
        batcher = Batcher(
            self._frame_qs,
            self._ready,
            life,
            cfg.model.batch,
            cfg.model.batch_timeout_ms / 1000,
            stay_open=self._keep_alive,
            select=self._selection.decide,
        )
        self._batcher = batcher
        governor = self._governor
        segmenter = GovernedSegmenter(self.engine, governor) if governor else self.engine
        inference_args = (batcher, segmenter, self._results_q, life, self.telemetry)
        self._threads.append(
            threading.Thread(target=inference_loop, args=inference_args, name="inference", daemon=True)
        )
        if self._events is not None:
            self.telemetry.register_section("events", self._events.status)
        self.telemetry.register_section("scene", self._scene.status)
        self.telemetry.register_section("privacy", self._privacy.status)
        for key, section in status_sections(cfg, self._sinks).items():  # publishers, clips
            self.telemetry.register_section(key, section)
        render = RenderStep(
            cfg.render, self.telemetry, self._drawing.source, self._scene, self._privacy, self._carrier
        )
        sinks = [*self._sinks, *self._event_sinks(), *self._extra_sinks, self._ends]
        self._threads.append(
            threading.Thread(
                target=render_loop,
                args=(self._results_q, self._out_q, life, self.telemetry, render, sinks),
                name="render",
                daemon=True,
            )
        )
        self._started = True
        for t in self._threads:
            t.start()

    def _wants_host_masks(self) -> bool:
        """Asked by the engine per batch on a device path: copy masks down now? (The results file always
        reads them, and so do zones judged by masks; ``results(host_masks=False)`` says the caller does
        not.)"""
        scene, privacy = self._scene.needs_host_masks(), self._privacy.needs_host_masks()
        carried = self._selection.active  # carried frames draw the latest masks
        return self._host_masks or bool(self.config.output.save_results) or scene or privacy or carried

    def _event_sinks(self) -> list[Sink]:
        return [self._events] if self._events is not None else []

    @property
    def live(self) -> LiveBook | None:
        """The dashboard's live video this pipeline encodes for, if it was given one."""
        return self._live

    @property
    def scene(self) -> SceneStep:
        """Tracks, zones and lines per source: counts so far (``status()``)."""
        return self._scene

    @property
    def recordings(self) -> list[str]:
        """Paths of every recording so far, finalized or still being written."""
        return [p for s in self._sinks if isinstance(s, RecordingSink) for p in s.paths]

    def results(self, *, host_masks: bool = True) -> Iterator[SegResult]:
        """One ``SegResult`` per frame, per source in frame order; re-raises the first pipeline error.

        ``host_masks=False``: on the GPU path, masks are copied to the host only if something reads
        them (the results file always does); for a caller that looks at boxes only.
        """
        if not self._started:
            self._host_masks = host_masks
        self.start()
        out_q = self._out_q
        if out_q is None:
            raise RuntimeError("pipeline did not start")
        try:
            while True:
                item = self._life.get(out_q)
                if item is None or isinstance(item, EndOfStream):
                    break
                yield handed_over(item)  # the consumer's now: on a GPU it may move to the host
        finally:
            if not self._joined:
                self.stop()
                self.join()

    def run(self) -> None:
        """Process every source to its end (or until ``stop``)."""
        for _ in self.results():
            pass

    def stop(self) -> None:
        """Ask every thread to finish; safe from a signal handler or another thread."""
        self._life.stop.set()

    @property
    def stopping(self) -> bool:
        return self._life.stop.is_set()

    def join(self, timeout: float = JOIN_TIMEOUT_S) -> None:
        """Wait for the threads (bounded), release resources, and raise the first error if any."""
        if self._joined:
            self._raise_error()
            return
        with self._control:
            self._life.stop.set()
        for src in self.sources:
            if isinstance(src, LiveSource):
                src.close()  # never blocks; wakes a capture thread that is waiting to reconnect
        deadline = time.monotonic() + timeout
        workers = [t for t in self._threads if not t.name.startswith(CAPTURE_PREFIX)]
        while any(t.is_alive() for t in self._threads) and time.monotonic() < deadline:
            for q in (*list(self._frame_qs.values()), self._results_q, self._out_q):
                if q is not None:
                    drain(q)
            for t in self._threads:
                t.join(timeout=0.05)
            if not any(t.is_alive() for t in workers):
                # Outputs are finalized. A capture thread still alive after a short grace is inside a
                # network open/read that its source timeout bounds: a daemon holding nothing we need.
                deadline = min(deadline, time.monotonic() + CAPTURE_GRACE_S)
        leave_behind(self._threads, CAPTURE_PREFIX, timeout, self.config.pipeline.source_timeout_s)
        self._joined = True
        self.telemetry.stop_watching_memory()
        if self._trimmer is not None:
            self._trimmer.stop()
        if self._sweeper is not None:
            self._sweeper.join(1.0)
        self._close_everything()
        self._raise_error()

    def _raise_error(self) -> None:
        error = self._life.error
        if error is not None:
            raise error

    def _close_everything(self) -> None:
        for src in self._sources:
            try:
                src.close()
            except Exception:
                logger.debug("closing %s failed", src.name, exc_info=True)
        if not self._started:
            for sink in [*self._sinks, *self._event_sinks()]:
                sink.close()
        if self._runtime is not None:
            self._runtime.close()

    def __enter__(self) -> Pipeline:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._started and not self._joined:
            try:
                self.join()
            except Exception:
                if exc is None:
                    raise
        elif not self._started:
            self._close_everything()
