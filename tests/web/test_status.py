"""The ``/api/status`` document: only the sources running now, in every per-source part (issue 30,
item 12: removed sources stayed in the live video's section, and so in ``/metrics``)."""

from __future__ import annotations

import functools
import json
from typing import Any

from streamseg.telemetry import Telemetry
from streamseg.web.metrics import PipelineMetrics
from streamseg.web.preview import PreviewSink
from streamseg.web.status import RunInfo, StatusBuilder, running_only
from tests.telemetry.fakes import FakeMemory

SECTIONS: dict[str, dict[str, Any]] = {  # what the outputs report, "gone" removed a while ago
    "publish": {
        n: {"url": "rtsp://s/x", "state": "connected", "sent": 1, "dropped": 0} for n in ("a", "gone")
    },
    "clips": {"a": 1, "gone": 2},
    "disk": {"a": 10, "gone": 20},
    "live": {
        "max_viewers": 16,
        "refused": 0,
        "sources": {n: {"viewers": 0, "dropped": 0} for n in ("a", "gone")},
    },
    "scene": {
        "sources": {
            n: {"tracker": None, "track_session": "s", "zones": {}, "lines": {}} for n in ("a", "gone")
        },
        "dwell": [
            {"source": n, "zone": "z", "class": "person", "buckets": [1.0], "counts": [1, 0], "sum": 0.5}
            for n in ("a", "gone")
        ],
    },
    "degradation": {
        "level": 1,
        "strides": {"a": 1, "gone": 2},
        "skip_frame": {"a": "DEFAULT"},
        "skipped": {"gone": 3},
    },
}


def test_a_removed_source_leaves_every_per_source_part_and_series() -> None:
    telemetry = Telemetry(system=FakeMemory(), gpu_index=None)
    for queue in ("frames:a", "frames:gone", "results"):
        telemetry.register_queue(queue, lambda: 1)
    for key, section in SECTIONS.items():
        telemetry.register_section(key, functools.partial(dict, section))
    status = StatusBuilder(telemetry.snapshot, PreviewSink(), RunInfo(("a",), 4, 4.0), lambda: ["a"])
    document = status.status()
    assert "gone" not in json.dumps(document)
    assert document["disk"] == {"a": 10} and document["live"]["max_viewers"] == 16
    assert document["queues"] == {"frames:a": 1, "results": 1}
    assert document["degradation"]["level"] == 1 and document["degradation"]["strides"] == {"a": 1}
    text = PipelineMetrics(status.status, 4).exposition().decode()
    assert 'streamseg_live_viewers{source="a"}' in text and 'source="gone"' not in text


def test_sections_that_are_absent_or_odd_pass_through() -> None:
    snap: dict[str, Any] = {
        "sources": {},
        "live": None,
        "degradation": None,
        "scene": {"sources": {}},
        "publish": {},
    }
    assert running_only(snap, {"a"}) == {**snap, "scene": {"sources": {}, "dwell": []}}
