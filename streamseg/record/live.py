"""Live video of one source for the dashboard's viewers: its encoder's packets as fMP4 fragments, handed
to every viewer through a bounded queue of its own.

The encoder's thread calls ``packets`` and never waits for a viewer: a viewer whose queue is full (a
slow network, a background tab) loses what it had queued, is counted, and starts again at the next
keyframe; the others are untouched. A viewer that joins gets the init segment and the fragments since
the last keyframe, so its picture starts at once. Fragments are only made while someone watches.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import av

from streamseg.record.fmp4 import Fragment, Fragmenter, InitSegment
from streamseg.record.packets import EncodedPacket
from streamseg.record.writer import VideoWriter

logger = logging.getLogger(__name__)

VIEWER_QUEUE = 90  # fragments waiting per viewer (3 s at 30 fps) before it is made to skip ahead

LiveItem = InitSegment | Fragment


class LiveViewer:
    """One viewer's queue; ``wake`` is called (from any thread) when something was added."""

    def __init__(self, source: str, wake: Callable[[], None], max_items: int = VIEWER_QUEUE) -> None:
        self.source = source
        self.dropped = 0  # fragments this viewer never got because it fell behind
        self.sent = 0
        self._wake = wake
        self._items: deque[LiveItem] = deque()
        self._max = max(2, max_items)
        self._waiting_for_key = True
        self._lock = threading.Lock()

    def offer(self, item: LiveItem) -> None:
        with self._lock:
            if isinstance(item, InitSegment):  # a new stream: what was queued belongs to the old one
                self._items = deque([item])
                self._waiting_for_key = True
            else:
                if len(self._items) >= self._max:  # fell behind: drop what waits, skip to a keyframe
                    self.dropped += sum(isinstance(i, Fragment) for i in self._items)
                    self._items = deque(i for i in self._items if isinstance(i, InitSegment))
                    self._waiting_for_key = True
                if self._waiting_for_key and not item.keyframe:
                    self.dropped += 1
                    return
                self._waiting_for_key = False
                self._items.append(item)
        self._wake()

    def take(self) -> list[LiveItem]:
        with self._lock:
            items, self._items = list(self._items), deque()
        self.sent += sum(isinstance(i, Fragment) for i in items)
        return items


class LiveChannel:
    """The live video of one source; ``packets`` is the encoder's packet listener, ``attach`` names the
    encoder (a new one, after an on-demand restart, starts a new stream for every viewer)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.fragments = 0
        self._viewers: list[LiveViewer] = []
        self._writer: VideoWriter | None = None
        self._fragmenter: Fragmenter | None = None
        self._init: InitSegment | None = None
        self._since_key: list[Fragment] = []  # the newest keyframe's fragment and those after it
        self._dropped_by_gone = 0
        self._lock = threading.Lock()

    @property
    def viewers(self) -> int:
        with self._lock:
            return len(self._viewers)

    def dropped(self) -> int:
        """Fragments viewers (those here and those gone) never got because they fell behind."""
        with self._lock:
            return self._dropped_by_gone + sum(v.dropped for v in self._viewers)

    def attach(self, writer: VideoWriter) -> None:
        with self._lock:
            self._writer = writer
            self._stop_fragmenter()

    def detach(self, writer: VideoWriter) -> None:
        """``writer`` is done (its source ended, or nobody watched): the stream ends with it."""
        with self._lock:
            if self._writer is writer:
                self._writer = None
                self._stop_fragmenter()

    def join(self, viewer: LiveViewer) -> None:
        with self._lock:
            self._viewers.append(viewer)
            start: list[LiveItem] = [self._init, *self._since_key] if self._init is not None else []
        for item in start:
            viewer.offer(item)

    def leave(self, viewer: LiveViewer) -> None:
        with self._lock:
            if viewer in self._viewers:
                self._viewers.remove(viewer)
                self._dropped_by_gone += viewer.dropped
            if not self._viewers:
                self._stop_fragmenter()

    def packets(self, packets: list[EncodedPacket]) -> None:
        """From the encoder's thread: fragments for the viewers, made only while there are any."""
        with self._lock:
            if not self._viewers or self._writer is None:
                return
            if self._fragmenter is None:
                stream = self._writer.stream
                if stream is None:
                    return
                try:
                    self._fragmenter = Fragmenter(stream, self._on_init, self._on_fragment)
                except (OSError, av.FFmpegError) as exc:
                    logger.warning("live view of %s: cannot start the stream: %s", self.source, exc)
                    return
            try:
                self._fragmenter.add(packets)
            except (OSError, av.FFmpegError) as exc:
                logger.warning("live view of %s: %s; starting the stream again", self.source, exc)
                self._stop_fragmenter()

    def status(self) -> dict[str, Any]:
        return {"viewers": self.viewers, "fragments": self.fragments, "dropped": self.dropped()}

    # -- under the lock ---------------------------------------------------------------------------
    def _on_init(self, init: InitSegment) -> None:
        self._init, self._since_key = init, []
        for viewer in self._viewers:
            viewer.offer(init)

    def _on_fragment(self, fragment: Fragment) -> None:
        self.fragments += 1
        if fragment.keyframe:
            self._since_key = []
        self._since_key.append(fragment)
        for viewer in self._viewers:
            viewer.offer(fragment)

    def _stop_fragmenter(self) -> None:
        fragmenter, self._fragmenter = self._fragmenter, None
        if fragmenter is not None:
            fragmenter.close()  # its last frame goes to the viewers
        self._init, self._since_key = None, []
