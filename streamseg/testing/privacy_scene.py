"""A synthetic scene for privacy checks, and a segmenter that knows it.

``PrivacyScene``: a smooth background (gradients and one slow wave: low frequencies only, which an H.264
encoder reproduces within a grey level or two) with a textured object (a 2 px checker with seeded noise
inside an ellipse: high frequencies only) moving a few pixels per frame, and a fixed textured rectangle
where a privacy area goes. Every frame, the object's exact mask and box, and the area are known, so what
leaves a run can be checked against them: inside the object and the area no trace of the texture is left
(``measure``: its high-frequency energy and its correlation with the original near zero), outside the
picture is the original within the encoder's noise.

``ScriptedSegmenter`` stands in for a model at the ``Segmenter`` protocol: it "finds" the object where
the scene put it (class ``person``), and misses it on the frames it is told to (``drop``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np

from streamseg.types import BoolArray, Frame, InstanceMasks, SegResult, UInt8Array

if TYPE_CHECKING:
    from streamseg.inference.yolo.engine import PendingResult

CLASS_NAMES = ("person", "car")
SCORE = 0.9
CHECKER_PX = 2  # the texture's cell: a pixelation block of any multiple of 2 cells averages it out
NOISE = 16  # +- grey levels of seeded noise over the checker (the texture is not periodic)
LEAK_WINDOW = 5  # px: the neighbourhood whose high-frequency energy ``measure`` compares
LEAK_SHARE = 0.25  # a neighbourhood keeping this share of the original's energy has leaked


@dataclass(frozen=True)
class Measures:
    """How much of the original a picture keeps in a region (``measure``)."""

    hf_ratio: float  # high-frequency energy (mean |Laplacian|) of the picture / the original's, inside
    correlation: float  # Pearson correlation of the picture's grey levels with the original's, inside
    leak: float  # share of the pixels inside whose neighbourhood keeps LEAK_SHARE of the original's energy
    outside_diff: float  # mean |picture - original| outside (grey levels, all channels)

    def __str__(self) -> str:
        return (
            f"hf {self.hf_ratio:.3f}, corr {self.correlation:+.3f}, leak {self.leak:.3f}, "
            f"outside {self.outside_diff:.2f}"
        )


@dataclass(frozen=True)
class PrivacyScene:
    """Frame ``i`` (0, 1, 2 ...) at ``fps``: the object's ellipse (semi-axes ``axes``) centred at
    ``start + i * step`` (rounded to whole pixels), over the background; the area's rectangle
    ``area`` (x0, y0, x1, y1, end exclusive) is textured in every frame."""

    width: int = 320
    height: int = 240
    fps: int = 10
    axes: tuple[int, int] = (26, 32)
    start: tuple[float, float] = (56.0, 168.0)
    step: tuple[float, float] = (5.0, -1.0)
    area: tuple[int, int, int, int] = (208, 16, 296, 88)
    seed: int = 7

    # ------------------------------------------------------------------------------------ pictures
    @functools.cached_property
    def background(self) -> UInt8Array:
        """The smooth background (no object, no area texture)."""
        yy, xx = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        fx, fy = xx / max(self.width - 1, 1), yy / max(self.height - 1, 1)
        wave = 18.0 * np.sin(2 * np.pi * (xx / 140.0 + yy / 190.0))
        image = np.empty((self.height, self.width, 3), np.float32)
        image[..., 0] = 70 + 110 * fx + wave
        image[..., 1] = 90 + 90 * fy - wave
        image[..., 2] = 160 - 70 * (fx + fy) / 2 + wave / 2
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)

    @functools.cached_property
    def _object_patch(self) -> tuple[UInt8Array, BoolArray]:
        """The object's texture over its bounding box, and its ellipse in that box."""
        ax, ay = self.axes
        h, w = 2 * ay + 1, 2 * ax + 1
        yy, xx = np.mgrid[0:h, 0:w]
        mask: BoolArray = ((xx - ax) / (ax + 0.5)) ** 2 + ((yy - ay) / (ay + 0.5)) ** 2 <= 1.0
        texture = _texture((h, w), ((40, 70, 200), (215, 190, 70)), self.seed)
        return texture, mask

    @functools.cached_property
    def _area_texture(self) -> UInt8Array:
        x0, y0, x1, y1 = self.area
        return _texture((y1 - y0, x1 - x0), ((30, 200, 60), (230, 60, 210)), self.seed + 1)

    def frame(self, i: int) -> UInt8Array:
        """Frame ``i``: (H, W, 3) uint8 BGR."""
        image = self.background.copy()
        x0, y0, x1, y1 = self.area
        image[y0:y1, x0:x1] = self._area_texture
        texture, _ = self._object_patch
        crop, (ox, oy) = self.object_crop(i)
        window = image[oy : oy + crop.shape[0], ox : ox + crop.shape[1]]
        sx, sy = ox - self._origin(i)[0], oy - self._origin(i)[1]  # non-zero where clipped at an edge
        patch = texture[sy : sy + crop.shape[0], sx : sx + crop.shape[1]]
        window[crop] = patch[crop]
        return image

    # -------------------------------------------------------------------------------- ground truth
    def _origin(self, i: int) -> tuple[int, int]:
        """Top-left of the object's bounding box, unclipped."""
        cx = round(self.start[0] + i * self.step[0])
        cy = round(self.start[1] + i * self.step[1])
        return cx - self.axes[0], cy - self.axes[1]

    def object_crop(self, i: int) -> tuple[BoolArray, tuple[int, int]]:
        """The object's mask in frame ``i`` as a crop of its bounding box and the crop's (x0, y0),
        clipped to the frame."""
        _, mask = self._object_patch
        ox, oy = self._origin(i)
        x0, y0 = max(0, ox), max(0, oy)
        x1, y1 = min(self.width, ox + mask.shape[1]), min(self.height, oy + mask.shape[0])
        if x1 <= x0 or y1 <= y0:
            return np.zeros((0, 0), bool), (x0, y0)
        crop = np.ascontiguousarray(mask[y0 - oy : y1 - oy, x0 - ox : x1 - ox])
        return crop, (x0, y0)

    def object_mask(self, i: int) -> BoolArray:
        """The object's exact mask in frame ``i``, full frame."""
        out = np.zeros((self.height, self.width), bool)
        crop, (x0, y0) = self.object_crop(i)
        out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        return out

    def object_box(self, i: int) -> tuple[float, float, float, float]:
        """The object's box (x0, y0, x1, y1) in frame ``i``: its mask's pixels, end exclusive."""
        crop, (x0, y0) = self.object_crop(i)
        ys, xs = np.nonzero(crop)
        if len(xs) == 0:
            return (float(x0), float(y0), float(x0), float(y0))
        return (
            float(x0 + xs.min()),
            float(y0 + ys.min()),
            float(x0 + xs.max() + 1),
            float(y0 + ys.max() + 1),
        )

    def area_mask(self) -> BoolArray:
        out = np.zeros((self.height, self.width), bool)
        x0, y0, x1, y1 = self.area
        out[y0:y1, x0:x1] = True
        return out

    def area_polygon(self) -> tuple[tuple[float, float], ...]:
        """The area as a polygon in pixels (as ``PrivacyArea`` takes it)."""
        x0, y0, x1, y1 = (float(v) for v in self.area)
        return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))

    def pts(self, i: int) -> float:
        return i / self.fps

    def index_at(self, pts_seconds: float) -> int:
        """The frame shown at ``pts_seconds`` (a time relative to frame 0)."""
        return round(pts_seconds * self.fps)

    # ------------------------------------------------------------------------------------ files
    def write_video(self, path: Path, n_frames: int, crf: int = 14) -> list[float]:
        """Frames 0 .. n-1 as an H.264 (libx264, yuv420p) mp4 at ``fps``; returns each frame's pts."""
        time_base = Fraction(1, 1000)
        times = [self.pts(i) for i in range(n_frames)]
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
            stream.options = {"crf": str(crf)}
            for i, t in enumerate(times):
                frame = av.VideoFrame.from_ndarray(self.frame(i), format="bgr24")
                frame.pts = round(t * 1000)
                frame.time_base = time_base
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return times

    def write_still(self, path: Path, i: int = 0) -> None:
        """Frame ``i`` as a lossless picture (PNG: pick the suffix)."""
        if not cv2.imwrite(str(path), self.frame(i)):
            raise OSError(f"cannot write {path}")


def _texture(shape_hw: tuple[int, int], colours: tuple[tuple[int, int, int], ...], seed: int) -> UInt8Array:
    """A 2 px checker of two colours with seeded noise on top."""
    h, w = shape_hw
    yy, xx = np.mgrid[0:h, 0:w]
    cells = (yy // CHECKER_PX + xx // CHECKER_PX) % 2
    palette = np.array(colours, np.int16)
    noise = np.random.default_rng(seed).integers(-NOISE, NOISE + 1, (h, w, 1), dtype=np.int16)
    texture: UInt8Array = np.clip(palette[cells] + noise, 0, 255).astype(np.uint8)
    return texture


# ------------------------------------------------------------------------------------------- checks
def grey(image: UInt8Array) -> np.ndarray:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.float32)


def eroded(mask: BoolArray, px: int) -> BoolArray:
    """``mask`` shrunk by ``px`` pixels (a square neighbourhood)."""
    if px <= 0:
        return mask.copy()
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    return np.asarray(cv2.erode(mask.astype(np.uint8), kernel), bool)


def dilated(mask: BoolArray, px: int) -> BoolArray:
    """``mask`` grown by ``px`` pixels (a square neighbourhood)."""
    if px <= 0:
        return mask.copy()
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    return np.asarray(cv2.dilate(mask.astype(np.uint8), kernel), bool)


def measure(picture: UInt8Array, original: UInt8Array, inside: BoolArray, outside: BoolArray) -> Measures:
    """What ``picture`` keeps of ``original``: inside (the texture should be gone) its high-frequency
    energy relative to the original's, its correlation with it, and the share of pixels whose
    neighbourhood kept the texture (a part of the region left unhidden, which the region's means
    would dilute); outside (nothing should change) the mean absolute difference. ``inside`` is
    eroded by one pixel for the Laplacian's reach, so the region's own edge does not count."""
    if picture.shape != original.shape:
        raise ValueError(f"picture {picture.shape} and original {original.shape} differ in size")
    got, want = grey(picture), grey(original)
    core = eroded(inside, 1)
    lap_got = np.abs(cv2.Laplacian(got, cv2.CV_32F, ksize=1))
    lap_want = np.abs(cv2.Laplacian(want, cv2.CV_32F, ksize=1))
    energy = float(lap_want[core].mean()) if core.any() else 0.0
    hf = float(lap_got[core].mean()) / energy if energy > 0 else 0.0
    window = (LEAK_WINDOW, LEAK_WINDOW)
    near_got, near_want = cv2.blur(lap_got, window), cv2.blur(lap_want, window)
    kept = near_got[core] > LEAK_SHARE * near_want[core]
    leak = float(kept.mean()) if core.any() else 0.0
    a, b = got[inside], want[inside]
    spread = float(a.std()) * float(b.std())
    corr = float(((a - a.mean()) * (b - b.mean())).mean()) / spread if spread > 1e-6 else 0.0
    diff = np.abs(picture.astype(np.int16) - original.astype(np.int16)).mean(axis=2)
    out = float(diff[outside].mean()) if outside.any() else 0.0
    return Measures(hf, corr, leak, out)


# ---------------------------------------------------------------------------------------- segmenter
class ScriptedSegmenter:
    """A ``Segmenter`` that finds the scene's object where the scene put it: one instance of class
    ``person`` (classes ``CLASS_NAMES``) with its true box and mask, score ``SCORE``, in the frame of
    ``frame.index``; none in the frames of ``drop`` (the model missing the object). A still image's
    frame (one with a ``file_name``) is the scene's frame ``stills[file_name]`` (default 0)."""

    def __init__(
        self,
        scene: PrivacyScene,
        *,
        drop: Collection[int] = (),
        stills: Mapping[str, int] | None = None,
    ) -> None:
        self.scene = scene
        self.drop = frozenset(drop)
        self.stills = dict(stills or {})
        self.seen: list[int] = []  # the scene frame of every frame segmented, in order
        self.closed = False

    @property
    def class_names(self) -> Sequence[str]:
        return CLASS_NAMES

    def index_of(self, frame: Frame) -> int:
        if frame.file_name is not None:
            return self.stills.get(frame.file_name, 0)
        return frame.index

    def run(self, frames: Sequence[Frame]) -> list[SegResult]:
        return [self._segment(frame) for frame in frames]

    def submit(self, frames: Sequence[Frame]) -> Sequence[SegResult | PendingResult]:
        return self.run(frames)

    def close(self) -> None:
        self.closed = True

    def _segment(self, frame: Frame) -> SegResult:
        hw = frame.frame_hw
        if hw != (self.scene.height, self.scene.width):
            raise ValueError(
                f"frame {frame!r} is not the scene's size {self.scene.width}x{self.scene.height}"
            )
        i = self.index_of(frame)
        self.seen.append(i)
        crop, origin = self.scene.object_crop(i)
        if i in self.drop or crop.size == 0:
            return SegResult(
                frame,
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.int64),
                np.zeros(0, np.float32),
                InstanceMasks.empty(hw),
                CLASS_NAMES,
                inference_time=time.monotonic(),
            )
        return SegResult(
            frame,
            np.array([self.scene.object_box(i)], np.float32),
            np.zeros(1, np.int64),
            np.full(1, SCORE, np.float32),
            InstanceMasks((crop,), np.array([origin], np.int32), hw),
            CLASS_NAMES,
            inference_time=time.monotonic(),
        )
