"""Configuration from YAML (``--config``), JSON bodies and command-line overrides: unknown keys and wrong
types are errors, not warnings. Precedence: built-in defaults < YAML file < command-line flags."""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from streamseg.config.detect import detect_from, source_detect_from
from streamseg.config.names import check_name
from streamseg.config.numbers import MAX_INT, bounded_int, finite, shown
from streamseg.config.privacy import privacy_from, source_privacy_from
from streamseg.config.scene import lines_from, zones_from
from streamseg.config.schema import _SECTIONS, Config, check_source
from streamseg.config.sections import MAX_NAME_CHARS, SourceConfig, SourceRules
from streamseg.errors import ConfigError


def load_yaml(path: str | Path) -> Config:
    """Read a config file; unknown keys and wrong types are errors, not warnings."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise ConfigError(f"invalid YAML in {p}{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file is not UTF-8 text: {p}") from None
    except ValueError:  # an integer past Python's 4300-digit limit, made by the YAML constructor
        raise ConfigError(f"{p}: a number is too long (integers have at most 18 digits)") from None
    except RecursionError:
        raise ConfigError(f"{p}: the YAML is nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections, got {type(data).__name__}")
    return from_dict(data, origin=str(p))


def from_dict(data: dict[str, Any], origin: str = "config") -> Config:
    allowed = {"sources", "privacy", "detect", *_SECTIONS}
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{origin}: unknown config key '{key}' (valid: {', '.join(sorted(allowed))})")
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{origin}: '{name}' must be a mapping, got {type(raw).__name__}")
        sections[name] = _build(cls, raw, f"{origin}: {name}")
    sources, rules = _parse_sources(data.get("sources") or [], origin)
    privacy = privacy_from(data.get("privacy"), f"{origin}: privacy")  # not _build: areas, per-source
    detect = detect_from(data.get("detect"), f"{origin}: detect")  # not _build: nested, per-source
    return Config(sources=sources, source_rules=rules, privacy=privacy, detect=detect, **sections).validated()


def _parse_sources(raw: Any, origin: str) -> tuple[tuple[SourceConfig, ...], SourceRules]:
    """``sources:`` is a list of sources, or a mapping of the rules (``max``, ``allow_listen``,
    ``min_fps``) with the sources under ``list``."""
    items: Any = raw
    rules = SourceRules()
    if isinstance(raw, dict):
        items = raw.get("list") or []
        rules = _build(SourceRules, {k: v for k, v in raw.items() if k != "list"}, f"{origin}: sources")
    if not isinstance(items, list):
        raise ConfigError(f"{origin}: 'sources' must be a list (or a mapping with the sources under 'list')")
    sources = tuple(source_from(item, f"{origin}: sources[{i}]") for i, item in enumerate(items))
    return sources, rules


def source_from(item: Any, where: str = "source") -> SourceConfig:
    """One source as written in YAML (or posted as JSON): a path/URL, or a mapping of SourceConfig fields."""
    if isinstance(item, (str, int)) and not isinstance(item, bool):
        return check_source(SourceConfig(uri=str(item)), where)
    if isinstance(item, dict):
        if "uri" not in item:
            raise ConfigError(f"{where}: 'uri' is missing")
        values = dict(item)
        _check_source_keys(values, where)
        uri = values["uri"]
        if (
            not isinstance(uri, (str, int))
            or isinstance(uri, bool)
            or (isinstance(uri, int) and uri > MAX_INT)
        ):
            raise ConfigError(f"{where}: 'uri' must be a path, a URL or a webcam number, got {shown(uri)}")
        values["uri"] = str(uri)
        if "name" in values:
            values["name"] = check_name(values["name"], f"{where}: name", MAX_NAME_CHARS, "/")
        scene = {
            "zones": zones_from(values.pop("zones", None), where),
            "lines": lines_from(values.pop("lines", None), where),
            "privacy": source_privacy_from(values.pop("privacy", None), f"{where}.privacy"),
            "detect": source_detect_from(values.pop("detect_fps", None), values.pop("motion", None), where),
        }
        return check_source(dataclasses.replace(_build(SourceConfig, values, where), **scene), where)
    raise ConfigError(f"{where} must be a path/URL or a mapping with 'uri' and 'name'")


def _check_source_keys(values: dict[str, Any], where: str) -> None:
    """A source's keys as written: ``detect_fps`` and ``motion`` fill its ``detect`` field, which is not
    written itself (so ``detect:`` in a source is refused, naming the keys that are)."""
    known = [f.name for f in fields(SourceConfig) if f.name != "detect"] + ["detect_fps", "motion"]
    for key in values:
        if key not in known:
            raise ConfigError(f"{where}: unknown config key '{key}' (valid: {', '.join(known)})")


def _build(cls: type[Any], raw: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}: unknown config key '{key}' (valid: {', '.join(known)})")
    values = {}
    for key, value in raw.items():
        values[key] = _coerce(value, known[key], f"{where}.{key}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(value: Any, f: dataclasses.Field[Any], where: str) -> Any:
    kind = str(f.type)
    if value is None and "None" in kind:
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {shown(value)}")
    if kind in ("int", "int | None"):
        return bounded_int(value, where)
    if kind.startswith("float"):
        return finite(value, where)
    if kind.startswith("tuple[str"):
        items = [value] if isinstance(value, str) else value
        if isinstance(items, (list, tuple)) and all(isinstance(v, str) and v for v in items):
            return tuple(items)
        raise ConfigError(f"{where} must be a list of strings, got {shown(value)}")
    if kind.startswith("str"):
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= MAX_INT:
            return str(value)
        raise ConfigError(f"{where} must be a string, got {shown(value)}")
    return value


def merge(base: Config, **overrides: dict[str, Any]) -> Config:
    """Apply non-None CLI overrides per section, e.g. ``merge(cfg, model={"conf": 0.5})``."""
    changes: dict[str, Any] = {}
    for section, values in overrides.items():
        current = getattr(base, section)
        kept = {k: v for k, v in values.items() if v is not None}
        if kept:
            changes[section] = dataclasses.replace(current, **kept)
    return dataclasses.replace(base, **changes).validated()
