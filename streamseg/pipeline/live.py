"""The dashboard's live video: a ``LiveChannel`` per video source, its viewers, and whether anyone is
watching (which starts a source's encoder where nothing else needs one, see ``sinks.RecordingSink``).

Viewers are bounded for the whole run (``dashboard.live_viewers``) and per source
(``dashboard.live_viewers_per_source``): each one costs a WebSocket and a queue, and the second bound
keeps viewers of one source (a wall of stuck tabs, or someone holding slots on purpose) from taking
every other source's slots. A source's fragments are made once for all of its viewers. A source stays
"watched" for ``linger_s`` after its last viewer leaves, so a page reload finds its encoder still running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from streamseg.record.live import LiveChannel, LiveViewer

LINGER_S = 5.0
PER_SOURCE = 4  # viewers of one source at once (``dashboard.live_viewers_per_source``)


class LiveBook:
    """Channels by source, and their viewers."""

    def __init__(
        self,
        max_viewers: int = 16,
        linger_s: float = LINGER_S,
        clock: Callable[[], float] = time.monotonic,
        max_per_source: int = PER_SOURCE,
    ) -> None:
        self.max_viewers = max_viewers
        self.max_per_source = max_per_source
        self.refused = 0  # viewers turned away because a bound was reached
        self._linger_s = linger_s
        self._clock = clock
        self._channels: dict[str, LiveChannel] = {}
        self._left_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, source: str) -> LiveChannel:
        """The channel of a video source (made when the source is opened)."""
        with self._lock:
            return self._channels.setdefault(source, LiveChannel(source))

    def forget(self, source: str) -> None:
        """A removed source's channel goes (its viewers were ended when its encoder stopped)."""
        with self._lock:
            self._channels.pop(source, None)
            self._left_at.pop(source, None)

    def channel(self, source: str) -> LiveChannel | None:
        with self._lock:
            return self._channels.get(source)

    def join(self, source: str, wake: Callable[[], None]) -> LiveViewer | None:
        """A new viewer of ``source``, or None when ``max_viewers`` are watching already, or
        ``max_per_source`` watch ``source`` (or there is no live video of ``source``: a still image)."""
        with self._lock:
            channel = self._channels.get(source)
            if channel is None:
                return None
            if self._bound_reached(channel) is not None:
                self.refused += 1
                return None
            viewer = LiveViewer(source, wake)
            channel.join(viewer)
        return viewer

    def full(self, source: str) -> str | None:
        """Which bound a new viewer of ``source`` would pass (its config key), or None while one fits."""
        with self._lock:
            channel = self._channels.get(source)
            return None if channel is None else self._bound_reached(channel)

    def _bound_reached(self, channel: LiveChannel) -> str | None:
        """Under the lock."""
        if channel.viewers >= self.max_per_source:
            return "dashboard.live_viewers_per_source"
        if sum(c.viewers for c in self._channels.values()) >= self.max_viewers:
            return "dashboard.live_viewers"
        return None

    def leave(self, viewer: LiveViewer) -> None:
        channel = self.channel(viewer.source)
        if channel is not None:
            channel.leave(viewer)
        with self._lock:
            self._left_at[viewer.source] = self._clock()

    def watched(self, source: str) -> bool:
        """Someone watches ``source`` now, or did within ``linger_s``."""
        channel = self.channel(source)
        if channel is None:
            return False
        if channel.viewers:
            return True
        left = self._left_at.get(source)
        return left is not None and self._clock() - left < self._linger_s

    def status(self) -> dict[str, Any]:
        """Viewers, fragments sent and dropped per source; the limit and how many it turned away."""
        with self._lock:
            channels = dict(self._channels)
        sources = {name: c.status() for name, c in channels.items()}
        return {
            "max_viewers": self.max_viewers,
            "max_per_source": self.max_per_source,
            "refused": self.refused,
            "sources": sources,
        }
