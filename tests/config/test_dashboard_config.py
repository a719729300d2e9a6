"""Issue 30, items 1 and 6: the dashboard's per-source live viewer bound, connection cap and header
deadline as config keys, with sane defaults and one-line errors."""

from __future__ import annotations

import pytest

from streamseg.config import Config, DashboardConfig, SourceConfig
from streamseg.config.load import from_dict
from streamseg.errors import ConfigError
from streamseg.web.connections import ConnectionLimits


def test_defaults_and_yaml_keys() -> None:
    d = DashboardConfig()
    assert (d.live_viewers, d.live_viewers_per_source) == (16, 4)
    assert (d.max_connections, d.header_timeout_s) == (128, 10.0)
    raw = {"live_viewers_per_source": 2, "max_connections": 64, "header_timeout_s": 5}
    cfg = from_dict({"sources": ["a.mp4"], "dashboard": raw}).validated()
    assert cfg.dashboard.live_viewers_per_source == 2
    assert ConnectionLimits.of(cfg.dashboard) == ConnectionLimits(max_connections=64, header_timeout_s=5.0)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("live_viewers_per_source", 0, "dashboard.live_viewers_per_source must be 1..256, got 0"),
        ("live_viewers_per_source", 257, "dashboard.live_viewers_per_source must be 1..256, got 257"),
        ("max_connections", 4, "dashboard.max_connections must be 8..65536, got 4"),
        ("header_timeout_s", 0.5, "dashboard.header_timeout_s must be 1..300 seconds, got 0.5"),
        ("header_timeout_s", 301.0, "dashboard.header_timeout_s must be 1..300 seconds, got 301.0"),
    ],
)
def test_nonsense_is_one_line(key: str, value: float, message: str) -> None:
    cfg = Config(sources=(SourceConfig("a.mp4"),), dashboard=DashboardConfig(**{key: value}))
    with pytest.raises(ConfigError) as err:
        cfg.validated()
    assert str(err.value) == message
