"""The retention sweeper: a thread that applies ``--retain`` / ``--retain-size`` to a run's recordings
(segments included), event clips and snapshots, at start and then every minute or so, and says in one line per
sweep what it deleted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamseg.config import Config, parse_duration, parse_size
from streamseg.pipeline.sinks import RecordingSink
from streamseg.record.retention import Root, sweep
from streamseg.telemetry import Telemetry

logger = logging.getLogger(__name__)

MAX_INTERVAL_S = 60.0


def roots_for(cfg: Config) -> list[Root]:
    """The folders and file patterns this run writes: ``out*.mp4`` beside ``--record out.mp4`` (every
    source's file and segment), and the snapshot folder's JPEGs."""
    roots = []
    if cfg.output.record:
        base = Path(cfg.output.record)
        roots.append(Root(base.parent, (f"{base.stem}*{base.suffix or '.mp4'}",)))
    if cfg.events.snapshots:
        roots.append(Root(Path(cfg.events.snapshots), ("*/*-frame.jpg", "*/*-crop.jpg")))
    if cfg.output.clips:
        roots.append(Root(Path(cfg.output.clips), ("*/*.mp4",)))
    return roots


class RetentionSweeper:
    """Sweeps ``roots`` until ``stop``; ``writing()`` names the files being written (never deleted)."""

    def __init__(self, cfg: Config, writing: Callable[[], set[Path]], stop: threading.Event) -> None:
        out = cfg.output
        self.max_age_s = parse_duration(out.retain, "output.retain") if out.retain else None
        self.max_bytes = parse_size(out.retain_size, "output.retain_size") if out.retain_size else None
        self.roots = roots_for(cfg)
        self.interval_s = min(MAX_INTERVAL_S, max(1.0, (self.max_age_s or MAX_INTERVAL_S) / 10))
        self._writing = writing
        self._stop = stop
        self._lock = threading.Lock()
        self._totals = {"deleted_files": 0, "deleted_bytes": 0, "kept_bytes": 0, "kept_files": 0}
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    @property
    def active(self) -> bool:
        return bool(self.roots) and (self.max_age_s is not None or self.max_bytes is not None)

    def start(self) -> RetentionSweeper:
        if self.active:
            self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def sweep_now(self) -> None:
        result = sweep(self.roots, self.max_age_s, self.max_bytes, self._writing())
        with self._lock:
            self._totals["deleted_files"] += len(result.deleted)
            self._totals["deleted_bytes"] += result.freed_bytes
            self._totals["kept_bytes"] = result.kept_bytes
            self._totals["kept_files"] = result.kept_files
        if result.deleted:
            oldest = min(result.deleted, key=lambda f: f.mtime)
            logger.warning(
                "retention: deleted %d file(s), %s (%s), oldest %s; %s in %d file(s) kept",
                len(result.deleted), _size(result.freed_bytes), self._limits(), oldest.path.name,
                _size(result.kept_bytes), result.kept_files,
            )  # fmt: skip

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"max_age_s": self.max_age_s, "max_bytes": self.max_bytes, **self._totals}

    def _run(self) -> None:
        while True:
            try:
                self.sweep_now()
            except Exception:  # a sweep that fails must not stop the run; say so and try again later
                logger.exception("retention: the sweep failed")
            if self._stop.wait(self.interval_s):
                return

    def _limits(self) -> str:
        said = []
        if self.max_age_s is not None:
            said.append(f"older than {_age(self.max_age_s)}")
        if self.max_bytes is not None:
            said.append(f"over {_size(self.max_bytes)}")
        return " or ".join(said)


def _size(n: int) -> str:
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _age(seconds: float) -> str:
    for unit, scale in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= scale:
            return f"{seconds / scale:g}{unit}"
    return f"{seconds:g}s"


def start_retention(
    cfg: Config, sinks: list[Any], stop: threading.Event, telemetry: Telemetry
) -> RetentionSweeper | None:
    """The run's sweeper, started (None without ``--retain``/``--retain-size``); its figures go to the
    status as ``retention``."""
    if not (cfg.output.retain or cfg.output.retain_size):
        return None
    recordings = [s for s in sinks if isinstance(s, RecordingSink)]

    def writing() -> set[Path]:
        return {path for sink in recordings for path in sink.writing()}

    sweeper = RetentionSweeper(cfg, writing, stop).start()
    telemetry.register_section("retention", sweeper.status)
    return sweeper
