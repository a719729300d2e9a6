"""``Every``: a daemon thread that calls one function every so often until it is stopped.

For housekeeping beside a pipeline (the leak watch's memory readings, giving free heap back): it must
never hold up the pipeline's stop, and a failure in it must never take the pipeline down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Every:
    """Calls ``work()`` every ``seconds`` (first at once when ``at_start``) on a thread named ``name``."""

    def __init__(
        self, seconds: float, work: Callable[[], None], name: str, *, at_start: bool = False
    ) -> None:
        self.seconds = seconds
        self._work = work
        self._at_start = at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> Every:
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        if self._at_start:
            self._call()
        while not self._stop.wait(self.seconds):
            self._call()

    def _call(self) -> None:
        try:
            self._work()
        except Exception:  # housekeeping never stops a pipeline; its own work is lost for this turn
            logger.debug("%s failed", self._thread.name, exc_info=True)
