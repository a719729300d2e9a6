"""What the render thread feeds: one recording per source, and the JSON-lines results file.

Sinks are created in ``Pipeline.open()`` so an unwritable path fails before any thread starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streamseg.capture import FrameSource
from streamseg.config import Config
from streamseg.export import ResultsWriter
from streamseg.render import FrameAnnotator, VideoWriter, record_path_for
from streamseg.telemetry import Telemetry
from streamseg.types import SegResult, UInt8Array


class RecordingSink:
    """Annotated H.264 per source, timestamps from the source's own pts."""

    needs_annotated = True

    def __init__(self, cfg: Config, base: str, sources: Sequence[FrameSource]) -> None:
        self._writers: dict[str, VideoWriter] = {}
        try:
            for src in sources:
                path = record_path_for(base, src.name, len(sources))
                self._writers[src.name] = VideoWriter.from_config(
                    path, cfg.output, fps_hint=src.nominal_fps, low_latency=src.is_live
                )
        except BaseException:
            self.close()
            raise

    @property
    def paths(self) -> list[str]:
        return [str(w.path) for w in self._writers.values()]

    def write(self, result: SegResult, annotated: UInt8Array | None) -> None:
        if annotated is None:
            raise ValueError("recording needs the annotated frame")
        self._writers[result.source].write(annotated, result.pts)

    def close(self) -> None:
        errors = []
        for writer in self._writers.values():
            try:
                writer.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


class ResultsSink:
    """``--save-results``: one JSON line per frame."""

    needs_annotated = False

    def __init__(self, path: str) -> None:
        self._writer = ResultsWriter(path)

    def write(self, result: SegResult, annotated: UInt8Array | None) -> None:
        self._writer.write(result)

    def close(self) -> None:
        self._writer.close()


def build_sinks(cfg: Config, sources: Sequence[FrameSource]) -> list[RecordingSink | ResultsSink]:
    sinks: list[RecordingSink | ResultsSink] = []
    try:
        if cfg.output.save_results:
            sinks.append(ResultsSink(cfg.output.save_results))
        if cfg.output.record:
            sinks.append(RecordingSink(cfg, cfg.output.record, sources))
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
