"""``Dashboard``: everything ``--dashboard`` adds to a run, wired to one pipeline.

dashboard = Dashboard(cfg, telemetry)            # checks address and token; nothing started yet
pipeline = Pipeline(config=cfg, telemetry=telemetry, sinks=dashboard.sinks, live=dashboard.live)
pipeline.open(); dashboard.start(pipeline)       # binds the port before any frame flows
...; dashboard.stop()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamseg.config import Config
from streamseg.pipeline.live import LiveBook
from streamseg.telemetry import Telemetry
from streamseg.web.access import DEFAULT_HOST, DEFAULT_PORT, parse_listen, resolve_token
from streamseg.web.connections import ConnectionLimits
from streamseg.web.metrics import PipelineMetrics
from streamseg.web.preview import PreviewEncoder, PreviewSink
from streamseg.web.server import DashboardServer
from streamseg.web.sources_api import GuardedControl
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
        # the live video: each source's annotated H.264, encoded while someone watches it
        self.live = (
            LiveBook(settings.live_viewers, max_per_source=settings.live_viewers_per_source)
            if settings.live_viewers
            else None
        )
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
        views = PipelineViews.of(pipeline, self.preview)
        self.server = DashboardServer(
            self.address,
            self._token,
            views.status,
            views.previews,
            views.metrics,
            self._config.dashboard.history_s,
            control=GuardedControl.for_run(pipeline, self._config, self.address),
            prompts=pipeline.prompts,
            allowed_hosts=self._config.dashboard.allowed_hosts,
            file_roots=self._config.api.file_roots,
            live=self._live_of(pipeline),
            limits=ConnectionLimits.of(self._config.dashboard),
        )
        self.server.start()
        return self

    def _live_of(self, pipeline: Pipeline) -> LiveBook | None:
        """The live video, where the pipeline was given it (``Pipeline(live=dashboard.live)``)."""
        return self.live if pipeline.live is self.live else None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@dataclass(frozen=True)
class PipelineViews:
    """Status, previews and Prometheus metrics of one pipeline: what its dashboard serves, and what a
    cluster's group actor hands its controller."""

    status: StatusBuilder
    previews: PreviewEncoder
    metrics: PipelineMetrics

    @classmethod
    def of(cls, pipeline: Pipeline, preview: PreviewSink) -> PipelineViews:
        """Views of ``pipeline``, whose ``sinks`` include ``preview``; call after ``open()``."""
        from streamseg.pipeline.sinks import build_annotate  # noqa: PLC0415 - render stack, only when used

        cfg, settings, telemetry = pipeline.config, pipeline.config.dashboard, pipeline.telemetry
        names = tuple(pipeline.source_names)
        info = RunInfo(names, cfg.model.batch, settings.preview_fps, settings.history_s)
        status = StatusBuilder(telemetry.snapshot, preview, info, lambda: pipeline.source_names)
        metrics = PipelineMetrics(status.recent, cfg.model.batch)  # gauges at most 1 s old
        telemetry.add_observer(metrics)
        previews = PreviewEncoder(
            preview,
            build_annotate(cfg, telemetry),
            max_fps=settings.preview_fps,
            max_width=settings.preview_width,
        )
        return cls(status, previews, metrics)
