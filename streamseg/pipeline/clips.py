"""``--clips``: each recorded (or, without ``--record``, encoded-only) source's ``ClipRecorder``, and what
triggers them: the events of the source (with ``--clip-classes``, those of these classes), or, for a
source that is not tracked, a frame with an object of ``--clip-classes`` in it."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamseg.config import Config, parse_duration
from streamseg.record.clips import ClipRecorder
from streamseg.types import SegResult


class ClipBook:
    """The clip recorders of a run, by source."""

    def __init__(self, cfg: Config) -> None:
        out = cfg.output
        if out.clips is None:
            raise ValueError("ClipBook needs output.clips")
        self.folder = Path(out.clips)
        self.pre_roll_s = parse_duration(out.pre_roll, "--pre-roll")
        self.post_roll_s = parse_duration(out.post_roll, "--post-roll")
        self.classes = frozenset(out.clip_classes)
        self._recorders: dict[str, ClipRecorder] = {}
        self._lock = threading.Lock()

    def open(self, source: str) -> ClipRecorder:
        """The source's recorder (``OutputError`` when its folder cannot be written)."""
        recorder = ClipRecorder(self.folder, source, self.pre_roll_s, self.post_roll_s)
        with self._lock:
            self._recorders[source] = recorder
        return recorder

    def close(self, source: str) -> None:
        """After the source's encoder has closed: finish its open clip."""
        with self._lock:
            recorder = self._recorders.pop(source, None)
        if recorder is not None:
            recorder.close()

    def for_event(self, event: Mapping[str, Any]) -> str | None:
        """The clip an event goes into (its path), or None (a class not asked for, no encoder yet)."""
        if self.classes and event.get("class_name") not in self.classes:
            return None
        recorder = self._recorders.get(str(event.get("source")))
        return recorder.trigger(float(event["pts"]), str(event["type"])) if recorder is not None else None

    def for_presence(self, result: SegResult) -> None:
        """A frame of an untracked source with an object of ``--clip-classes``: a clip around it."""
        if not self.classes or not any(result.class_name(i) in self.classes for i in range(len(result))):
            return
        recorder = self._recorders.get(result.source)
        if recorder is not None:
            recorder.trigger(result.pts, "present")

    def writing(self) -> set[Path]:
        with self._lock:
            recorders = list(self._recorders.values())
        return {path for r in recorders if (path := r.writing) is not None}

    def status(self) -> dict[str, int]:
        """Clips so far, per source still running: those written and the one being written (it counts
        from its event on; with events close together it grows for as long as they keep coming)."""
        with self._lock:
            recorders = dict(self._recorders)
        return {name: len(r.written) + (r.writing is not None) for name, r in recorders.items()}
