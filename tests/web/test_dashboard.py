"""``Dashboard`` hands the config's live viewer bounds to its ``LiveBook`` (issue 30, item 1)."""

from __future__ import annotations

from streamseg.config import Config, DashboardConfig, SourceConfig
from streamseg.telemetry import Telemetry
from streamseg.web import Dashboard


def test_the_live_viewer_bounds_come_from_the_config() -> None:
    settings = DashboardConfig(live_viewers=8, live_viewers_per_source=3)
    dashboard = Dashboard(
        Config(sources=(SourceConfig("a.mp4"),), dashboard=settings), Telemetry(gpu_index=None)
    )
    assert dashboard.live is not None
    assert (dashboard.live.max_viewers, dashboard.live.max_per_source) == (8, 3)
    off = Dashboard(
        Config(sources=(SourceConfig("a.mp4"),), dashboard=DashboardConfig(live_viewers=0)),
        Telemetry(gpu_index=None),
    )
    assert off.live is None
