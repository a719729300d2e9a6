"""Device names: ``cpu``, ``cuda``, ``cuda:N``, one pattern for the config, the runtimes and SAM."""

from __future__ import annotations

import pytest

from streamseg.config import Config, ModelConfig, validate
from streamseg.config.devices import parse_device
from streamseg.errors import ConfigError


def test_parse_device() -> None:
    assert parse_device("cpu") == ("cpu", 0)
    assert parse_device("cuda") == ("cuda", 0)
    assert parse_device("cuda:3") == ("cuda", 3)
    for bad in ("gpu", "cuda:", "cuda:x", "CPU"):
        with pytest.raises(ConfigError):
            parse_device(bad)
        with pytest.raises(ConfigError, match=r"model\.device"):
            validate(Config(model=ModelConfig(device=bad)))
