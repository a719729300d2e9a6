"""``--snapshots DIR``: for each event that starts or ends something, a JPEG of the annotated frame and one
of the object's best-scoring crop so far (clean, from the frame it scored highest in), named in the event
(``snapshot``, ``snapshot_crop``). Events of the same frame share its one frame file (twenty people
appearing at once are one frame JPEG and twenty crops).

JPEG encoding (a few ms per 720p frame) happens on a writer thread of its own with a bounded queue: a
slow disk drops snapshots (counted) and never stalls a frame. At most ``max_files`` files are kept; the
oldest go first, counting those already in the folder when the run started.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamseg.config.names import file_in
from streamseg.errors import OutputError
from streamseg.redact import safe_name
from streamseg.types import SegResult, UInt8Array

logger = logging.getLogger(__name__)

QUEUE_SIZE = 256

# (frame file or None when an earlier event of the frame writes it, the picture, crop file, crop)
_Item = tuple[Path | None, Callable[[], UInt8Array | None], Path, UInt8Array | None]
JPEG_QUALITY = 85


class SnapshotWriter:
    """Plans each snapshot's names when its event is made, writes the files on its own thread."""

    def __init__(self, folder: str | Path, max_files: int = 1000) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".streamseg-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OutputError(f"--snapshots: cannot write to {self.folder}: {exc.strerror or exc}") from None
        self.max_files = max_files  # files: frames and crops
        self.dropped = 0
        self.written = 0
        self._best: dict[tuple[str, int], tuple[float, UInt8Array]] = {}
        self._kept: collections.deque[Path] = collections.deque(
            sorted(self.folder.glob("*/*.jpg"), key=lambda p: p.stat().st_mtime)
        )
        self._last_frame: Path | None = None
        self._folders: dict[str, Path | None] = {}  # by source, checked once: None, it would lie outside
        self._queue: queue.Queue[_Item | None]
        self._queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._thread = threading.Thread(target=self._write_loop, name="snapshots", daemon=True)
        self._thread.start()

    def observe(self, result: SegResult) -> None:
        """Keep each track's best-scoring crop (read only when a score beats the track's best)."""
        ids = result.track_id
        for i in np.flatnonzero(ids >= 0):
            key = (result.source, int(ids[i]))
            score = float(result.score[i])
            best = self._best.get(key)
            if best is not None and best[0] >= score:
                continue
            image = result.frame.image
            h, w = image.shape[:2]
            x0, y0, x1, y1 = (round(float(v)) for v in result.xyxy[i])
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if x1 > x0 and y1 > y0:
                self._best[key] = (score, image[y0:y1, x0:x1].copy())

    def take(self, event: MutableMapping[str, Any], frame: Callable[[], UInt8Array | None] | None) -> None:
        """Name the snapshot in ``event`` and queue its files; ``frame()`` gives the annotated picture as
        BGR (called on the writer thread); None: no picture (a source that ended: the crop alone)."""
        source = str(event["source"])
        track = int(event["track_id"])
        folder = self._folder_of(source)
        if folder is None:
            self.dropped += 1
            return
        stamp = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{float(event['pts']):.3f}"
        best = self._best.get((source, track))
        crop = best[1] if best is not None else None
        if event["type"] == "left":
            self._best.pop((source, track), None)
        frame_path = folder / f"{stamp}-frame.jpg" if frame is not None else None
        new_frame = frame_path is not None and frame_path != self._last_frame
        crop_path = folder / f"{stamp}-{safe_name(str(event['type']))}-{track}-crop.jpg"
        if frame_path is None and crop is None:
            return
        try:
            self._queue.put_nowait((frame_path if new_frame else None, frame or _nothing, crop_path, crop))
        except queue.Full:
            self.dropped += 1
            return
        if frame_path is not None:
            self._last_frame = frame_path
            event["snapshot"] = str(frame_path)
        if crop is not None:
            event["snapshot_crop"] = str(crop_path)

    def forget_source(self, source: str) -> None:
        for key in [k for k in self._best if k[0] == source]:
            del self._best[key]
        self._folders.pop(source, None)

    def _folder_of(self, source: str) -> Path | None:
        """The source's folder (its name's slug), or None (said once) when it would lie outside."""
        if source not in self._folders:
            try:
                self._folders[source] = file_in(self.folder, safe_name(source) or "_")
            except OutputError as exc:
                logger.warning("snapshots of %s are dropped: %s", source, exc)
                self._folders[source] = None
        return self._folders[source]

    def close(self, timeout: float = 5.0) -> None:
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            logger.warning(
                "snapshots: the writer is behind; %d still queued are dropped", self._queue.qsize()
            )
        self._thread.join(timeout)

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            frame_path, frame, crop_path, crop = item
            try:
                crop_path.parent.mkdir(parents=True, exist_ok=True)
                picture = frame() if frame_path is not None else None
                if frame_path is not None and picture is not None:
                    _write_jpeg(frame_path, picture)
                    self._kept.append(frame_path)
                if crop is not None:
                    _write_jpeg(crop_path, crop)
                    self._kept.append(crop_path)
                self.written += 1
                while len(self._kept) > self.max_files:
                    self._kept.popleft().unlink(missing_ok=True)
            except OSError as exc:
                self.dropped += 1
                logger.warning("snapshots: writing %s failed: %s", crop_path.name, exc.strerror or exc)


def _nothing() -> None:
    return None


def _write_jpeg(path: Path, image: UInt8Array) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"JPEG encoding failed for {path.name}")
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data.tobytes())
    tmp.replace(path)  # a reader never sees half a file
