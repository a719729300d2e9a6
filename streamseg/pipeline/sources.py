"""The sources of a running ``Pipeline``: each one's queue and capture thread, and adding and removing
them while the others run (``add_source``, ``remove_source``: the dashboard's ``POST``/``DELETE
/api/sources``, the cluster's groups, the Python API).

A mixin of ``Pipeline`` (``runner.py``), which owns the state declared here: kept apart because
admission (limits, capacity), the batcher's retirement of a source and recordings finished in the
background are a job of their own.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from streamseg.capture import FrameSource, ImageSource, LiveSource, open_source
from streamseg.config import Config, SourceConfig, source_from
from streamseg.config.detect import detect_for
from streamseg.config.names import clash, taken_message
from streamseg.config.schema import check_source
from streamseg.config.uris import check_client_uri
from streamseg.errors import ConfigError, PipelineStopped, SourceExistsError, UnknownSourceError
from streamseg.gpu.decode import DecodeTarget
from streamseg.inference.sam.board import PromptBoard
from streamseg.pipeline.admission import InferenceCapacity, check_admission
from streamseg.pipeline.batcher import Batcher
from streamseg.pipeline.carry import Carrier
from streamseg.pipeline.lifecycle import EndOfStream, Lifecycle
from streamseg.pipeline.looping import loop_source
from streamseg.pipeline.overload.governor import LatencyGovernor
from streamseg.pipeline.scene_step import SceneStep
from streamseg.pipeline.selection import FrameSelection
from streamseg.pipeline.sinks import RecordingSink, Sinks
from streamseg.pipeline.source_ends import SourceEnds, free_record_path
from streamseg.pipeline.workers import capture_loop, end_source
from streamseg.privacy.step import PrivacyStep
from streamseg.record import record_path_for
from streamseg.telemetry import Telemetry
from streamseg.types import Frame

logger = logging.getLogger(__name__)

CAPTURE_PREFIX = "capture-"
REMOVE_TIMEOUT_S = 4.5  # remove_source answers within this; a recording may finish after, in the background


class RuntimeSources:
    """Sources' threads, and sources added or removed while running (see the module docstring)."""

    config: Config
    telemetry: Telemetry
    prompts: PromptBoard | None
    _life: Lifecycle
    _control: threading.Lock
    _sources: list[FrameSource]
    _adding: set[str]
    _removing: set[str]
    _capacity: InferenceCapacity
    _frame_qs: dict[str, queue.Queue[Frame | EndOfStream]]
    _retire: dict[str, threading.Event]
    _ends: SourceEnds
    _ready: threading.Event
    _governor: LatencyGovernor | None
    _batcher: Batcher | None
    _sinks: Sinks
    _threads: list[threading.Thread]
    _decode: DecodeTarget | None
    _scene: SceneStep
    _privacy: PrivacyStep
    _selection: FrameSelection
    _carrier: Carrier
    _record_path: Callable[[str], Path] | None
    _started: bool
    _joined: bool

    @property
    def sources(self) -> list[FrameSource]:
        return list(self._sources)

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self._sources]

    def _capture_thread(self, src: FrameSource) -> threading.Thread:
        """The source's queue, telemetry and capture thread (not started)."""
        # Live sources keep only the newest frames, so latency cannot grow when inference is slow.
        cfg = self.config
        q: queue.Queue[Frame | EndOfStream] = queue.Queue(
            maxsize=cfg.live.buffer if src.is_live else cfg.pipeline.queue_size
        )
        self._frame_qs[src.name] = q
        self.telemetry.register_queue(f"frames:{src.name}", q.qsize)
        if isinstance(src, LiveSource):
            self.telemetry.register_source_info(src.name, src.health_info)
        else:  # a file says "ended" once its last frame is through, while the run goes on
            self.telemetry.register_source_info(src.name, functools.partial(self._ended_info, src.name))
        retire = self._retire[src.name] = threading.Event()
        ladder = self._governor  # --latency-budget: striding, decode shedding (None without a budget)
        motion = self._selection.motion(src.name)  # its motion detector, when motion gating is on
        return threading.Thread(
            target=capture_loop,
            args=(src, q, self._ready, self._life, self.telemetry, retire, ladder, motion),
            name=f"{CAPTURE_PREFIX}{src.name}",
            daemon=True,
        )

    def _watch(self, src: FrameSource, sc: SourceConfig) -> None:
        """What the render and inference threads keep per source: what it hides (a class the model
        lacks: ``ConfigError``), its tracks, zones and lines, which of its frames the network sees (a
        detect rate above its own: ``ConfigError``) and its motion detector."""
        self._privacy.add_source(src.name, sc)
        self._scene.add_source(src, sc)  # pixels outside a frame of known size: ConfigError
        detect = detect_for(self.config.detect, sc.detect)
        self._selection.add_source(src.name, detect, src.nominal_fps or 0.0)

    def _rate_scale(self, name: str) -> float:
        """The latency ladder's factor on ``name``'s detect rate (1 without a latency budget)."""
        governor = self._governor
        return governor.detect_scale(name) if governor is not None else 1.0

    def _ended_info(self, name: str) -> dict[str, str]:
        return {"health": "ended"} if self._ends.ended(name) else {}

    # ----------------------------------------------------------------- sources at runtime
    def add_source(self, source: str | SourceConfig, *, check: bool = True) -> FrameSource:
        """Open one more source and start it (before or while the pipeline runs), with its own recording.

        Raises ``SourceExistsError`` when the name is taken and ``SourceError`` when it cannot be opened:
        with ``check`` a camera must answer now (False: it may connect later, like at start-up).
        Nothing changes when it raises.
        """
        sc = check_source(source, "source") if isinstance(source, SourceConfig) else source_from(source)
        name = sc.display_name()
        cfg = self.config
        check_client_uri(sc.uri, cfg.source_rules.allow_listen)
        with self._control:
            self._check_open_for_changes()
            # one slug space: a name may not share files and MQTT topics with a running one either
            taken = clash(name, [*self._adding, *(s.name for s in self._sources)])
            if taken is not None:
                raise SourceExistsError(taken_message(name, taken, "running"))
            if clash(name, self._removing) is not None:
                raise SourceExistsError(f"source '{name}' is still being removed; add it again in a moment")
            running = len(self._sources) + len(self._adding)
            check_admission(cfg.source_rules, running, self._capacity.frames_per_second())
            self._adding.add(name)
        try:
            # Network waits happen here, unlocked.
            src = open_source(sc, cfg.live, cfg.pipeline.source_timeout_s, self._decode)
            try:
                if isinstance(src, ImageSource):
                    raise ConfigError(f"{sc.uri}: still images are given at start, not added while running")
                if check and isinstance(src, LiveSource):
                    src.connect_now()
                if cfg.pipeline.loop:
                    timeout_s = cfg.pipeline.source_timeout_s
                    reopen = functools.partial(open_source, sc, cfg.live, timeout_s, self._decode)
                    src = loop_source(src, reopen)
                with self._control:
                    self._check_open_for_changes()
                    self._watch(src, sc)
                    if self._governor is not None and src.is_live:
                        rated = detect_for(cfg.detect, sc.detect).fps is not None
                        self._governor.add_source(src.name, sc.priority, detect_rate=rated)
                    self._attach(src)
                    if self.prompts is not None:
                        self.prompts.add_source(src.name)
            except BaseException:
                src.close()
                raise
        finally:
            with self._control:
                self._adding.discard(name)
        logger.info("source %s added", name)
        return src

    def _attach(self, src: FrameSource) -> None:
        """Recording, queue and capture thread of a source opened at runtime (under ``_control``)."""
        recordings = [s for s in self._sinks if isinstance(s, RecordingSink)]
        for sink in recordings:
            sink.add_source(src, self._added_record_path(src.name))
        if self._started and self._batcher is not None:
            thread = self._capture_thread(src)
            if not self._batcher.add(src.name, self._frame_qs[src.name]):
                self._detach(src.name)
                for sink in recordings:
                    sink.end_source(src.name)
                raise PipelineStopped("the pipeline has finished: no source can be added")
            self._threads.append(thread)
            thread.start()
        self._sources.append(src)

    def _added_record_path(self, name: str) -> Path | None:
        """Where a source added at runtime is recorded (None: no ``--record``, encoded for clips only)."""
        if self._record_path is not None:
            return self._record_path(name)
        if not self.config.output.record:
            return None
        return free_record_path(record_path_for(self.config.output.record, name, 2))

    def remove_source(self, name: str, timeout: float = REMOVE_TIMEOUT_S) -> bool:
        """Stop one source, the others running on. It leaves the list at once; this returns within
        ``timeout`` s, True when its last frame is through and its recording finalized, False when that
        is still finishing in the background (the status's ``finalizing`` says so; its name is free again
        once its last frames are through). Raises ``UnknownSourceError`` for a name that is not running."""
        deadline = time.monotonic() + timeout
        with self._control:
            src = next((s for s in self._sources if s.name == name), None)
            if src is None:
                raise UnknownSourceError(f"no source named '{name}' is running")
            retire = self._retire.get(name)
            if retire is not None:
                retire.set()
            if isinstance(src, LiveSource):
                src.close()  # never blocks; wakes a capture thread that is waiting to reconnect
            started = self._started
            if started and self._batcher is not None:
                self._batcher.retire(name)  # ends it at the next batch, whatever its capture thread does
            self._sources.remove(src)
            self._removing.add(name)
            if self.prompts is not None:
                self.prompts.remove_source(name)
        if not started:
            src.close()
            end_source(self._sinks, name)
        elif not self._ends.wait(name, timeout, self._life.stop) and not self._life.stop.is_set():
            logger.warning(
                "source %s: its last frames are still in flight; removal finishes in the background", name
            )
            threading.Thread(
                target=self._detach_when_ended, args=(name,), name=f"remove-{name}", daemon=True
            ).start()
            return False
        self._forget(name)
        finalized = all(
            sink.finalized(name, max(0.0, deadline - time.monotonic()))
            for sink in self._sinks
            if isinstance(sink, RecordingSink)
        )
        logger.info(
            "source %s removed%s", name, "" if finalized else "; its recording is still being finished"
        )
        return finalized

    def _detach_when_ended(self, name: str) -> None:
        while not self._ends.wait(name, 1.0, self._life.stop):
            if self._life.stop.is_set():
                return
        self._forget(name)
        logger.info("source %s removed", name)

    def _forget(self, name: str) -> None:
        with self._control:
            self._detach(name)
            self._removing.discard(name)

    def _finalizing(self) -> list[str]:
        """Removed sources whose last frames or recording are still being finished (for the status)."""
        with self._control:
            removing = set(self._removing)
        recording = {n for s in self._sinks if isinstance(s, RecordingSink) for n in s.finalizing}
        return sorted(removing | recording)

    def _detach(self, name: str) -> None:
        if self._governor is not None:
            self._governor.remove_source(name)
        self._frame_qs.pop(name, None)
        self._retire.pop(name, None)
        self._ends.forget(name)
        self._privacy.end_source(name)
        self._selection.remove_source(name)
        self._carrier.forget(name)
        self.telemetry.unregister_queue(f"frames:{name}")
        self.telemetry.forget_source(name)

    def _check_open_for_changes(self) -> None:
        if self._life.stop.is_set() or self._joined:
            raise PipelineStopped("the pipeline is stopping: sources can no longer be changed")
