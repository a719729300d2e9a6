"""``--save-images DIR``: an annotated copy of every still-image frame, under the picture's own name.

Drawn here rather than by the shared render step: a picture gets no FPS/latency overlay, and videos
that are recorded in the same run keep theirs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2

from streamseg.config import RenderConfig
from streamseg.errors import ConfigError, OutputError
from streamseg.render.annotate import FrameAnnotator
from streamseg.types import SegResult, UInt8Array

logger = logging.getLogger(__name__)

JPEG_QUALITY = 95


class StillImageSink:
    """Writes ``DIR/<file name>`` for each frame that came from a still image; video frames pass by."""

    needs_annotated = False

    def __init__(self, folder: str | Path, file_names: Sequence[str], render: RenderConfig) -> None:
        clashes = sorted(name for name, count in Counter(file_names).items() if count > 1)
        if clashes:
            raise ConfigError(
                f"--save-images: two images are named {clashes[0]}; their annotated copies would "
                "overwrite each other (give them separate runs or rename one)"
            )
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create image folder {self.folder}: {exc.strerror or exc}") from None
        self._annotator = FrameAnnotator(dataclasses.replace(render, hud=False), copy=True)
        self.written = 0

    def write(self, result: SegResult, annotated: UInt8Array | None) -> None:
        name = result.frame.file_name
        if name is None:
            return
        path = self.folder / name
        image = self._annotator.annotate(result, None, None)
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix.lower() in (".jpg", ".jpeg") else []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            ok = cv2.imwrite(str(path), image, params)
        except (OSError, cv2.error) as exc:
            raise OutputError(f"cannot write {path}: {exc}") from None
        if not ok:
            raise OutputError(f"cannot write {path}")
        self.written += 1

    def close(self) -> None:
        logger.debug("wrote %d annotated images to %s", self.written, self.folder)
