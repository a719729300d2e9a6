"""Progress bars (tqdm, on stderr) for sources whose frame count is known, i.e. video files.

Bars stay on when stderr is not a terminal (CI logs still show progress), but then redraw only
every few seconds so a log file does not fill with updates.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import IO, Any

from tqdm import tqdm

from streamseg.util.closing import ClosesOnExit

TTY_REDRAW_S = 0.5
LOG_REDRAW_S = 10.0


class ProgressBars(ClosesOnExit):
    """One bar per source of known length, or one combined bar (``combined``, default when > 4 sources).

    Sources with an unknown or zero length (cameras, streams) get no bar; updating them is a no-op.
    """

    def __init__(
        self,
        totals: Mapping[str, int | None],
        *,
        quiet: bool = False,
        combined: bool | None = None,
        file: IO[str] | None = None,
    ) -> None:
        out = file if file is not None else sys.stderr
        known = {name: int(n) for name, n in totals.items() if n is not None and n > 0}
        self._lock = threading.Lock()
        self._bars: dict[str, Any] = {}
        self._combined: Any = None
        if quiet or not known:
            return
        is_tty = bool(getattr(out, "isatty", lambda: False)())
        options: dict[str, Any] = {
            "file": out,
            "unit": "frame",
            "mininterval": TTY_REDRAW_S if is_tty else LOG_REDRAW_S,
            "dynamic_ncols": is_tty,
            "leave": True,
        }
        if combined is None:
            combined = len(known) > 4
        if combined:
            self._combined = tqdm(total=sum(known.values()), desc="all sources", **options)
            self._bars = dict.fromkeys(known, self._combined)
        else:
            width = max(len(name) for name in known)
            self._bars = {
                name: tqdm(total=n, desc=f"{name:<{width}}", position=i, **options)
                for i, (name, n) in enumerate(known.items())
            }

    @property
    def enabled(self) -> bool:
        return bool(self._bars)

    def update(self, source: str, n: int = 1) -> None:
        """Advance ``source``'s bar by ``n`` frames (called from the render/write thread)."""
        bar = self._bars.get(source)
        if bar is not None:
            with self._lock:
                bar.update(n)

    def close(self) -> None:
        """Finish the bars; safe to call twice."""
        with self._lock:
            bars = {id(b): b for b in self._bars.values()}
            self._bars = {}
            self._combined = None
        for bar in bars.values():
            bar.close()
