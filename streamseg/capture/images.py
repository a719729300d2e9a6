"""Still images as a source: one picture, a folder of them, or a glob; each image is one frame.

Why one source per argument rather than per image: a folder of thousands of photos must not become
thousands of capture threads, queues and telemetry rows. The frames carry their own ``file_name``, which
is what the results file calls their source and what ``--save-images`` names the annotated copy.
"""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from streamseg.capture.base import SourceBase, SourceStats
from streamseg.config import default_source_name
from streamseg.errors import SourceError, SourceNotFoundError
from streamseg.types import Frame

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_GLOB_CHARS = frozenset("*?[")
# First bytes of the formats OpenCV reads, so a picture without its usual suffix is still recognised.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*")


def is_glob(uri: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in uri)


def is_image_uri(uri: str) -> bool:
    """True for an image file, a folder, or a glob pattern (never for URLs or webcams)."""
    if "://" in uri:
        return False
    if is_glob(uri) and not Path(uri).expanduser().exists():
        return True
    path = Path(uri).expanduser()
    if path.is_dir():
        return True
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    return path.is_file() and _looks_like_image(path)


def _looks_like_image(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def expand_images(uri: str) -> list[tuple[Path, str]]:
    """The pictures ``uri`` names, sorted, each with the name its results carry (relative to the folder)."""
    if is_glob(uri) and not Path(uri).expanduser().exists():
        pattern = str(Path(uri).expanduser())
        base = _glob_base(pattern)
        found = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
        images = [p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise SourceNotFoundError(f"no images match {uri} ({', '.join(IMAGE_SUFFIXES)})")
        return [(p, str(p.relative_to(base)) if p.is_relative_to(base) else p.name) for p in images]
    path = Path(uri).expanduser()
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise SourceError(f"{path} has no images in it ({', '.join(IMAGE_SUFFIXES)})")
        return [(p, p.name) for p in images]
    if not path.exists():
        raise SourceNotFoundError(f"image file not found: {path}")
    return [(path, path.name)]


def _glob_base(pattern: str) -> Path:
    """The folder a pattern searches from: its parts before the first one with a wildcard."""
    fixed: list[str] = []
    for part in Path(pattern).parts:
        if is_glob(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def read_image(path: Path) -> np.ndarray:
    """A picture as (H, W, 3) uint8 BGR, or a one-line ``SourceError``."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise SourceError(f"{path} is not an image OpenCV can read ({', '.join(IMAGE_SUFFIXES)})")
    return np.ascontiguousarray(image, dtype=np.uint8)


class ImageSource(SourceBase):
    """Frames from still pictures, in name order; never live, never dropped (back-pressure like files)."""

    def __init__(self, uri: str, name: str | None = None) -> None:
        self._uri = uri
        self._name = name or default_source_name(uri)
        self._stats = SourceStats()
        self._images: list[tuple[Path, str]] | None = None
        self._next = 0

    @property
    def is_live(self) -> bool:
        return False

    @property
    def frame_count(self) -> int | None:
        return len(self._images) if self._images is not None else None

    @property
    def nominal_fps(self) -> float | None:
        return None

    @property
    def file_names(self) -> list[str]:
        """The names the frames will carry (after ``open``)."""
        return [name for _, name in self._images or []]

    def open(self) -> None:
        """List the pictures and read the first, so a bad input fails before any thread starts."""
        if self._images is not None:
            return
        images = expand_images(self._uri)
        first = read_image(images[0][0])
        self._resolution = (int(first.shape[1]), int(first.shape[0]))
        self._images = images
        logger.info("%s: %d image(s)", self._name, len(images))

    def read(self) -> Frame | None:
        if self._images is None:
            raise SourceError(f"{self._uri}: read() before open()")
        if self._next >= len(self._images):
            return None
        started = time.perf_counter()
        path, file_name = self._images[self._next]
        image = read_image(path)
        frame = Frame(self._name, self._next, 0.0, time.monotonic(), image, file_name=file_name)
        self._next += 1
        self._stats.frames_decoded += 1
        self._stats.decode_seconds += time.perf_counter() - started
        return frame

    def close(self) -> None:
        self._next = len(self._images or [])
