"""What the dashboard server reads: one run's status, previews and metrics, or a whole cluster's.

``StatusBuilder``, ``PreviewEncoder`` and ``PipelineMetrics`` serve a single pipeline; the cluster's
controller serves the same three views of every camera in the cluster, so one server and one page
show either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from streamseg.web.preview import Jpeg


class StatusView(Protocol):
    def status(self) -> dict[str, Any]:
        """The ``/api/status`` document (see ``StatusBuilder.status``)."""
        ...

    def point(self, status: dict[str, Any]) -> dict[str, Any]:
        """The chart sample kept from one status."""
        ...

    def names(self) -> Sequence[str]:
        """The sources shown now."""
        ...


class PreviewView(Protocol):
    def ready_after(self, source: str, seq: int) -> float | None:
        """Seconds until a JPEG newer than ``seq`` may be asked for; None when there is none yet."""
        ...

    def jpeg(self, source: str) -> Jpeg | None:
        """The newest JPEG of ``source`` (blocking: called off the event loop)."""
        ...


class MetricsView(Protocol):
    def exposition(self) -> bytes:
        """Prometheus text exposition."""
        ...
