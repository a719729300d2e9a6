"""The leak watchdog in a real pipeline: a source that holds on to its frames trips it, a normal run does not.

The watch runs with a short window (``telemetry.leak_window_s``) so a test takes seconds, not half an
hour; everything else (sampler thread, robust slope, the one warning line) is what a run uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamseg import Pipeline
from streamseg.capture import FrameSource
from streamseg.config import Config, ModelConfig, PipelineConfig, SourceConfig, TelemetryConfig
from streamseg.pipeline import runner
from streamseg.testing.media import write_video
from streamseg.types import Frame, UInt8Array

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_stray_threads")]

WINDOW_S = 6.0
WARN_MIB_PER_HOUR = 2048.0  # 0.57 MiB/s; holding 320x240 frames at ~20 fps is ~4.4 MiB/s
# A normal run is judged against 1.7 MiB/s, still under half the hoarder's rate: over a 6 s window a
# loaded 2-core box has shown +3.5 MiB of allocator noise (2126 MiB/h) in a run that leaks nothing.
NORMAL_WARN_MIB_PER_HOUR = 3 * WARN_MIB_PER_HOUR
HOARD: list[UInt8Array] = []  # what the leaking source keeps, across --loop passes


class Hoarder:
    """Test-only: a source that keeps a copy of every picture it hands out (a leak, on purpose)."""

    def __init__(self, inner: FrameSource) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def read(self) -> Frame | None:
        frame = self._inner.read()
        if frame is not None:
            HOARD.append(frame.image.copy())
        return frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leak") / "loop.mp4"
    write_video(path, n_frames=30, size_wh=(320, 240), fps=30)
    return path


@pytest.fixture
def leaking_sources(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = runner.open_source
    monkeypatch.setattr(runner, "open_source", lambda *a, **k: Hoarder(real(*a, **k)))
    yield
    HOARD.clear()


def watched_run(
    clip: Path, model: Path, engines: Path, seconds: float, warn: float = WARN_MIB_PER_HOUR
) -> dict[str, Any]:
    cfg = Config(
        sources=(SourceConfig(str(clip)),),
        model=ModelConfig(path=str(model), imgsz=160, batch=2, engines_dir=str(engines)),
        pipeline=PipelineConfig(loop=True),
        telemetry=TelemetryConfig(leak_warn_mib_per_hour=warn, leak_window_s=WINDOW_S),
    )
    pipeline = Pipeline(config=cfg)
    started = time.monotonic()
    for _ in pipeline.results():
        if time.monotonic() - started > seconds:
            break
    return pipeline.telemetry.snapshot()


def test_a_source_that_holds_on_to_frames_trips_the_watchdog(
    leaking_sources: None,
    clip: Path,
    random_seg_onnx: Path,
    engines_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="streamseg.telemetry.leak"):
        snap = watched_run(clip, random_seg_onnx, engines_dir, WINDOW_S * 2.5)
    held = sum(a.nbytes for a in HOARD) / 2**20
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, (warnings, held)  # one line, however long it keeps leaking
    assert warnings[0].startswith("memory keeps growing: RSS +") and "over the last 6 s" in warnings[0]
    growth = snap["memory_growth_bytes_per_hour"]["rss"] / 2**20
    assert growth > WARN_MIB_PER_HOUR, (growth, held)


def test_a_normal_run_does_not(
    clip: Path, random_seg_onnx: Path, engines_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="streamseg.telemetry.leak"):
        snap = watched_run(clip, random_seg_onnx, engines_dir, WINDOW_S * 2.5, NORMAL_WARN_MIB_PER_HOUR)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    # Reported, but not judged by its last value: over a 6 s window one heap trim (every 10 s) and the
    # regrowth after it make a slope of a few GiB/h for a moment; the warning asks for it to persist.
    assert snap["memory_growth_bytes_per_hour"]["rss"] is not None
