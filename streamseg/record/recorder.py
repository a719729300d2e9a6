"""One recording per source, each encoded on a thread of its own.

Why: x264 at 720p costs ~10 ms a frame on one core; with every source encoded in turn on the render
thread, 16 recorded cameras could never go faster than one core allows. PyAV lets go of the GIL while
it encodes, so one thread per source uses all cores, and a slow encoder holds up only its own source.

Frames wait in a short queue. A file source blocks when its queue is full (files are lossless:
back-pressure); a live source instead drops that frame from its recording, counts it and warns once,
so one stuck encoder cannot stall the other cameras. The writer itself (timestamps, fragments,
segment rotation, crash safety) is unchanged; only the thread that calls it is.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from streamseg.gpu.picture import I420Picture
from streamseg.record.writer import VideoWriter
from streamseg.types import StageRecorder, UInt8Array

logger = logging.getLogger(__name__)

QUEUE_FRAMES = 16  # frames waiting per recording (about half a second at 30 fps)
PUT_POLL_S = 0.1
_STOP = object()


class SourceRecorder:
    """Feeds one ``VideoWriter`` from a thread of its own; ``close`` drains it and finishes the file."""

    def __init__(
        self,
        writer: VideoWriter,
        source: str,
        *,
        lossless: bool,
        record_stage: StageRecorder | None = None,
        queue_frames: int = QUEUE_FRAMES,
    ) -> None:
        self.writer = writer
        self.source = source
        self.lossless = lossless
        self.dropped = 0  # live frames left out of the recording because the encoder fell behind
        self._record = record_stage or (lambda stage, seconds, source: None)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_frames))
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"encode-{source}", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Any:
        return self.writer.path

    def submit(self, picture: UInt8Array | I420Picture, pts: float, captured: float | None = None) -> None:
        """Queue one annotated frame (BGR or yuv420p) and its capture time (``time.monotonic()``, handed
        on with its packet); raises the encoder's error if it failed."""
        self._raise_error()
        item = (picture, pts, captured)
        if not self.lossless:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.dropped += 1
                if self.dropped == 1:
                    logger.warning("%s: encoder falls behind; frames left out of the recording", self.source)
            return
        while True:
            try:
                self._queue.put(item, timeout=PUT_POLL_S)
                return
            except queue.Full:
                self._raise_error()
                if not self._thread.is_alive():
                    raise RuntimeError(f"encoder thread of {self.source} is gone") from None

    def close(self) -> None:
        """Encode what is queued, finish the file, and raise the first error. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.stop_later()
        self._thread.join()
        self._raise_error()

    def stop_later(self) -> None:
        """Tell the worker to finish after what is queued (``close`` waits for it)."""
        while self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=PUT_POLL_S)
                return
            except queue.Full:
                continue

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        failed = False
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if failed:
                continue  # keep draining so submit never blocks on a dead encoder
            picture, pts, captured = item
            started = time.perf_counter()
            try:
                if isinstance(picture, I420Picture):
                    self.writer.write_i420(picture.finish().data, pts, captured)
                else:
                    self.writer.write(picture, pts, captured)
            except BaseException as exc:
                self._error, failed = exc, True
                continue
            self._record("encode", time.perf_counter() - started, self.source)
        try:
            self.writer.close()
        except BaseException as exc:
            if self._error is None:
                self._error = exc
