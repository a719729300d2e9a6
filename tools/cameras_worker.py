"""``bench_cameras``' streamseg side: ``streamseg run URL...`` as the command line runs it, in its own
process, every result stamped as it comes out (the worker protocol of ``tools.cameras_peer``).

Launched as ``python -m tools.bench_cameras --streamseg-worker PREFIX --limit-s S -- RUN_ARGS...``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tools.cameras_peer import watch_stop, write_json


def streamseg_worker(prefix: Path, limit_s: float, argv: list[str]) -> int:
    """``streamseg run ARGV`` as the command line runs it, every result stamped as it comes out."""
    from streamseg import Pipeline
    from streamseg.cli import build_parser, config_from_args
    from streamseg.record import record_path_for
    from streamseg.util.allocator import limit_malloc_arenas

    limit_malloc_arenas()
    cfg = config_from_args(build_parser().parse_args(["run", *argv]))
    pipeline = Pipeline(config=cfg)
    watch_stop(prefix.with_suffix(".stop"), pipeline.stop, limit_s)
    rows: list[tuple[float, str, str, float, float]] = []
    seen: set[str] = set()
    ready = False
    for result in pipeline.results(host_masks=False):
        now = time.monotonic()
        frame = result.frame
        rows.append((now, result.source, result.inference, now - frame.capture_time, frame.pts))
        if not ready:
            seen.add(result.source)
            if len(seen) == len(cfg.sources):
                ready = True
                prefix.with_suffix(".ready").write_text(repr(now))
    snapshot = pipeline.telemetry.snapshot()
    pipeline.stop()
    pipeline.join()  # recordings finalized
    names = [s.name for s in pipeline.sources]
    record = cfg.output.record
    recordings = {n: str(record_path_for(record, n, len(names))) for n in names} if record else {}
    write_json(
        prefix.with_suffix(".json"),
        {
            "rows": rows,
            "sources": names,
            "recordings": recordings,
            "stages_ms": {k: v["p50_ms"] for k, v in snapshot.get("stages", {}).items()},
            "telemetry": snapshot,
        },
    )
    os._exit(0)  # a capture thread may still sit in a network read; everything is written
