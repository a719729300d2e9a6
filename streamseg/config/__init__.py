"""Run configuration: frozen dataclasses per section, YAML that rejects unknown keys, value checks."""

from __future__ import annotations

from streamseg.config.schema import *  # noqa: F403 - temporary while the package is split
from streamseg.config.schema import _SECTIONS, _build, _check, _coerce  # noqa: F401
