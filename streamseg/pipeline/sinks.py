"""What the render thread feeds: one recording per source, and the JSON-lines results file.

Sinks are created in ``Pipeline.open()`` so an unwritable path fails before any thread starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from streamseg.capture import FrameSource
from streamseg.config import Config
from streamseg.export import ResultsWriter
from streamseg.render import FrameAnnotator, VideoWriter, record_path_for
from streamseg.telemetry import Telemetry
from streamseg.types import SegResult, UInt8Array


class RecordingSink:
    """Annotated H.264 per source, timestamps from the source's own pts.

    Sources may be added while the pipeline runs; a source's file is finalized when its last frame is
    through (``end_source``), the others when the sink closes.
    """

    needs_annotated = True

    def __init__(
        self,
        cfg: Config,
        base: str,
        sources: Sequence[FrameSource],
        path_for: Callable[[str], Path] | None = None,
    ) -> None:
        self._output = cfg.output
        self._writers: dict[str, VideoWriter] = {}
        self._finished: list[str] = []
        try:
            for src in sources:
                path = path_for(src.name) if path_for else record_path_for(base, src.name, len(sources))
                self.add_source(src, path)
        except BaseException:
            self.close()
            raise

    @property
    def paths(self) -> list[str]:
        """Every recording so far: finalized ones (of sources that ended) first."""
        return [*self._finished, *(str(w.path) for w in list(self._writers.values()))]

    def add_source(self, src: FrameSource, path: Path) -> None:
        """Record ``src`` into ``path`` too (raises ``OutputError`` when it cannot be written)."""
        self._writers[src.name] = VideoWriter.from_config(
            path, self._output, fps_hint=src.nominal_fps, low_latency=src.is_live
        )

    def end_source(self, name: str) -> None:
        """Finalize the recording of a source whose last frame has been written."""
        writer = self._writers.pop(name, None)
        if writer is not None:
            writer.close()
            self._finished.append(str(writer.path))

    def write(self, result: SegResult, annotated: UInt8Array | None) -> None:
        if annotated is None:
            raise ValueError("recording needs the annotated frame")
        self._writers[result.source].write(annotated, result.pts)

    def close(self) -> None:
        errors = []
        for writer in list(self._writers.values()):
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


def build_sinks(
    cfg: Config, sources: Sequence[FrameSource], record_path: Callable[[str], Path] | None = None
) -> list[RecordingSink | ResultsSink]:
    """``record_path(name)``: where a source's recording goes (default: ``record_path_for``)."""
    sinks: list[RecordingSink | ResultsSink] = []
    try:
        if cfg.output.save_results:
            sinks.append(ResultsSink(cfg.output.save_results))
        if cfg.output.record:
            sinks.append(RecordingSink(cfg, cfg.output.record, sources, record_path))
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
