"""The render thread's privacy work: each result of a source with privacy comes out with its frame
replaced by the hidden picture, before anything draws, records, publishes, previews or snapshots it.

Replacing the frame (not hiding on the drawn copy) is what makes *every* picture that leaves hidden:
recordings, clips, publishers and the live view encode the drawing made on it; the preview, event
snapshots (whole frame and object crop), ``--save-images`` and ``Pipeline.results()`` read the frame
itself. The masks, boxes and classes stay in the result (the results file keeps them) and
``result.privacy`` says which instances were hidden.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from typing import Any

from streamseg.config import Config, SourceConfig
from streamseg.config.privacy import PrivacyConfig, check_privacy_classes, privacy_for
from streamseg.privacy.guard import SourceGuard
from streamseg.privacy.hider import Hider
from streamseg.types import PrivacyMarks, SegResult

logger = logging.getLogger(__name__)


class PrivacyStep:
    """Guards per source (those whose privacy section hides something), and what each has hidden."""

    def __init__(self, cfg: Config) -> None:
        self._cfg = cfg
        self._guards: dict[str, SourceGuard] = {}
        self._hiders: dict[str, Hider] = {}
        self._class_names: Sequence[str] | None = None
        self._lock = threading.Lock()

    def configured(self, sc: SourceConfig) -> PrivacyConfig:
        """What ``sc`` hides: its own section over the run's."""
        return privacy_for(self._cfg.privacy, sc.privacy)

    def may_hide(self) -> bool:
        """Whether any source of the run hides, or a source added later might (the run's own section
        hides for every source): the device path then leaves drawing to the host (``DrawPolicy``)."""
        return self._cfg.privacy.active or any(self.configured(sc).active for sc in self._cfg.sources)

    def set_class_names(self, names: Sequence[str], sources: Sequence[tuple[str, SourceConfig]]) -> None:
        """The model's classes, once it is loaded: every hidden class must be one of them
        (``ConfigError``, one line), for the sources given now and those added later."""
        self._class_names = tuple(names)
        check_privacy_classes(self._cfg.privacy, self._class_names, "--privacy")
        for name, sc in sources:
            check_privacy_classes(self.configured(sc), self._class_names, f"source {name}")

    def add_source(self, name: str, sc: SourceConfig) -> None:
        """Guard ``name`` when its privacy section hides something (``ConfigError`` for a class the
        model does not have, when its classes are known)."""
        privacy = self.configured(sc)
        if not privacy.active:
            return
        if self._class_names is not None:
            check_privacy_classes(privacy, self._class_names, f"source {name}")
        with self._lock:
            self._guards[name] = SourceGuard(privacy)
            self._hiders.setdefault(privacy.style, Hider(privacy.style))
        what = [f"{', '.join(privacy.objects)} by mask" if privacy.objects else ""]
        what.append(f"{len(privacy.areas)} areas" if privacy.areas else "")
        logger.info("source %s: privacy hides %s (%s)", name, ", ".join(w for w in what if w), privacy.style)

    def end_source(self, name: str) -> None:
        with self._lock:
            self._guards.pop(name, None)

    def hides(self, source: str) -> bool:
        return source in self._guards

    def needs_host_masks(self) -> bool:
        """Objects hidden by their masks need each frame's masks on the host."""
        return any(g.config.objects for g in list(self._guards.values()))

    def __call__(self, result: SegResult) -> SegResult:
        guard = self._guards.get(result.source)
        if guard is None:
            return result
        hiding = guard.plan(result)
        hider = self._hiders[guard.config.style]
        image = result.frame.image
        picture = hider.hide_all(image) if hiding.full_frame else hider.hide(image, hiding.regions)
        marks = PrivacyMarks(hiding.hidden, hiding.ghosts, hiding.full_frame)
        return dataclasses.replace(result, frame=result.frame.replace(image=picture), privacy=marks)

    def status(self) -> dict[str, Any]:
        """Per source: what it hides, and how often each fallback was needed."""
        with self._lock:
            guards = dict(self._guards)
        return {
            name: {
                "objects": list(g.config.objects),
                "areas": len(g.config.areas),
                "style": g.config.style,
                **dataclasses.asdict(g.counts),
            }
            for name, g in guards.items()
        }
