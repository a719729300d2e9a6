"""What the render thread feeds: one recording per source, and the JSON-lines results file.

Sinks are created in ``Pipeline.open()`` so an unwritable path fails before any thread starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from streamseg.capture import FrameSource
from streamseg.config import Config
from streamseg.export import ResultsWriter
from streamseg.render import FrameAnnotator, VideoWriter, record_path_for
from streamseg.render.encoders import X264
from streamseg.render.i420 import I420Picture
from streamseg.render.recorder import SourceRecorder, StageRecorder
from streamseg.telemetry import Telemetry
from streamseg.types import SegResult, UInt8Array


class RecordingSink:
    """Annotated H.264 per source, timestamps from the source's own pts, each source encoded on its
    own thread (``render.recorder``)."""

    needs_annotated = True

    def __init__(
        self,
        cfg: Config,
        base: str,
        sources: Sequence[FrameSource],
        codec: str = X264,
        record_stage: StageRecorder | None = None,
    ) -> None:
        self._recorders: dict[str, SourceRecorder] = {}
        # x264 threads per file: all cores for one source; shared out when many encode at once
        threads = 0 if len(sources) <= 1 else max(1, (os.cpu_count() or 1) // len(sources))
        try:
            for src in sources:
                path = record_path_for(base, src.name, len(sources))
                writer = VideoWriter.from_config(
                    path, cfg.output, src.nominal_fps, low_latency=src.is_live, codec=codec, threads=threads
                )
                self._recorders[src.name] = SourceRecorder(
                    writer, src.name, lossless=not src.is_live, record_stage=record_stage
                )
        except BaseException:
            self.close()
            raise

    @property
    def paths(self) -> list[str]:
        return [str(r.path) for r in self._recorders.values()]

    def write(self, result: SegResult, annotated: UInt8Array | I420Picture | None) -> None:
        if annotated is None:
            raise ValueError("recording needs the annotated frame")
        self._recorders[result.source].submit(annotated, result.pts)

    def close(self) -> None:
        """Finish every recording: all encoders drain at once, then each file is closed."""
        for recorder in self._recorders.values():
            recorder.stop_later()
        errors = []
        for recorder in self._recorders.values():
            try:
                recorder.close()
            except Exception as exc:
                errors.append(exc)
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


def build_sinks(
    cfg: Config, sources: Sequence[FrameSource], codec: str = X264, record_stage: StageRecorder | None = None
) -> list[RecordingSink | ResultsSink]:
    sinks: list[RecordingSink | ResultsSink] = []
    try:
        if cfg.output.save_results:
            sinks.append(ResultsSink(cfg.output.save_results))
        if cfg.output.record:
            sinks.append(RecordingSink(cfg, cfg.output.record, sources, codec, record_stage))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def build_annotate(cfg: Config, telemetry: Telemetry) -> Callable[[SegResult], UInt8Array]:
    """The render step: draw on a copy of the frame, HUD showing this source's FPS and frame age."""
    import time  # noqa: PLC0415

    annotator = FrameAnnotator(cfg.render, copy=True)  # results() hands out the clean frame

    def annotate(result: SegResult) -> UInt8Array:
        age_ms = (time.monotonic() - result.frame.capture_time) * 1000
        return annotator.annotate(result, telemetry.fps(result.source), age_ms)

    return annotate
