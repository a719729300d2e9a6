"""Click prompts per source, shared by the dashboard (writes) and the inference thread (reads).

A click is a point prompt for the object under it, segmented on every following frame of that source
until cleared. It follows the object: after each frame the inference thread moves it to the middle of
the object's new mask (``move``), so a clicked person stays masked as they walk. A lock guards the dict;
readers get a copy, never a live list.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from streamseg.inference.sam.prompts import Prompt


class PromptBoard:
    """``add``/``clear`` from any thread; ``prompts(source)`` once per frame from the inference thread."""

    def __init__(self, sources: Iterable[str], max_per_source: int = 8) -> None:
        self._lock = threading.Lock()
        self._prompts: dict[str, list[Prompt]] = {name: [] for name in sources}
        self._sizes: dict[str, tuple[int, int]] = {}
        self.max_per_source = max_per_source

    @property
    def sources(self) -> list[str]:
        return list(self._prompts)

    def add_source(self, source: str) -> None:
        """A source that joined the run: it can be clicked on from now on."""
        with self._lock:
            self._prompts.setdefault(source, [])

    def remove_source(self, source: str) -> None:
        """A source that left the run: its prompts and picture size go with it."""
        with self._lock:
            self._prompts.pop(source, None)
            self._sizes.pop(source, None)

    def add(self, source: str, prompt: Prompt) -> int:
        """Add a prompt (the oldest goes when full); returns how many the source now has.

        Raises ``KeyError`` for an unknown source and ``ConfigError`` for a point outside its pictures.
        """
        with self._lock:
            prompts = self._prompts[source]
            size = self._sizes.get(source)
            if size is not None:
                prompt.check_inside(*size, where="point")
            prompts.append(prompt)
            del prompts[: max(0, len(prompts) - self.max_per_source)]
            return len(prompts)

    def clear(self, source: str) -> int:
        """Forget a source's prompts; returns how many there were."""
        with self._lock:
            prompts = self._prompts[source]
            count = len(prompts)
            prompts.clear()
            return count

    def prompts(self, source: str, frame_wh: tuple[int, int] | None = None) -> list[Prompt]:
        """The source's prompts now (a copy); ``frame_wh`` records its picture size for checking clicks."""
        with self._lock:
            if frame_wh is not None:
                self._sizes[source] = frame_wh
            return list(self._prompts.get(source, ()))

    def move(self, source: str, prompt: Prompt, moved: Prompt) -> bool:
        """Replace ``prompt`` (the very object ``prompts`` handed out) with ``moved``; False when it was
        cleared or pushed out meanwhile."""
        with self._lock:
            prompts = self._prompts.get(source, [])
            for i, current in enumerate(prompts):
                if current is prompt:
                    prompts[i] = moved
                    return True
            return False

    def frame_size(self, source: str) -> tuple[int, int] | None:
        """(width, height) of the source's pictures, once a frame of it has been seen."""
        with self._lock:
            return self._sizes.get(source)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: len(p) for name, p in self._prompts.items()}
