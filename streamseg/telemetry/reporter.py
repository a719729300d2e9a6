"""``TelemetryLogger``: a background thread appending one snapshot JSON line per interval.

Writing happens only on this thread, so a slow disk never stalls the pipeline; a write failure is
logged once and recorded in ``error`` (it cannot be raised into the pipeline's threads).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from streamseg.errors import OutputError
from streamseg.telemetry.snapshot import Telemetry

logger = logging.getLogger(__name__)


class TelemetryLogger:
    """Writes ``telemetry.snapshot()`` to ``path`` every ``interval`` seconds, plus a final one on stop."""

    def __init__(self, telemetry: Telemetry, path: str | Path, interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self.telemetry = telemetry
        self.path = Path(path)
        self.interval = interval
        self.error: OutputError | None = None
        self.lines_written = 0
        self._file: IO[str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._final: dict[str, Any] | None = None

    def start(self) -> TelemetryLogger:
        """Open (truncate) the file and start the thread; an unwritable path raises ``OutputError``."""
        if self._thread is not None:
            raise RuntimeError("TelemetryLogger already started")
        try:
            self._file = self.path.open("w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise OutputError(f"cannot write telemetry file {self.path}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._run, name="telemetry-logger", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> dict[str, Any]:
        """Stop the thread (which writes a final snapshot) and return that final snapshot."""
        thread = self._thread
        if thread is None:
            return self.telemetry.snapshot()
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            logger.warning(
                "telemetry logger did not stop within %.1f s; %s may be incomplete", timeout, self.path
            )
        return self._final if self._final is not None else self.telemetry.snapshot()

    def __enter__(self) -> TelemetryLogger:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        next_due = time.monotonic() + self.interval
        try:
            while not self._stop.wait(max(0.0, next_due - time.monotonic())):
                self._write(self.telemetry.snapshot())
                next_due += self.interval
                now = time.monotonic()
                if next_due < now:  # fell behind (slow disk, suspended process): skip missed ticks
                    next_due = now + self.interval
            self._final = self.telemetry.snapshot()
            self._write(self._final)
        except OutputError as exc:
            self.error = exc
            logger.error("%s; telemetry logging stopped", exc)
        except Exception:
            logger.exception("telemetry logger failed; telemetry logging stopped")
        finally:
            self._close_file()

    def _write(self, snapshot: dict[str, Any]) -> None:
        if self._file is None:
            return
        line = json.dumps(snapshot, separators=(",", ":")) + "\n"
        try:
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            raise OutputError(f"cannot write telemetry file {self.path}: {exc.strerror or exc}") from None
        self.lines_written += 1

    def _close_file(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError as exc:
                logger.debug("closing %s failed: %s", self.path, exc)
