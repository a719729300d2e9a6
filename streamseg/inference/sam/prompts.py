"""Prompts: what the user points at. One ``Prompt`` is one object: a box, or points with labels.

Command-line syntax: ``--points X,Y[:LABEL];X,Y[:LABEL]...`` is one object described by its points (label 1
= on the object, the default; 0 = not on it); repeat ``--points`` for more objects. ``--boxes
X1,Y1,X2,Y2;...`` is one object per box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from streamseg.errors import ConfigError


@dataclass(frozen=True)
class Prompt:
    """One object to segment, in frame pixels: ``box`` (x1, y1, x2, y2) or ``points`` with ``labels``."""

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if (self.box is None) == (not self.points):
            raise ValueError("a prompt is either a box or points")
        if len(self.labels) != len(self.points):
            raise ValueError(f"{len(self.points)} points but {len(self.labels)} labels")

    @classmethod
    def from_box(cls, x1: float, y1: float, x2: float, y2: float) -> Prompt:
        return cls(box=(float(x1), float(y1), float(x2), float(y2)))

    @classmethod
    def from_point(cls, x: float, y: float, label: int = 1) -> Prompt:
        return cls(points=((float(x), float(y)),), labels=(int(label),))

    @property
    def kind(self) -> tuple[str, int]:
        """Prompts of one kind (box, or this many points) go through the network together."""
        return ("box", 2) if self.box is not None else ("points", len(self.points))

    def check_inside(self, width: int, height: int, where: str = "prompt") -> None:
        """Prompts outside the picture would segment nothing (or garbage): refuse them with one line."""
        coords = list(self.points) if self.box is None else [self.box[:2], self.box[2:]]
        for x, y in coords:
            if not (0 <= x <= width and 0 <= y <= height):
                raise ConfigError(
                    f"{where} {_fmt(x)},{_fmt(y)} is outside the {width}x{height} picture "
                    f"(x from 0 to {width}, y from 0 to {height})"
                )
        if self.box is not None and not (self.box[2] > self.box[0] and self.box[3] > self.box[1]):
            raise ConfigError(f"box {','.join(_fmt(v) for v in self.box)} is empty: write it as X1,Y1,X2,Y2")


def parse_points(text: str) -> Prompt:
    """``"500,375"`` or ``"500,375;620,400:0"`` -> one object's points and labels."""
    points, labels = [], []
    for item in _items(text, "--points"):
        coords, _, label = item.partition(":")
        x, y = _numbers(coords, 2, "--points", "X,Y[:LABEL]")
        if label.strip() not in ("", "0", "1"):
            raise ConfigError(f"--points: label must be 1 (on the object) or 0 (not on it), got {label!r}")
        points.append((x, y))
        labels.append(int(label) if label.strip() else 1)
    if not any(labels):
        raise ConfigError("--points: at least one point must be on the object (label 1)")
    return Prompt(points=tuple(points), labels=tuple(labels))


def parse_boxes(text: str) -> list[Prompt]:
    """``"10,20,200,300;400,50,600,380"`` -> one object per box."""
    return [Prompt.from_box(*_numbers(item, 4, "--boxes", "X1,Y1,X2,Y2")) for item in _items(text, "--boxes")]


def check_prompts(prompts: Sequence[Prompt], width: int, height: int) -> None:
    for prompt in prompts:
        prompt.check_inside(width, height, "box corner" if prompt.box is not None else "point")


def _items(text: str, flag: str) -> list[str]:
    items = [part.strip() for part in text.split(";") if part.strip()]
    if not items:
        raise ConfigError(f"{flag}: nothing given")
    return items


def _numbers(text: str, count: int, flag: str, form: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{flag}: expected {form} in pixels, got {text!r}")
    return values


def _fmt(v: float) -> str:
    return f"{v:g}"
