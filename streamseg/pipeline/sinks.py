"""What the render thread feeds: one recording per source, and the JSON-lines results file.

Sinks are created in ``Pipeline.open()`` so an unwritable path fails before any thread starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streamseg.capture import FrameSource, ImageSource
from streamseg.config import Config
from streamseg.errors import ConfigError
from streamseg.export import ResultsWriter
from streamseg.render import FrameAnnotator, VideoWriter, record_path_for
from streamseg.render.stills import StillImageSink
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
        writer = self._writers.get(result.source)
        if writer is None:  # a still image: --save-images writes those
            return
        if annotated is None:
            raise ValueError("recording needs the annotated frame")
        writer.write(annotated, result.pts)

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


Sinks = list[RecordingSink | ResultsSink | StillImageSink]


def build_sinks(cfg: Config, sources: Sequence[FrameSource]) -> Sinks:
    """Videos are recorded (``--record``), still images saved as images (``--save-images``)."""
    stills = [s for s in sources if isinstance(s, ImageSource)]
    videos = [s for s in sources if not isinstance(s, ImageSource)]
    _check_outputs_have_sources(cfg, stills, videos)
    sinks: Sinks = []
    try:
        if cfg.output.save_results:
            sinks.append(ResultsSink(cfg.output.save_results))
        if cfg.output.record:
            sinks.append(RecordingSink(cfg, cfg.output.record, videos))
        if cfg.output.save_images:
            names = [name for s in stills for name in s.file_names]
            sinks.append(StillImageSink(cfg.output.save_images, names, cfg.render))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def _check_outputs_have_sources(
    cfg: Config, stills: Sequence[ImageSource], videos: Sequence[FrameSource]
) -> None:
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
