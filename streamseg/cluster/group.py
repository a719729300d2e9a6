"""``GroupWorker``: one camera group, run as a Ray actor on one node by the controller.

It is the single-machine ``Pipeline`` (kept alive while cameras come and go) plus the views its
dashboard would serve, asked for by the controller over Ray: status, Prometheus text, preview JPEGs.
Frames are decoded, segmented, drawn and recorded here and never leave the node.

Methods return a ``StreamsegError`` instead of raising it, so the caller gets the error itself and not
a Ray wrapper around a traceback. Recordings are named per start (``out_<camera>_<UTC time>.mp4``):
a group started again on another node after a failure writes new files and overwrites nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from streamseg.cluster.ray_support import node_id
from streamseg.config import Config, DashboardConfig, SourceConfig
from streamseg.errors import ClusterError, StreamsegError, UnknownSourceError
from streamseg.pipeline import Pipeline
from streamseg.pipeline.source_ends import free_record_path
from streamseg.telemetry import Telemetry
from streamseg.util.allocator import limit_malloc_arenas
from streamseg.web.dashboard import PipelineViews
from streamseg.web.preview import PreviewSink

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


def stamp() -> str:
    """UTC time for file names: sortable, no colons."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def group_config(config: Config, group: str, started: str, on_gpu: bool) -> Config:
    """The group's own config: no sources of its own (they are added), its own results file, and the
    GPU Ray gave it (always ``cuda:0`` inside the actor: Ray sets ``CUDA_VISIBLE_DEVICES``)."""
    output = config.output
    results = output.save_results
    if results:
        path = Path(results)
        results = str(
            free_record_path(path.with_name(f"{path.stem}_{group}_{started}{path.suffix or '.jsonl'}"))
        )
    model = dataclasses.replace(config.model, device="cuda:0") if on_gpu else config.model
    return dataclasses.replace(
        config,
        sources=(),
        model=model,
        output=dataclasses.replace(output, save_results=results, telemetry=None),
        dashboard=DashboardConfig(
            preview_fps=config.dashboard.preview_fps,
            preview_width=config.dashboard.preview_width,
            history_s=config.dashboard.history_s,
        ),
    )


class GroupWorker:
    """Runs one group's cameras; see the module docstring. ``start`` does the slow part (the model)."""

    def __init__(self, group: str, config: Config, cameras: list[SourceConfig], on_gpu: bool = False) -> None:
        self.group = group
        self._started = stamp()
        self._config = group_config(config, group, self._started, on_gpu)
        self._cameras = list(cameras)
        self._pipeline: Pipeline | None = None
        self._views: PipelineViews | None = None
        self._runner: threading.Thread | None = None
        self._failed: dict[str, str] = {}  # cameras that could not even be opened here, and why
        self._error: str | None = None
        self._lock = threading.Lock()

    def where(self) -> dict[str, Any]:
        """The node (Ray id, hex) and process this group runs in; answers as soon as the actor is up."""
        return {"node": node_id(), "pid": os.getpid()}

    def start(self) -> StreamsegError | None:
        """Load the model, then start every camera; a camera that cannot be opened here is reported in
        ``status`` as failed while the others run. An error means the group cannot run at all."""
        limit_malloc_arenas()  # as `streamseg run` does: groups run for days (see util/allocator.py)
        try:
            telemetry = Telemetry(gpu_index=0 if self._config.model.device != "cpu" else None)
            preview = PreviewSink()
            pipeline = Pipeline(
                config=self._config,
                telemetry=telemetry,
                sinks=[preview],
                keep_alive=True,
                record_path=self._record_path,
            ).open()
            self._views = PipelineViews.of(pipeline, preview)
            for camera in self._cameras:
                try:
                    pipeline.add_source(camera, check=False)  # a camera that is down connects later
                except StreamsegError as exc:
                    self._failed[camera.display_name()] = str(exc)
            self._pipeline = pipeline
            self._runner = threading.Thread(target=self._run, name=f"group-{self.group}", daemon=True)
            self._runner.start()
        except StreamsegError as exc:
            logger.warning("group %s cannot start: %s", self.group, exc)
            return exc
        except Exception as exc:  # one line for the controller's status, not a remote traceback
            logger.exception("group %s cannot start", self.group)
            return ClusterError(f"{type(exc).__name__}: {exc}")
        logger.info("group %s running %d cameras on node %s", self.group, len(self._cameras), node_id())
        return None

    def _run(self) -> None:
        pipeline = self._pipeline
        if pipeline is None:
            return
        try:
            pipeline.run()
        except Exception as exc:
            self._error = str(exc) or type(exc).__name__
            logger.warning("group %s stopped: %s", self.group, self._error)

    def _record_path(self, camera: str) -> Path:
        base = Path(self._config.output.record or "out.mp4")
        name = f"{base.stem}_{camera}_{stamp()}{base.suffix or '.mp4'}"
        return free_record_path(base.with_name(name))

    def status(self) -> dict[str, Any]:
        """The single-machine status document of this group, cameras that failed here, recordings."""
        views, pipeline = self._views, self._pipeline
        doc = views.status.status() if views is not None else None
        return {
            **self.where(),
            "group": self.group,
            "status": doc,
            "failed": dict(self._failed),
            "error": self._error,  # its pipeline stopped: the controller starts the group again
            "recordings": pipeline.recordings if pipeline is not None else [],
        }

    def metrics(self) -> bytes:
        views = self._views
        return views.metrics.exposition() if views is not None else b""

    def preview(self, camera: str) -> tuple[int, int, bytes] | None:
        """(sequence number, frame index, JPEG) of ``camera``'s newest frame, at most the preview rate."""
        views = self._views
        jpeg = views.previews.jpeg(camera) if views is not None else None
        return (jpeg.seq, jpeg.frame_index, jpeg.data) if jpeg is not None else None

    def add_camera(self, camera: SourceConfig) -> StreamsegError | None:
        """Start one more camera, which must answer now (an unreachable one is refused)."""
        pipeline = self._pipeline
        if pipeline is None:
            with self._lock:
                self._cameras.append(camera)
            return None
        try:
            pipeline.add_source(camera)
        except StreamsegError as exc:
            return exc
        with self._lock:
            self._cameras.append(camera)
        return None

    def remove_camera(self, name: str) -> StreamsegError | None:
        """Stop one camera; returns once its recording is finalized."""
        with self._lock:
            self._cameras = [c for c in self._cameras if c.display_name() != name]
        if self._failed.pop(name, None) is not None:
            return None
        pipeline = self._pipeline
        if pipeline is None:
            return None
        try:
            pipeline.remove_source(name)
        except UnknownSourceError:
            return None
        except StreamsegError as exc:
            return exc
        return None

    def stop(self) -> list[str]:
        """Stop every camera and finalize every recording; returns the recordings written here."""
        pipeline = self._pipeline
        if pipeline is None:
            return []
        pipeline.stop()
        if self._runner is not None:
            self._runner.join(STOP_TIMEOUT_S)
        logger.info("group %s stopped", self.group)
        return pipeline.recordings
