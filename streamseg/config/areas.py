"""Areas of a picture written as zones are (``{polygon: [[x, y], ...]}``: fractions of the frame when every
coordinate lies in [0, 1], pixels otherwise), as privacy's areas and motion's ignore areas take them:
parsed from YAML or JSON, and checked again when built in Python. Each check is one ``ConfigError`` line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from streamseg.config.numbers import shown
from streamseg.config.scene import Point, check_polygon, in_fractions
from streamseg.errors import ConfigError

AREA_KEYS = ("polygon",)


@dataclass(frozen=True)
class PolygonArea:
    """A part of the picture, by its polygon."""

    polygon: tuple[Point, ...]

    @property
    def in_fractions(self) -> bool:
        return in_fractions(self.polygon)


AreaT = TypeVar("AreaT", bound=PolygonArea)


def areas_from(
    raw: Any, where: str, make: Callable[[tuple[Point, ...]], AreaT], limit: int, per: str = ""
) -> tuple[AreaT, ...]:
    """A list of areas as written (None: none); at most ``limit`` (``per``: what the limit counts in,
    for its message)."""
    if raw is None:
        return ()
    _check(isinstance(raw, (list, tuple)), f"{where} must be a list of areas ({{polygon: [[x, y], ...]}})")
    _check(len(raw) <= limit, f"{where}: at most {limit} areas{per}, got {len(raw)}")
    return tuple(_area(item, f"{where}[{i}]", make) for i, item in enumerate(raw))


def check_areas(
    areas: Sequence[Any], where: str, kind: type[PolygonArea], limit: int, limit_text: str
) -> None:
    """Areas built in Python: a sequence of at most ``limit`` ``kind``, each polygon sound (each checked
    once: a run's areas are in every source's merged config)."""
    _check(isinstance(areas, (tuple, list)) and len(areas) <= limit, f"{where}: {limit_text}")
    for i, area in enumerate(areas):
        article = "an" if kind.__name__[0] in "AEIOU" else "a"
        _check(isinstance(area, kind), f"{where}[{i}] must be {article} {kind.__name__}, got {shown(area)}")
        try:
            fault = _polygon_fault(area.polygon)
        except TypeError:  # lists, from Python code: not hashable, checked each time
            fault = _polygon_fault.__wrapped__(area.polygon)
        _check(fault is None, f"{where}[{i}].polygon{fault}")


def _area(item: Any, where: str, make: Callable[[tuple[Point, ...]], AreaT]) -> AreaT:
    _check(isinstance(item, dict), f"{where} must be a mapping with a polygon ({{polygon: [[x, y], ...]}})")
    unknown = sorted(str(k) for k in item if k not in AREA_KEYS)
    _check(not unknown, f"{where}: unknown key {shown(unknown[0] if unknown else '')} (valid: polygon)")
    _check("polygon" in item, f"{where}.polygon is missing (an area is {{polygon: [[x, y], ...]}})")
    return make(check_polygon(item["polygon"], f"{where}.polygon"))


@functools.lru_cache(maxsize=4096)
def _polygon_fault(polygon: tuple[Point, ...]) -> str | None:
    """What is wrong with a polygon, as the end of a message after its key; None: nothing. Cached: the
    check is quadratic in points, and a run's config is validated again at each merge."""
    try:
        check_polygon(polygon, "")
    except ConfigError as exc:
        return str(exc)
    return None


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
