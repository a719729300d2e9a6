"""Zones and lines in a frame's pixels: fractions scaled to the frame, pixels checked against it, and a
zone's area as a bitmap (made once per frame size), so membership is a lookup and a sum."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from streamseg.config.scene import LineConfig, Point, ZoneConfig
from streamseg.errors import ConfigError
from streamseg.types import BoolArray, FloatArray

logger = logging.getLogger(__name__)


def to_pixels(
    points: tuple[Point, ...], fractions: bool, frame_wh: tuple[int, int], where: str, strict: bool = True
) -> FloatArray:
    """(K, 2) pixel coordinates. Pixels outside a frame of ``frame_wh``: ``ConfigError`` when
    ``strict`` (the size was known when the source was added), else clipped to the frame with a warning
    (a camera that changed its resolution mid-run)."""
    w, h = frame_wh
    xy = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    if fractions:
        return xy * np.array([w, h], dtype=np.float32)
    outside = (xy[:, 0] > w) | (xy[:, 1] > h)
    if outside.any():
        x, y = (float(v) for v in xy[int(np.argmax(outside))])
        message = f"{where}: point [{x:g}, {y:g}] is outside the {w}x{h} frame"
        if strict:
            raise ConfigError(message)
        logger.warning("%s; clipped to the frame", message)
        xy = np.minimum(xy, np.array([w, h], dtype=np.float32))
    return xy


def rasterise(polygon: FloatArray, frame_wh: tuple[int, int]) -> BoolArray:
    """(H, W) bitmap of the pixels whose centres are inside ``polygon`` (even-odd rule), by scanlines: a
    zone from x=0 to x=320 holds exactly columns 0..319, so shares are exact at its edges."""
    w, h = frame_wh
    area = np.zeros((h, w), dtype=bool)
    start, end = polygon, np.roll(polygon, -1, axis=0)
    centres_y = np.arange(h, dtype=np.float64) + 0.5
    y0, y1 = start[:, 1].astype(np.float64), end[:, 1].astype(np.float64)
    x0, x1 = start[:, 0].astype(np.float64), end[:, 0].astype(np.float64)
    spans = (np.minimum(y0, y1)[None, :] <= centres_y[:, None]) & (
        centres_y[:, None] < np.maximum(y0, y1)[None, :]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0[None, :] + (centres_y[:, None] - y0[None, :]) * ((x1 - x0) / (y1 - y0))[None, :]
    for row in np.flatnonzero(spans.any(axis=1)):
        xs = np.sort(at[row, spans[row]])
        for left, right in zip(xs[0::2], xs[1::2], strict=False):
            first = max(0, int(np.ceil(left - 0.5)))
            last = min(w, int(np.ceil(right - 0.5)))
            area[row, first:last] = True
    return area


@dataclass
class PixelZone:
    """A zone at one frame size: its polygon in pixels and its area as an (H, W) bitmap."""

    config: ZoneConfig
    polygon: FloatArray
    area: BoolArray = field(repr=False)

    @classmethod
    def build(
        cls, config: ZoneConfig, frame_wh: tuple[int, int], where: str, strict: bool = True
    ) -> PixelZone:
        zone = f"{where}: zone {config.name}"
        polygon = to_pixels(config.polygon, config.in_fractions, frame_wh, zone, strict)
        return cls(config, polygon, rasterise(polygon, frame_wh))


@dataclass
class PixelLine:
    config: LineConfig
    start: FloatArray
    end: FloatArray

    @classmethod
    def build(
        cls, config: LineConfig, frame_wh: tuple[int, int], where: str, strict: bool = True
    ) -> PixelLine:
        xy = to_pixels(config.points, config.in_fractions, frame_wh, f"{where}: line {config.name}", strict)
        return cls(config, xy[0], xy[1])


@dataclass
class SceneGeometry:
    """Every zone and line of a source at the size of its frames; rebuilt when the size changes."""

    frame_wh: tuple[int, int]
    zones: list[PixelZone]
    lines: list[PixelLine]

    @classmethod
    def build(
        cls,
        zones: tuple[ZoneConfig, ...],
        lines: tuple[LineConfig, ...],
        frame_wh: tuple[int, int],
        where: str,
        strict: bool = True,
    ) -> SceneGeometry:
        return cls(
            frame_wh,
            [PixelZone.build(z, frame_wh, where, strict) for z in zones],
            [PixelLine.build(ln, frame_wh, where, strict) for ln in lines],
        )
