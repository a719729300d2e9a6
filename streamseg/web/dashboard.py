"""``Dashboard``: everything ``--dashboard`` adds to a run, wired to one pipeline.

dashboard = Dashboard(cfg, telemetry)            # checks address and token; nothing started yet
pipeline = Pipeline(config=cfg, telemetry=telemetry, sinks=dashboard.sinks)
pipeline.open(); dashboard.start(pipeline)       # binds the port before any frame flows
...; dashboard.stop()
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from streamseg.config import Config
from streamseg.telemetry import Telemetry
from streamseg.web.access import DEFAULT_HOST, DEFAULT_PORT, parse_listen, resolve_token
from streamseg.web.metrics import PipelineMetrics
from streamseg.web.preview import PreviewEncoder, PreviewSink
from streamseg.web.server import DashboardServer
from streamseg.web.status import RunInfo, StatusBuilder

if TYPE_CHECKING:
    from streamseg.pipeline import Pipeline

logger = logging.getLogger(__name__)


class Dashboard:
    """Live page, Prometheus ``/metrics`` and health probes for one pipeline."""

    def __init__(self, config: Config, telemetry: Telemetry) -> None:
        settings = config.dashboard
        self.address = parse_listen(settings.listen or f"{DEFAULT_HOST}:{DEFAULT_PORT}")
        self._token = resolve_token(self.address, settings.token)
        self._config = config
        self._telemetry = telemetry
        self.preview = PreviewSink()
        self.server: DashboardServer | None = None

    @property
    def sinks(self) -> list[PreviewSink]:
        """Give these to ``Pipeline(sinks=...)`` so the render thread feeds the preview."""
        return [self.preview]

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else self.address.url()

    def start(self, pipeline: Pipeline) -> Dashboard:
        """Bind and serve; call after ``pipeline.open()`` (source names are known) and before frames flow."""
        from streamseg.pipeline.sinks import build_annotate  # noqa: PLC0415 - render stack, only when used

        cfg, settings = self._config, self._config.dashboard
        info = RunInfo(
            tuple(s.name for s in pipeline.sources), cfg.model.batch, settings.preview_fps, settings.history_s
        )
        status = StatusBuilder(self._telemetry.snapshot, self.preview, info)
        metrics = PipelineMetrics(status.recent, cfg.model.batch)  # gauges at most 1 s old
        self._telemetry.add_observer(metrics)
        encoder = PreviewEncoder(
            self.preview,
            build_annotate(cfg, self._telemetry),
            max_fps=settings.preview_fps,
            max_width=settings.preview_width,
        )
        self.server = DashboardServer(
            self.address, self._token, status, encoder, metrics, settings.history_s, prompts=pipeline.prompts
        )
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
