"""Zones, lines and tracking as a run is told about them: per source in YAML (``zones:``, ``lines:``,
``track:``) or in the body of ``POST /api/sources``. Each check raises ``ConfigError`` with one line.

Coordinates are fractions of the frame when every one of them lies in [0, 1], pixels otherwise; pixels
are checked against the frame once its size is known (``streamseg.scene.geometry``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamseg.config.names import check_distinct, check_name
from streamseg.config.numbers import finite, shown
from streamseg.errors import ConfigError

TRACKERS = ("bytetrack", "botsort")
MATCHES = ("box", "mask")  # what tracks are associated by: box IoU (Ultralytics') or mask IoU
ANCHORS = ("mask", "bottom-center", "center")  # how zone membership is decided
MAX_ZONE_POINTS = 256
MAX_ZONES = 32  # zones (and, separately, lines) per source
MAX_NAME_CHARS = 64  # a zone's or a line's name

Point = tuple[float, float]


@dataclass(frozen=True)
class ZoneConfig:
    """An area of one camera's picture. ``anchor: mask`` (the default): an object is in the zone when at
    least ``min_overlap`` of its mask's pixels are; ``bottom-center``/``center``: when that point of its
    box is (what other tools do)."""

    name: str
    polygon: tuple[Point, ...]
    classes: tuple[str, ...] = ()  # empty: every class
    min_overlap: float = 0.25
    anchor: str = "mask"
    loiter_seconds: float = 0.0  # 0: no loitering events

    @property
    def in_fractions(self) -> bool:
        return in_fractions(self.polygon)


@dataclass(frozen=True)
class LineConfig:
    """A segment objects cross (their box's bottom centre does). Direction ``in``: from the right of the
    line to its left, looking from its first point to its second; ``out`` the other way."""

    name: str
    points: tuple[Point, Point]
    classes: tuple[str, ...] = ()

    @property
    def in_fractions(self) -> bool:
        return in_fractions(self.points)


def in_fractions(points: tuple[Point, ...]) -> bool:
    return all(0.0 <= v <= 1.0 for p in points for v in p)


def check_tracker(name: str, where: str) -> str:
    """``""`` (inherit), ``off``, or a tracker Ultralytics ships."""
    _check(
        name in ("", "off", *TRACKERS),
        f"{where}: unknown tracker {shown(name)} (use {', '.join(TRACKERS)} or off)",
    )
    return name


def zones_from(raw: Any, where: str) -> tuple[ZoneConfig, ...]:
    items = _list(raw, f"{where}.zones")
    _check(len(items) <= MAX_ZONES, f"{where}.zones: at most {MAX_ZONES} zones per source")
    zones = tuple(_zone(item, f"{where}.zones[{i}]") for i, item in enumerate(items))
    _unique([z.name for z in zones], f"{where}.zones")
    return zones


def lines_from(raw: Any, where: str) -> tuple[LineConfig, ...]:
    items = _list(raw, f"{where}.lines")
    _check(len(items) <= MAX_ZONES, f"{where}.lines: at most {MAX_ZONES} lines per source")
    lines = tuple(_line(item, f"{where}.lines[{i}]") for i, item in enumerate(items))
    _unique([ln.name for ln in lines], f"{where}.lines")
    return lines


def _zone(item: Any, where: str) -> ZoneConfig:
    fields = _mapping(item, where, {"name", "polygon", "classes", "min_overlap", "anchor", "loiter_seconds"})
    name = _name(fields, where)
    polygon = check_polygon(fields.get("polygon"), f"{where}.polygon")
    min_overlap = _number(fields.get("min_overlap", 0.25), f"{where}.min_overlap")
    _check(0.0 < min_overlap <= 1.0, f"{where}.min_overlap must be in (0, 1], got {min_overlap}")
    anchor = fields.get("anchor", "mask")
    _check(anchor in ANCHORS, f"{where}.anchor must be one of {', '.join(ANCHORS)}, got {shown(anchor)}")
    loiter = _number(fields.get("loiter_seconds", 0.0), f"{where}.loiter_seconds")
    _check(0.0 <= loiter <= 86_400, f"{where}.loiter_seconds must be 0..86400, got {loiter}")
    return ZoneConfig(name, polygon, _classes(fields, where), min_overlap, anchor, loiter)


def check_polygon(raw: Any, where: str) -> tuple[Point, ...]:
    """A simple polygon of 3 to ``MAX_ZONE_POINTS`` points that encloses an area: a zone's, and a privacy
    area's (``config.privacy``), which are written the same way."""
    polygon = _points(raw, where)
    _check(len(polygon) >= 3, f"{where} needs at least 3 points, got {len(polygon)}")
    _check(len(polygon) <= MAX_ZONE_POINTS, f"{where} has more than {MAX_ZONE_POINTS} points")
    crossing = self_intersection(polygon)
    _check(crossing is None, f"{where} crosses itself (edges {crossing} intersect)")
    _check(polygon_area(polygon) > 0, f"{where} encloses no area")
    return polygon


def _line(item: Any, where: str) -> LineConfig:
    fields = _mapping(item, where, {"name", "points", "classes"})
    name = _name(fields, where)
    points = _points(fields.get("points"), f"{where}.points")
    _check(len(points) == 2, f"{where}.points must be 2 points, got {len(points)}")
    (x0, y0), (x1, y1) = points
    _check((x0, y0) != (x1, y1), f"{where}: the line has zero length (both points are {list(points[0])})")
    return LineConfig(name, (points[0], points[1]), _classes(fields, where))


def polygon_area(points: tuple[Point, ...]) -> float:
    """Unsigned area (shoelace)."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2


def self_intersection(points: tuple[Point, ...]) -> tuple[int, int] | None:
    """The first pair of non-adjacent edges that touch or cross, or None for a simple polygon."""
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if _segments_meet(*edges[i], *edges[j]):
                return i, j
    return None


def _segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool:
    def orient(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    def on(p: Point, q: Point, r: Point) -> bool:  # r on segment pq, given collinear
        return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])

    o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
    if ((o1 > 0) != (o2 > 0)) and ((o3 > 0) != (o4 > 0)) and o1 * o2 < 0 and o3 * o4 < 0:
        return True
    return any(
        o == 0 and on(p, q, r) for o, p, q, r in ((o1, a, b, c), (o2, a, b, d), (o3, c, d, a), (o4, c, d, b))
    )


def _points(raw: Any, where: str) -> tuple[Point, ...]:
    _check(isinstance(raw, (list, tuple)), f"{where} must be a list of [x, y] points")
    points: list[Point] = []
    for i, p in enumerate(raw):
        _check(
            isinstance(p, (list, tuple)) and len(p) == 2,
            f"{where}[{i}] must be a point [x, y], got {shown(p)}",
        )
        x, y = finite(p[0], f"{where}[{i}] x"), finite(p[1], f"{where}[{i}] y")
        _check(x >= 0 and y >= 0, f"{where}[{i}] is outside the frame (negative), got {shown(p)}")
        points.append((x, y))
    return tuple(points)


def _mapping(item: Any, where: str, known: set[str]) -> dict[str, Any]:
    _check(isinstance(item, dict), f"{where} must be a mapping")
    unknown = sorted(set(item) - known)
    _check(
        not unknown,
        f"{where}: unknown key '{unknown[0] if unknown else ''}' (valid: {', '.join(sorted(known))})",
    )
    return dict(item)


def _name(fields: dict[str, Any], where: str) -> str:
    """Zone and line names share the slug space of source names (``config.names``): their slug is a
    topic level (``{prefix}/{source}/zones/{zone}``)."""
    return check_name(fields.get("name"), f"{where}.name", MAX_NAME_CHARS, "/+#")


def _classes(fields: dict[str, Any], where: str) -> tuple[str, ...]:
    raw = fields.get("classes", [])
    items = [raw] if isinstance(raw, str) else raw
    _check(
        isinstance(items, (list, tuple)) and all(isinstance(c, str) and c for c in items),
        f"{where}.classes must be a list of class names, got {shown(raw)}",
    )
    return tuple(items)


def _number(value: Any, where: str) -> float:
    return finite(value, where)


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    _check(isinstance(raw, (list, tuple)), f"{where} must be a list")
    return list(raw)


def _unique(names: list[str], where: str) -> None:
    check_distinct(names, where)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
