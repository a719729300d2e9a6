"""Run-time measurements: latencies, frame rates, queue depths, memory; logging and reporting them."""

from __future__ import annotations

from streamseg.telemetry.meters import FRAME_KINDS, STAGES
from streamseg.telemetry.progress import ProgressBars
from streamseg.telemetry.reporter import TelemetryLogger
from streamseg.telemetry.snapshot import Telemetry
from streamseg.telemetry.summary import summary_table

__all__ = ["FRAME_KINDS", "STAGES", "ProgressBars", "Telemetry", "TelemetryLogger", "summary_table"]
