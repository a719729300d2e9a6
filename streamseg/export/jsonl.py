"""Per-frame detection results as JSON lines, one object per frame, written as the run goes.

One line per frame (rather than one JSON document) means a run that is killed still leaves a valid
file up to the last flushed line, and consumers can stream it. Masks are COCO compressed RLE of the
full frame so ``pycocotools.mask.decode`` reads them directly.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from pathlib import Path
from typing import IO, Any

from streamseg.errors import OutputError
from streamseg.export.rle import encode_crop
from streamseg.types import SegResult
from streamseg.util.closing import ClosesOnExit

logger = logging.getLogger(__name__)

BOX_DECIMALS = 2
SCORE_DECIMALS = 5
PTS_DECIMALS = 6


def _num(value: float, decimals: int) -> float | None:
    """A rounded float, or None for NaN/inf, which strict JSON cannot represent."""
    v = float(value)
    return round(v, decimals) if math.isfinite(v) else None


def result_to_dict(result: SegResult) -> dict[str, Any]:
    """The JSON object for one frame (also usable without a file, e.g. for a network sink)."""
    masks = result.masks
    tracks = result.track_id.tolist()
    hidden = result.privacy.hidden if result.privacy is not None else None
    instances = []
    for i in range(len(result)):
        x0, y0 = (int(v) for v in masks.origins[i])
        instances.append(
            {
                "class_id": int(result.class_id[i]),
                "class_name": result.class_name(i),
                "score": _num(result.score[i], SCORE_DECIMALS),
                "xyxy": [_num(v, BOX_DECIMALS) for v in result.xyxy[i]],
                "mask": encode_crop(masks.crops[i], x0, y0, masks.frame_hw),
                "track_id": tracks[i] if tracks[i] >= 0 else None,  # None: untracked or not confirmed yet
            }
        )
        if hidden is not None and hidden[i]:
            instances[-1]["hidden"] = True  # privacy hid it in every picture; its mask is kept here
    line = {
        "source": result.frame.file_name or result.source,  # a still image is known by its file name
        "frame": int(result.frame_index),
        "pts": _num(result.pts, PTS_DECIMALS),
        "instances": instances,
        # the network saw this frame, or it carries an earlier result (a detect rate, no motion)
        "inference": result.inference,
    }
    if result.events:
        line["events"] = [dict(e) for e in result.events]
    if result.privacy is not None:  # the fallbacks: objects hidden where predicted, the frame hidden whole
        line["privacy"] = {"ghosts": result.privacy.ghosts, "full_frame": result.privacy.full_frame}
    return line


class ResultsWriter(ClosesOnExit):
    """Appends one JSON line per ``SegResult`` to ``path``; use as a context manager.

    The file is opened (and truncated) on construction so a bad path fails before the pipeline
    starts. Lines are flushed to the OS every ``flush_every`` frames (default: every frame), so a
    killed process loses at most that many.
    """

    def __init__(self, path: str | Path, *, flush_every: int = 1) -> None:
        if flush_every < 1:
            raise ValueError(f"flush_every must be >= 1, got {flush_every}")
        self.path = Path(path)
        self._flush_every = flush_every
        self._pending = 0
        self._lines = 0
        self._lock = threading.Lock()
        self._file: IO[str] | None = _open_for_writing(self.path, "results")

    @property
    def lines_written(self) -> int:
        return self._lines

    def write(self, result: SegResult) -> None:
        """Serialise one frame's result and append it as a line."""
        line = json.dumps(result_to_dict(result), separators=(",", ":"), allow_nan=False) + "\n"
        with self._lock:
            if self._file is None:
                raise OutputError(f"results file is already closed: {self.path}")
            try:
                self._file.write(line)
                self._lines += 1
                self._pending += 1
                if self._pending >= self._flush_every:
                    self._file.flush()
                    self._pending = 0
            except OSError as exc:
                raise OutputError(f"cannot write results file {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        with self._lock:
            f, self._file = self._file, None
        if f is None:
            return
        try:
            f.close()
        except OSError as exc:
            raise OutputError(f"cannot write results file {self.path}: {exc.strerror or exc}") from None
        logger.debug("wrote %d result lines to %s", self._lines, self.path)


def _open_for_writing(path: Path, what: str) -> IO[str]:
    """Open a text file for writing, turning any OS error into a one-line ``OutputError``."""
    try:
        return path.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise OutputError(f"cannot write {what} file {path}: {exc.strerror or exc}") from None
