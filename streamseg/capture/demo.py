"""The input used when the user names none: a short clip built from the photos Ultralytics ships.

No video can be downloaded at run time, so the demo is synthesised once from ``bus.jpg`` and
``zidane.jpg`` (slow pan/zoom over each photo, letterboxed to 16:9, crossfaded) and cached. The
recipe is versioned in the file name, so changing it never reuses a stale clip.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from streamseg.errors import SourceError

logger = logging.getLogger(__name__)

DEMO_VERSION = 1
DEMO_SIZE_WH = (1280, 720)
DEMO_FPS = 30
DEMO_SECONDS = 6.0
CROSSFADE_SECONDS = 0.5
DEMO_IMAGES = ("bus.jpg", "zidane.jpg")
CACHE_ENV = "STREAMSEG_CACHE_DIR"
_BAR_BGR = (20, 20, 20)

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class _Move:
    """A Ken Burns move: zoom from ``z0`` to ``z1`` while the view centre drifts by ``pan`` (fractions)."""

    z0: float
    z1: float
    pan: tuple[float, float]


# One move per image: push in on the bus (people at the stop), pull out from the two men.
_MOVES = (_Move(1.0, 1.18, (0.0, 0.04)), _Move(1.15, 1.02, (-0.04, 0.02)))


def default_cache_dir() -> Path:
    """``$STREAMSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/streamseg``, else ``~/.cache/streamseg``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "streamseg"


def demo_clip_path(cache_dir: Path | None = None) -> Path:
    """Path of the demo clip, building it on first use (a few seconds) and reusing it afterwards."""
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    target = folder / f"demo_v{DEMO_VERSION}.mp4"
    if target.is_file() and target.stat().st_size > 0:
        return target
    images = [_prepare(_load(p), _MOVES[i % len(_MOVES)]) for i, p in enumerate(_asset_paths())]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(f"cannot create cache folder {folder} for the demo clip: {exc.strerror}") from None
    logger.info("building the demo clip %s (once)", target)
    _write_atomically(target, images)
    return target


def ultralytics_assets_dir() -> Path:
    """Ultralytics' bundled ``assets/`` folder, found without importing the (slow) package."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(
            "no input given and the demo clip needs the 'ultralytics' package; name a video file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "assets"


def _asset_paths() -> list[Path]:
    folder = ultralytics_assets_dir()
    paths = [folder / name for name in DEMO_IMAGES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise SourceError(f"demo clip: {', '.join(missing)} not found in {folder}; name a video file instead")
    return paths


def _load(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"demo clip: cannot read image {path}")
    return np.ascontiguousarray(image, dtype=np.uint8)


def _prepare(image: Image, move: _Move) -> Image:
    """Shrink once with area averaging to the largest size the move shows, so warping never aliases."""
    ih, iw = image.shape[:2]
    scale = min(DEMO_SIZE_WH[0] / iw, DEMO_SIZE_WH[1] / ih) * max(move.z0, move.z1)
    if scale >= 1.0:
        return image
    size = (max(1, round(iw * scale)), max(1, round(ih * scale)))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _write_atomically(target: Path, images: list[Image]) -> None:
    """Encode into a temp file beside the target and rename: readers never see a half-written clip."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _encode(tmp, images)
        tmp.chmod(0o644)  # mkstemp creates 0600; the cache is shared like any other
        os.replace(tmp, target)
    except (OSError, av.error.FFmpegError) as exc:
        raise SourceError(f"cannot write the demo clip {target}: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _encode(path: Path, images: list[Image]) -> None:
    width, height = DEMO_SIZE_WH
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=DEMO_FPS)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, DEMO_FPS)
        stream.codec_context.options = {"crf": "20", "preset": "veryfast"}
        for i in range(round(DEMO_SECONDS * DEMO_FPS)):
            frame = av.VideoFrame.from_ndarray(render_frame(images, i / DEMO_FPS), format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def render_frame(images: list[Image], t: float) -> Image:
    """The demo picture at time ``t``: each image holds for an equal share, crossfading at the joins."""
    share = DEMO_SECONDS / len(images)
    half = CROSSFADE_SECONDS / 2
    k = min(int(t // share), len(images) - 1)
    current = _ken_burns(images[k], _MOVES[k % len(_MOVES)], _progress(t, k, share, half))
    into_next = t - ((k + 1) * share - half)
    if k + 1 < len(images) and into_next >= 0:
        nxt = _ken_burns(images[k + 1], _MOVES[(k + 1) % len(_MOVES)], _progress(t, k + 1, share, half))
        return _blend(current, nxt, into_next / CROSSFADE_SECONDS)
    since_prev = t - (k * share - half)
    if k > 0 and since_prev < CROSSFADE_SECONDS:
        prev = _ken_burns(images[k - 1], _MOVES[(k - 1) % len(_MOVES)], _progress(t, k - 1, share, half))
        return _blend(prev, current, since_prev / CROSSFADE_SECONDS)
    return current


def _progress(t: float, k: int, share: float, half: float) -> float:
    """Where ``t`` falls in image ``k``'s visible span (including its crossfades), 0..1, eased."""
    start = max(0.0, k * share - half)
    end = min(DEMO_SECONDS, (k + 1) * share + half)
    u = min(1.0, max(0.0, (t - start) / (end - start)))
    return u * u * (3 - 2 * u)  # smoothstep: the camera eases in and out instead of jerking


def _ken_burns(image: Image, move: _Move, u: float) -> Image:
    """Fit ``image`` inside the 16:9 canvas (bars where it does not fill it), zoomed and panned for ``u``."""
    width, height = DEMO_SIZE_WH
    ih, iw = image.shape[:2]
    scale = min(width / iw, height / ih) * (move.z0 + (move.z1 - move.z0) * u)
    cx = _clamp_centre(iw / 2 + move.pan[0] * iw * u, iw, width / scale)
    cy = _clamp_centre(ih / 2 + move.pan[1] * ih * u, ih, height / scale)
    m = np.array([[scale, 0.0, width / 2 - scale * cx], [0.0, scale, height / 2 - scale * cy]])
    out = cv2.warpAffine(
        image,
        m,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=_BAR_BGR,
    )
    return np.ascontiguousarray(out, dtype=np.uint8)


def _clamp_centre(c: float, extent: int, view: float) -> float:
    """Keep the view inside the image on an axis it fills; centre it (even bars) on one it does not."""
    if view >= extent:
        return extent / 2
    return min(max(c, view / 2), extent - view / 2)


def _blend(a: Image, b: Image, w: float) -> Image:
    w = min(1.0, max(0.0, w))
    return np.ascontiguousarray(cv2.addWeighted(a, 1.0 - w, b, w, 0.0), dtype=np.uint8)
