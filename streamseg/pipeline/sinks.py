"""What the render thread feeds: one recording per source, and the JSON-lines results file.

Sinks are created in ``Pipeline.open()`` so an unwritable path fails before any thread starts.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from streamseg.capture import FrameSource, ImageSource
from streamseg.config import Config
from streamseg.errors import ConfigError
from streamseg.export import ResultsWriter
from streamseg.gpu.picture import I420Picture
from streamseg.pipeline.clips import ClipBook
from streamseg.pipeline.disk import DiskUse
from streamseg.pipeline.live import LiveBook
from streamseg.pipeline.publishing import PublishBook, check_protocol
from streamseg.record import VideoWriter, record_path_for
from streamseg.record.encoders import X264
from streamseg.record.packets import EncodedPacket
from streamseg.record.recorder import SourceRecorder
from streamseg.render import FrameAnnotator
from streamseg.render.stills import StillImageSink
from streamseg.telemetry import Telemetry
from streamseg.types import SegResult, StageRecorder, UInt8Array

logger = logging.getLogger(__name__)


class RecordingSink:
    """Annotated H.264 per source, timestamps from the source's own pts, each source encoded on its
    own thread (``record.recorder``); the same encoder feeds the source's event clips (``clips``), its
    publisher and its live view (``live``); with those but no ``--record`` it encodes for them alone
    (``base`` None: no recording file). A source that only the live view needs is encoded only while
    someone watches it: its encoder starts with the first watched frame and stops with the first frame
    nobody watches (``LiveBook.watched``), and never holds up the pipeline (frames are dropped instead).

    Sources may be added while the pipeline runs; a source's file is finalized when its last frame is
    through (``end_source``), the others when the sink closes.
    """

    needs_annotated = True

    def __init__(
        self,
        cfg: Config,
        base: str | None,
        sources: Sequence[FrameSource],
        codec: str = X264,
        record_stage: StageRecorder | None = None,
        path_for: Callable[[str], Path] | None = None,
        clips: ClipBook | None = None,
        publish: PublishBook | None = None,
        live: LiveBook | None = None,
    ) -> None:
        self._output = cfg.output
        self.clips = clips
        self.publish = publish
        self.live = live
        self._on_demand: dict[str, FrameSource] = {}  # encoded only while watched
        self._unwatched: list[threading.Thread] = []  # their encoders stopping (close waits for them)
        self._writers: dict[str, list[VideoWriter]] = {}  # every writer a source had (disk use)
        self._codec = codec
        self._record_stage = record_stage
        self._recorders: dict[str, SourceRecorder] = {}
        self._finished: list[str] = []
        self._finishing: dict[str, threading.Thread] = {}  # ended sources whose files are being closed
        self._closing: dict[str, Path] = {}  # and those files
        self._errors: list[BaseException] = []  # from closing those, raised by close()
        self._lock = threading.Lock()
        try:
            for src in sources:
                path = None  # clips only: encoded, no recording file
                if base is not None:
                    path = path_for(src.name) if path_for else record_path_for(base, src.name, len(sources))
                self.add_source(src, path, sharing=len(sources))
        except BaseException:
            self.close()
            raise

    @property
    def paths(self) -> list[str]:
        """Every recording so far: those of sources that ended (finalized or being finished) first."""
        with self._lock:
            finished = list(self._finished)
        return [*finished, *(str(r.path) for r in list(self._recorders.values()) if r.writer.paths)]

    def add_source(self, src: FrameSource, path: Path | None, sharing: int = 0) -> None:
        """Record ``src`` into ``path`` too (None: encode for its clips or publisher only; raises
        ``OutputError`` when it cannot be written). ``sharing``: how many files encode at once
        (default: those recording now, plus this one)."""
        clip = self.clips.open(src.name) if self.clips is not None else None
        publisher = self.publish.open(src.name) if self.publish is not None else None
        channel = self.live.add(src.name) if self.live is not None else None
        if path is None and clip is None and publisher is None:
            if channel is not None:
                self._on_demand[src.name] = src
            return
        takers = [t for t in (clip, publisher, channel) if t is not None]
        self._start(src, path, sharing, takers)

    def _start(
        self,
        src: FrameSource,
        path: Path | None,
        sharing: int,
        takers: list[Any],
        *,
        watch_only: bool = False,
    ) -> None:
        """An encoder for ``src`` (and its file, if ``path``) whose packets go to ``takers``. Files are
        lossless (the render thread waits for their encoder); a live source, or an encoder that only
        the live view needs (``watch_only``), drops frames rather than wait, and encodes without
        lookahead, so a frame leaves the encoder as soon as it went in."""
        sharing = sharing or len(self._recorders) + 1
        # x264 threads per file: all cores for one source; shared out when many encode at once
        threads = 0 if sharing <= 1 else max(1, (os.cpu_count() or 1) // sharing)
        fps, prompt = src.nominal_fps, src.is_live or watch_only
        packets = _fan_out([t.packets for t in takers])
        writer = VideoWriter.from_config(path, self._output, fps, prompt, self._codec, threads, packets)
        for taker in takers:
            taker.attach(writer)
        if path is not None:
            with self._lock:
                self._writers.setdefault(src.name, []).append(writer)
        self._recorders[src.name] = SourceRecorder(
            writer, src.name, lossless=not prompt, record_stage=self._record_stage
        )

    def end_source(self, name: str) -> None:
        """Finalize the recording of a source whose last frame has been handed over, on a thread of its
        own: the render thread (and every other camera) never waits for one encoder to drain."""
        self._on_demand.pop(name, None)
        with self._lock:
            self._writers.pop(name, None)
        recorder = self._recorders.pop(name, None)
        if recorder is None:
            return
        recorder.stop_later()
        finisher = threading.Thread(target=self._finish, args=(name, recorder), name=f"finalize-{name}")
        with self._lock:
            if recorder.writer.paths:
                self._finished.append(str(recorder.path))
                self._closing[name] = Path(recorder.path)
            self._finishing[name] = finisher
        finisher.start()

    def files_by_source(self) -> dict[str, list[Path]]:
        """Each video source of the run now, and every recording file (segments included) it has had."""
        with self._lock:
            names = {*self._recorders, *self._on_demand}
            writers = {name: list(self._writers.get(name, ())) for name in names}
        return {name: [p for w in ws for p in list(w.paths)] for name, ws in writers.items()}

    def writing(self) -> set[Path]:
        """The files being written or finished now (retention never deletes them)."""
        with self._lock:
            closing = set(self._closing.values())
        clips = self.clips.writing() if self.clips is not None else set()
        return closing | clips | {Path(r.path) for r in list(self._recorders.values()) if r.writer.paths}

    def finalized(self, name: str, timeout: float) -> bool:
        """Wait up to ``timeout`` s for ``name``'s recording to be finished; False if it still is not."""
        with self._lock:
            finisher = self._finishing.get(name)
        if finisher is not None:
            finisher.join(timeout)
            return not finisher.is_alive()
        return True

    @property
    def finalizing(self) -> list[str]:
        """Sources whose recordings are still being finished."""
        with self._lock:
            return list(self._finishing)

    def _finish(self, name: str, recorder: SourceRecorder) -> None:
        try:
            recorder.close()
        except Exception as exc:
            logger.error("finishing the recording of %s failed: %s", name, exc)
            with self._lock:
                self._errors.append(exc)
        self._after_encoder(name, recorder.writer)
        with self._lock:
            if self._finishing.get(name) is threading.current_thread():
                del self._finishing[name]
                self._closing.pop(name, None)
            again = name in self._recorders or name in self._on_demand  # added again meanwhile
        if self.live is not None and not again:
            self.live.forget(name)

    def _after_encoder(self, name: str, writer: VideoWriter | None = None) -> None:
        """The source's encoder (``writer``) is done: its open clip ends, its publisher disconnects, its
        live view ends."""
        if self.clips is not None:
            self.clips.close(name)
        if self.publish is not None:
            self.publish.close(name)
        channel = self.live.channel(name) if self.live is not None else None
        if channel is not None and writer is not None:
            channel.detach(writer)

    def write(self, result: SegResult, annotated: UInt8Array | I420Picture | None) -> None:
        name = result.source
        if name in self._on_demand:
            self._watch_or_stop(name, annotated is not None)
        recorder = self._recorders.get(name)
        if recorder is None:  # a still image (--save-images writes those), or a source nobody watches
            return
        if annotated is None:
            raise ValueError("recording needs the annotated frame")
        recorder.submit(annotated, result.pts, result.frame.capture_time)

    def _watch_or_stop(self, name: str, drawn: bool) -> None:
        """Start the encoder of a source only the live view needs when it is watched, stop it when not."""
        watched = drawn and self.live is not None and self.live.watched(name)
        running = name in self._recorders
        if watched and not running and self.live is not None:
            self._start(self._on_demand[name], None, 0, [self.live.add(name)], watch_only=True)
        elif running and not watched:
            recorder = self._recorders.pop(name)
            recorder.stop_later()
            stopping = threading.Thread(
                target=self._stop_on_demand, args=(recorder,), name=f"unwatched-{name}"
            )
            self._unwatched = [t for t in self._unwatched if t.is_alive()] + [stopping]
            stopping.start()

    def _stop_on_demand(self, recorder: SourceRecorder) -> None:
        try:
            recorder.close()
        except Exception as exc:  # no file to lose: the viewer's stream just ends
            logger.warning("live view of %s: its encoder failed: %s", recorder.source, exc)
        channel = self.live.channel(recorder.source) if self.live is not None else None
        if channel is not None:
            channel.detach(recorder.writer)

    def close(self) -> None:
        """Finish every recording: all encoders drain at once, then each file is closed."""
        recorders = list(self._recorders.values())
        for recorder in recorders:
            recorder.stop_later()
        errors: list[BaseException] = []
        for recorder in recorders:
            try:
                recorder.close()
            except Exception as exc:
                errors.append(exc)
            self._after_encoder(recorder.source, recorder.writer)
        with self._lock:
            finishers = list(self._finishing.values())
        for finisher in [*finishers, *self._unwatched]:
            finisher.join()
        errors += self._errors
        if errors:
            raise errors[0]


class ResultsSink:
    """``--save-results``: one JSON line per frame."""

    needs_annotated = False

    def __init__(self, path: str) -> None:
        self._writer = ResultsWriter(path)

    def write(self, result: SegResult, annotated: UInt8Array | I420Picture | None) -> None:
        self._writer.write(result)

    def close(self) -> None:
        self._writer.close()


Sinks = list[RecordingSink | ResultsSink | StillImageSink]


def build_sinks(
    cfg: Config,
    sources: Sequence[FrameSource],
    codec: str = X264,
    record_stage: StageRecorder | None = None,
    record_path: Callable[[str], Path] | None = None,
    live: LiveBook | None = None,
) -> Sinks:
    """Videos are recorded (``--record``, each on its own encoder thread), still images saved as images
    (``--save-images``). ``record_path(name)``: where a source's recording goes (default:
    ``record_path_for``); ``live``: the dashboard's live video, encoded while watched."""
    stills = [s for s in sources if isinstance(s, ImageSource)]
    videos = [s for s in sources if not isinstance(s, ImageSource)]
    check_outputs_have_sources(cfg, sources)
    sinks: Sinks = []
    try:
        if cfg.output.save_results:
            sinks.append(ResultsSink(cfg.output.save_results))
        out = cfg.output
        if out.record or out.clips or out.publish or live is not None:
            clips = ClipBook(cfg) if out.clips else None
            publish = PublishBook(cfg) if out.publish else None
            sinks.append(
                RecordingSink(cfg, out.record, videos, codec, record_stage, record_path, clips, publish, live)
            )
        if cfg.output.save_images:
            names = [name for s in stills for name in s.file_names]
            sinks.append(StillImageSink(cfg.output.save_images, names, cfg.render))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def annotated_outputs(cfg: Config) -> bool:
    """Whether an output of ``cfg`` needs every frame annotated: recordings, clips, publishing. Still
    images are drawn by their own sink, and the dashboard's preview annotates its own copy, only while
    watched."""
    return bool(cfg.output.record or cfg.output.clips or cfg.output.publish)


def check_outputs_have_sources(cfg: Config, sources: Sequence[FrameSource]) -> None:
    """``--record`` needs a video source and ``--save-images`` a still one (a pipeline that starts empty
    and takes sources later is not judged); ``--publish`` a protocol FFmpeg has. Cheap: the pipeline
    asks before it loads the model."""
    if cfg.output.publish:
        check_protocol(cfg.output.publish)
    if not sources:
        return
    stills = [s for s in sources if isinstance(s, ImageSource)]
    videos = [s for s in sources if not isinstance(s, ImageSource)]
    if cfg.output.record and not videos:
        raise ConfigError("--record writes video, and every source is a still image: use --save-images DIR")
    if cfg.output.save_images and not stills:
        raise ConfigError("--save-images writes annotated still images, and no source is one: use --record")


def build_annotate(cfg: Config, telemetry: Telemetry) -> Callable[[SegResult], UInt8Array]:
    """The render step: draw on a copy of the frame, HUD showing this source's FPS and frame age."""
    import time  # noqa: PLC0415

    annotator = FrameAnnotator(cfg.render, copy=True)  # results() hands out the clean frame

    def annotate(result: SegResult) -> UInt8Array:
        age_ms = (time.monotonic() - result.frame.capture_time) * 1000
        return annotator.annotate(result, telemetry.fps(result.source), age_ms)

    return annotate


def status_sections(cfg: Config, sinks: Sinks) -> dict[str, Callable[[], Any]]:
    """What the outputs add to the status: publishers' states, clip counts, live viewers, disk used per
    source (keyed as in the status)."""
    sections: dict[str, Callable[[], Any]] = {}
    recordings = next((s for s in sinks if isinstance(s, RecordingSink)), None)
    if cfg.output.record or cfg.output.clips or cfg.events.snapshots:
        files = recordings.files_by_source if recordings is not None else dict
        sections["disk"] = DiskUse(cfg, files).bytes_by_source
    for sink in sinks:
        if isinstance(sink, RecordingSink) and sink.live is not None:
            sections["live"] = sink.live.status
        if isinstance(sink, RecordingSink) and sink.publish is not None:
            sections["publish"] = sink.publish.status
        if isinstance(sink, RecordingSink) and sink.clips is not None:
            sections["clips"] = sink.clips.status
    return sections


def _fan_out(
    listeners: Sequence[Callable[[list[EncodedPacket]], None]],
) -> Callable[[list[EncodedPacket]], None] | None:
    """One encoder, several takers of its packets (clips, a publisher); None when there is none."""
    if not listeners:
        return None
    if len(listeners) == 1:
        return listeners[0]

    def each(packets: list[EncodedPacket]) -> None:
        for listener in listeners:
            listener(packets)

    return each
