"""Privacy masking as a run is told about it: a top-level ``privacy:`` section for every source, and a
source's own ``privacy:`` (in YAML or the body of ``POST /api/sources``) whose keys override the run's
and whose areas add to the run's. Each check raises ``ConfigError`` with one line naming the key.

Objects are hidden by their masks, areas by their polygons (written as zones are: fractions of the frame
when every coordinate lies in [0, 1], pixels otherwise). Which class names exist is only known once the
model is loaded: ``check_privacy_classes`` is for then.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streamseg.config.areas import PolygonArea, areas_from, check_areas
from streamseg.config.numbers import int_in, is_number, shown
from streamseg.errors import ConfigError

STYLES = ("blur", "pixelate", "fill")
MAX_GROW = 256  # px a mask is dilated by; more hides a whole frame's worth around each person
MAX_AREAS = 32  # areas per section (the run's, and each source's own)
MIN_GAP_S = 0.05
MAX_GAP_S = 3600.0
KEYS = ("areas", "grow", "max_gap", "objects", "style")
SHOWN_CLASSES = 10  # a model's classes named in an unknown-class error before "... (80)"


@dataclass(frozen=True)
class PrivacyArea(PolygonArea):
    """A part of the picture hidden whatever is in it (a neighbour's window, a screen)."""


@dataclass(frozen=True)
class PrivacyConfig:
    """What one source runs with, and the run's top-level section: instances of ``objects`` hidden by
    their masks grown by ``grow`` px, ``areas`` always; after ``max_gap`` s of stream time without an
    inference result whole frames are hidden, since stale masks no longer cover anyone."""

    objects: tuple[str, ...] = ()
    style: str = "pixelate"  # the cheapest that hides: no more than drawing the masks (tools/bench_privacy)
    grow: int = 4
    max_gap: float = 1.0
    areas: tuple[PrivacyArea, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.objects or self.areas)


@dataclass(frozen=True)
class SourcePrivacy:
    """A source's own section: None inherits the run's value; ``objects=()`` turns objects off for it."""

    objects: tuple[str, ...] | None = None
    style: str | None = None
    grow: int | None = None
    max_gap: float | None = None
    areas: tuple[PrivacyArea, ...] = ()


def privacy_from(raw: Any, where: str) -> PrivacyConfig:
    """The top-level section (``where`` names it, e.g. ``config.yaml: privacy``); None: the defaults."""
    return privacy_for(PrivacyConfig(), source_privacy_from(raw, where))


def source_privacy_from(raw: Any, where: str) -> SourcePrivacy | None:
    """A source's section (``where``: ``sources[0].privacy``); only the keys it has are set."""
    if raw is None:
        return None
    _check(isinstance(raw, dict), f"{where} must be a mapping with any of: {', '.join(KEYS)}")
    unknown = sorted(str(k) for k in raw if k not in KEYS)
    _check(
        not unknown, f"{where}: unknown key {shown(unknown[0] if unknown else '')} (valid: {', '.join(KEYS)})"
    )
    return SourcePrivacy(
        objects=_objects(raw["objects"], f"{where}.objects") if "objects" in raw else None,
        style=_style(raw["style"], f"{where}.style") if "style" in raw else None,
        grow=_grow(raw["grow"], f"{where}.grow") if "grow" in raw else None,
        max_gap=_max_gap(raw["max_gap"], f"{where}.max_gap") if "max_gap" in raw else None,
        areas=areas_from(raw.get("areas"), f"{where}.areas", PrivacyArea, MAX_AREAS, " per section"),
    )


def privacy_for(run: PrivacyConfig, source: SourcePrivacy | None) -> PrivacyConfig:
    """What a source runs with: each key its section sets overrides the run's; areas add up."""
    if source is None:
        return run
    return PrivacyConfig(
        objects=run.objects if source.objects is None else source.objects,
        style=run.style if source.style is None else source.style,
        grow=run.grow if source.grow is None else source.grow,
        max_gap=run.max_gap if source.max_gap is None else source.max_gap,
        areas=run.areas + source.areas,
    )


def check_privacy(p: PrivacyConfig, where: str) -> None:
    """Every value of a section or a merged one (``where`` names it), as built in Python too. Polygons
    are checked once each: the run's areas are in every source's merged config."""
    _objects(p.objects, f"{where}.objects")
    _style(p.style, f"{where}.style")
    _grow(p.grow, f"{where}.grow")
    _max_gap(p.max_gap, f"{where}.max_gap")
    limit = f"at most {MAX_AREAS} areas per section ({2 * MAX_AREAS} with the run's)"
    check_areas(p.areas, f"{where}.areas", PrivacyArea, 2 * MAX_AREAS, limit)


def check_privacy_classes(privacy: PrivacyConfig, class_names: Sequence[str], where: str) -> None:
    """Once the model is loaded: every class in ``objects`` is one of its classes, else one line with
    the closest name (a typo hides nobody, silently)."""
    known = list(class_names)
    for name in privacy.objects:
        if name in known:
            continue
        close = [c for c in known if c.lower() == name.lower()] or difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {shown(close[0])}? " if close else ""
        listed = ", ".join(known[:SHOWN_CLASSES]) + (", ..." if len(known) > SHOWN_CLASSES else "")
        classes = f"the model's classes: {listed} ({len(known)})" if known else "the model names no classes"
        raise ConfigError(f"{where}: privacy.objects: unknown class {shown(name)} ({hint}{classes})")


def _objects(raw: Any, where: str) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    _check(
        isinstance(items, (list, tuple)) and all(isinstance(c, str) and c.strip() for c in items),
        f"{where} must be a list of class names (any class of the model), got {shown(raw)}",
    )
    for name in items:
        _check("," not in name, f"{where}: {shown(name)} is one name with commas: write a list, [a, b]")
    return tuple(dict.fromkeys(items))


def _style(raw: Any, where: str) -> str:
    _check(
        isinstance(raw, str) and raw in STYLES,
        f"{where} must be one of {', '.join(STYLES)}, got {shown(raw)}",
    )
    return str(raw)


def _grow(raw: Any, where: str) -> int:
    return int_in(raw, where, 0, MAX_GROW, "pixels")


def _max_gap(raw: Any, where: str) -> float:
    ok = is_number(raw) and MIN_GAP_S <= raw <= MAX_GAP_S
    _check(ok, f"{where} must be {MIN_GAP_S:g}..{MAX_GAP_S:g} seconds, got {shown(raw)}")
    return float(raw)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
