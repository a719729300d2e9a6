"""``streamseg run``: the pipeline with a progress bar, signals, telemetry file and summary table."""

from __future__ import annotations

import logging
import signal
import sys
from typing import TYPE_CHECKING

from streamseg.cli.signals import StopOnSignal
from streamseg.config import Config
from streamseg.pipeline import Pipeline
from streamseg.pipeline.selfcheck import SelfCheckReport
from streamseg.telemetry import ProgressBars, Telemetry, TelemetryLogger, summary_table
from streamseg.util.allocator import limit_malloc_arenas

if TYPE_CHECKING:
    from streamseg.web import Dashboard

logger = logging.getLogger("streamseg")


def run_pipeline(cfg: Config, quiet: bool = False) -> int:
    limit_malloc_arenas()  # less RSS creep over hours of streaming (see streamseg/util/allocator.py)
    gpu_index = None if cfg.model.device == "cpu" else int(cfg.model.device.partition(":")[2] or 0)
    telemetry = Telemetry(gpu_index=gpu_index)
    dashboard = _dashboard(cfg, telemetry)  # checks address and token before the model loads
    pipeline = Pipeline(
        config=cfg,
        telemetry=telemetry,
        sinks=dashboard.sinks if dashboard else (),
        live=dashboard.live if dashboard else None,
    )
    with StopOnSignal(pipeline.stop) as signals:
        pipeline.open()
        _print_selfcheck(pipeline)
        if dashboard is not None:
            try:
                dashboard.start(pipeline)
            except BaseException:
                pipeline.join()  # not started: closes sources and model
                raise
            print(f"streamseg: dashboard at {dashboard.url}", file=sys.stderr, flush=True)
        if not cfg.sources:
            print(
                f"streamseg: no source given, running the demo clip {pipeline.sources[0].uri}",
                file=sys.stderr,
            )
        telemetry_file = (
            TelemetryLogger(telemetry, cfg.output.telemetry).start() if cfg.output.telemetry else None
        )
        final = None
        try:
            with ProgressBars({s.name: s.frame_count for s in pipeline.sources}, quiet=quiet) as bars:
                for result in pipeline.results(host_masks=False):  # the CLI reads boxes only
                    bars.update(result.source)
        finally:
            if dashboard is not None:
                dashboard.stop()
            final = telemetry_file.stop() if telemetry_file is not None else telemetry.snapshot()
            telemetry.close()
            if not quiet:
                print(summary_table(final), file=sys.stderr)
    for path in _recordings(cfg, pipeline):
        print(f"streamseg: recorded {path}", file=sys.stderr)
    if signals.received is not None:
        name = signal.Signals(signals.received).name
        print(f"streamseg: stopped by {name}; outputs finalized", file=sys.stderr)
        return signals.exit_code
    return 0


def _print_selfcheck(pipeline: Pipeline) -> None:
    """The GPU self-check's one line (``Pipeline.open`` ran it when the model is on CUDA): where decode,
    postprocess, overlay, graphs and the encoder run, and why anything is off."""
    report = getattr(pipeline, "selfcheck", None)  # set by Pipeline.open on a GPU
    if isinstance(report, SelfCheckReport) and report.line:
        print(f"streamseg: {report.line}", file=sys.stderr, flush=True)


def _dashboard(cfg: Config, telemetry: Telemetry) -> Dashboard | None:
    if cfg.dashboard.listen is None:
        return None
    from streamseg.web import Dashboard  # noqa: PLC0415 - aiohttp and prometheus_client only when asked

    return Dashboard(cfg, telemetry)


def _recordings(cfg: Config, pipeline: Pipeline) -> list[str]:
    if not cfg.output.record:
        return []
    from streamseg.record import record_path_for  # noqa: PLC0415

    names = [s.name for s in pipeline.sources]
    paths = [record_path_for(cfg.output.record, n, len(names)) for n in names]
    if cfg.output.segment:  # --segment: out_000.mp4, out_001.mp4 ...
        return [str(p.with_name(f"{p.stem}_*{p.suffix or '.mp4'}")) for p in paths]
    return [str(p) for p in paths]
