"""Device names as users write them: ``cpu``, ``cuda``, ``cuda:N``; one pattern for the config's check,
the runtimes and SAM."""

from __future__ import annotations

import re

from streamseg.errors import ConfigError

DEVICE_RE = re.compile(r"cpu|cuda(?::(\d+))?")


def parse_device(device: str) -> tuple[str, int]:
    """``"cpu"`` -> ("cpu", 0); ``"cuda"`` / ``"cuda:1"`` -> ("cuda", index)."""
    match = DEVICE_RE.fullmatch(device)
    if match is None:
        raise ConfigError(f"device must be 'cpu' or 'cuda:N', got {device!r}")
    if device == "cpu":
        return "cpu", 0
    return "cuda", int(match.group(1) or 0)


def is_device_name(device: str) -> bool:
    return DEVICE_RE.fullmatch(device) is not None
