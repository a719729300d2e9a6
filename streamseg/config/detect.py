"""When the network runs, as a run is told about it: a top-level ``detect:`` section (``fps``: frames per
second of stream time the network sees; ``motion``: see it only where something moves) and a source's
own ``detect_fps:`` and ``motion:`` keys (in YAML or the body of ``POST /api/sources``), which replace
the run's. Every frame is still decoded, recorded and shown; the frames the network skips carry the
latest result. Each check raises ``ConfigError`` with one line naming the key and what is allowed.

Ignore areas are polygons written as zones are: fractions of the frame when every coordinate lies in
[0, 1], pixels of the full frame otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamseg.config.areas import PolygonArea, areas_from, check_areas
from streamseg.config.numbers import int_in, is_number, shown
from streamseg.errors import ConfigError

MAX_DETECT_FPS = 1000.0
MAX_IGNORE = 32  # ignore areas per motion section
RATE_SLACK = 1.01  # detect_fps 30 on a 29.97 fps camera is "every frame", not a mistake
KEYS = ("fps", "motion")
MOTION_KEYS = ("enabled", "ignore", "learn", "min_area", "threshold", "width")
THRESHOLDS = (1, 255)  # grey levels
WIDTHS = (32, 1920)  # px the frame is downscaled to before motion is measured


@dataclass(frozen=True)
class IgnoreArea(PolygonArea):
    """A part of the picture whose motion never counts (a tree in the wind, a clock overlay)."""


@dataclass(frozen=True)
class MotionConfig:
    """Motion gating: a frame goes to the network only when at least ``min_area`` of it differs by more
    than ``threshold`` grey levels from a running background (``capture.motion``)."""

    enabled: bool = False
    threshold: int = 25  # above the +-3 levels of sensor noise and small exposure steps, below a person
    min_area: float = 0.002  # of the downscaled frame: 115 px at 320x180, 43x43 px at 720p
    width: int = 320  # downscaled to this width first: the cost is the size, not the camera's
    learn: float = 0.05  # background learning rate per frame: a light change is absorbed in ~10 frames
    ignore: tuple[IgnoreArea, ...] = ()


@dataclass(frozen=True)
class DetectConfig:
    """The run's ``detect:`` section, and what one source runs with once merged (``detect_for``)."""

    fps: float | None = None  # None: the network sees every frame
    motion: MotionConfig = field(default_factory=MotionConfig)


@dataclass(frozen=True)
class SourceDetect:
    """A source's own keys: None inherits the run's. Its ``motion:`` is complete on its own: keys it
    leaves out take MotionConfig's defaults, not the run's, so each camera is read as written."""

    fps: float | None = None
    motion: MotionConfig | None = None


def detect_from(raw: Any, where: str) -> DetectConfig:
    """The top-level section (``where`` names it, e.g. ``config.yaml: detect``); None: the defaults."""
    if raw is None:
        return DetectConfig()
    _check(isinstance(raw, dict), f"{where} must be a mapping with any of: {', '.join(KEYS)}")
    _unknown(raw, KEYS, where)
    fps = raw.get("fps")
    motion = _motion(raw.get("motion"), f"{where}.motion")
    return DetectConfig(
        fps=None if fps is None else _fps(fps, f"{where}.fps"),
        motion=MotionConfig() if motion is None else motion,
    )


def source_detect_from(detect_fps_raw: Any, motion_raw: Any, where: str) -> SourceDetect | None:
    """A source's ``detect_fps:`` and ``motion:`` (``where``: ``sources[0]``); None when it has neither."""
    if detect_fps_raw is None and motion_raw is None:
        return None
    fps = None if detect_fps_raw is None else _fps(detect_fps_raw, f"{where}.detect_fps")
    return SourceDetect(fps=fps, motion=_motion(motion_raw, f"{where}.motion"))


def detect_for(run: DetectConfig, source: SourceDetect | None) -> DetectConfig:
    """What a source runs with: its ``detect_fps`` over the run's ``fps``, its ``motion`` for the run's."""
    if source is None:
        return run
    return DetectConfig(
        fps=run.fps if source.fps is None else source.fps,
        motion=run.motion if source.motion is None else source.motion,
    )


def check_detect_rate(fps: float | None, source_fps: float, where: str) -> None:
    """Once the source is open and its rate known (``source_fps`` > 0): a ``detect_fps`` above it asks
    for frames the camera never sends, so it is refused rather than read as every frame."""
    if fps is None or not source_fps > 0 or fps <= source_fps * RATE_SLACK:
        return
    raise ConfigError(f"{where}: detect_fps {fps:g} is above the camera's {source_fps:g} fps")


def check_detect(d: DetectConfig, where: str) -> None:
    """Every value of the run's section as built in Python too (``where``: ``detect``)."""
    _check(isinstance(d, DetectConfig), f"{where} must be a DetectConfig, got {shown(d)}")
    if d.fps is not None:
        _fps(d.fps, f"{where}.fps")
    check_motion(d.motion, f"{where}.motion")


def check_source_detect(s: SourceDetect, where: str) -> None:
    """A source's own keys as built in Python (``where``: ``sources[0]``)."""
    _check(isinstance(s, SourceDetect), f"{where}.detect must be a SourceDetect, got {shown(s)}")
    if s.fps is not None:
        _fps(s.fps, f"{where}.detect_fps")
    if s.motion is not None:
        check_motion(s.motion, f"{where}.motion")


def check_motion(m: MotionConfig, where: str) -> None:
    _check(isinstance(m, MotionConfig), f"{where} must be a MotionConfig, got {shown(m)}")
    _enabled(m.enabled, f"{where}.enabled")
    _threshold(m.threshold, f"{where}.threshold")
    _min_area(m.min_area, f"{where}.min_area")
    _width(m.width, f"{where}.width")
    _learn(m.learn, f"{where}.learn")
    check_areas(m.ignore, f"{where}.ignore", IgnoreArea, MAX_IGNORE, f"at most {MAX_IGNORE} areas")


def _motion(raw: Any, where: str) -> MotionConfig | None:
    """A ``motion:`` section: a mapping (given, it is on unless it says ``enabled: false``), or
    ``true``/``false`` for the defaults on or off; None when absent."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return MotionConfig(enabled=raw)
    _check(
        isinstance(raw, dict),
        f"{where} must be true, false or a mapping with any of: {', '.join(MOTION_KEYS)}",
    )
    _unknown(raw, MOTION_KEYS, where)
    base = MotionConfig()
    return MotionConfig(
        enabled=_enabled(raw.get("enabled", True), f"{where}.enabled"),
        threshold=_threshold(raw.get("threshold", base.threshold), f"{where}.threshold"),
        min_area=_min_area(raw.get("min_area", base.min_area), f"{where}.min_area"),
        width=_width(raw.get("width", base.width), f"{where}.width"),
        learn=_learn(raw.get("learn", base.learn), f"{where}.learn"),
        ignore=areas_from(raw.get("ignore"), f"{where}.ignore", IgnoreArea, MAX_IGNORE),
    )


def _fps(raw: Any, where: str) -> float:
    _check(is_number(raw), f"{where} must be a number of frames per second, got {shown(raw)}")
    _check(raw > 0, f"{where} must be > 0 (leave it out to infer every frame), got {raw:g}")
    _check(
        raw <= MAX_DETECT_FPS, f"{where} must be at most {MAX_DETECT_FPS:g} frames per second, got {raw:g}"
    )
    return float(raw)


def _enabled(raw: Any, where: str) -> bool:
    _check(isinstance(raw, bool), f"{where} must be true or false, got {shown(raw)}")
    return bool(raw)


def _threshold(raw: Any, where: str) -> int:
    return int_in(raw, where, *THRESHOLDS, "grey levels")


def _min_area(raw: Any, where: str) -> float:
    ok = is_number(raw) and 0 < raw <= 1
    _check(ok, f"{where} must be a share of the frame in (0, 1], e.g. 0.002, got {shown(raw)}")
    return float(raw)


def _width(raw: Any, where: str) -> int:
    return int_in(raw, where, *WIDTHS, "pixels")


def _learn(raw: Any, where: str) -> float:
    ok = is_number(raw) and 0 < raw <= 1
    _check(ok, f"{where} must be in (0, 1] (the background's learning rate per frame), got {shown(raw)}")
    return float(raw)


def _unknown(raw: dict[Any, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in keys)
    _check(
        not unknown, f"{where}: unknown key {shown(unknown[0] if unknown else '')} (valid: {', '.join(keys)})"
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
