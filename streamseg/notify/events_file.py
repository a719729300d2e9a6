"""``EventsFileSink``: events appended to a file as JSON lines (``--events``), one event per line.

Written by the worker thread like every other sink, so a slow or full disk never stalls a frame. Lines
are written in batches (whatever queued up meanwhile) with unbuffered writes, so each batch is with the
OS when the write returns and a killed run loses nothing written. The file is opened for appending at
construction: a path that cannot be written is an ``OutputError`` before any thread starts. A write
that fails later (disk full) is retried with backoff from where it stopped: no line is doubled, and a
line cut short is completed before the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamseg.errors import OutputError
from streamseg.notify.worker import CONNECTED, RECONNECTING, QueuedSink

logger = logging.getLogger(__name__)

BATCH = 512  # lines per write and flush, at most


class EventsFileSink(QueuedSink[Mapping[str, Any]]):
    """Appends one JSON line per event to ``path`` (created if missing, never truncated)."""

    name = "events_file"

    def __init__(
        self,
        path: str | Path,
        queue_size: int = 1000,
        *,
        flag: str = "--events",
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        super().__init__(
            str(self.path), queue_size, backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s
        )
        try:  # on the caller's thread, before the worker starts: a bad path fails the run at once
            self._file = self.path.open("ab", buffering=0)
        except OSError as exc:
            raise OutputError(
                f"{flag}: cannot write events file {self.path}: {exc.strerror or exc}"
            ) from None
        self._partial = b""  # the rest of a line a failed write cut short
        self._failing = False
        self._set_state(CONNECTED)
        self._start()

    def send(self, event: Mapping[str, Any]) -> None:
        """Queue one event for the file. Never blocks; the sink owns ``event`` now."""
        self._put(event)

    def _room(self) -> int:
        return BATCH

    def _deliver(self, batch: list[Mapping[str, Any]]) -> int:
        encoded = [self._encode(event) for event in batch]
        batch[:] = [event for event, line in zip(batch, encoded, strict=True) if line is not None]  # counted
        written, error = self._write(self._partial)
        self._partial = self._partial[written:]
        if error is not None:
            return self._failed(error, 0)
        blob = "".join(line + "\n" for line in encoded if line is not None).encode("utf-8")
        written, error = self._write(blob)
        if error is not None:
            # The lines fully written are done; a line cut short is finished first on the next attempt.
            done = blob.count(b"\n", 0, written)
            if written and blob[written - 1] != ord("\n"):
                self._partial = blob[written : blob.index(b"\n", written) + 1]
                done += 1
            self._count(delivered=done)
            return self._failed(error, done)
        self._count(delivered=len(batch))
        if self._failing:
            self._failing = False
            self._set_state(CONNECTED)
            logger.info("events file %s: writing again", self.path)
        return len(batch)

    def _write(self, data: bytes) -> tuple[int, OSError | None]:
        """Write all of ``data``: (bytes written, the error that stopped it or None)."""
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                n = self._file.write(view[written:])
                if not n:
                    return written, OSError(f"a write of {len(data) - written} bytes wrote nothing")
                written += n
        except OSError as exc:
            return written, exc
        return written, None

    def _failed(self, exc: OSError, done: int) -> int:
        self._set_state(RECONNECTING)
        if not self._failing:
            self._failing = True
            logger.warning("events file %s: %s; retrying with backoff", self.path, exc.strerror or exc)
        return done

    def _shutdown(self) -> None:
        try:
            self._file.close()
        except OSError as exc:
            logger.warning("events file %s: closing failed: %s", self.path, exc.strerror or exc)
