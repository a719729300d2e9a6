"""Tracks, zones, lines and events in a whole run: on the CPU path and on the GPU path (run on CPU
torch), which must agree event for event; every sink of a run gets the same events."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, PipelineConfig, SourceConfig, source_from
from streamseg.config.sections import EventsConfig, OutputConfig
from streamseg.inference.runtimes import InferenceBackend
from tests.conftest import FIXTURE_PT, VIDEOS, require_asset
from tests.pipeline.parity import assert_same_lines

pytestmark = pytest.mark.slow

FRAMES = 24


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first frames of a real street (people walking through the zone and over the line)."""
    clip = tmp_path_factory.mktemp("scene") / "street.mp4"
    source = require_asset(VIDEOS / "street_pedestrians_720p30.mp4")
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(source),
            "-frames:v",
            str(FRAMES),
            "-c:v",
            "libx264",
            str(clip),
        ],
        check=True,
    )
    return clip


def _source(clip: Path) -> SourceConfig:
    return source_from(
        {
            "uri": str(clip),
            "name": "street",
            "zones": [
                {"name": "left", "polygon": [[0, 0.3], [0.5, 0.3], [0.5, 1], [0, 1]], "classes": ["person"]},
                {
                    "name": "door",
                    "polygon": [[700, 0], [1280, 0], [1280, 720], [700, 720]],
                    "anchor": "bottom-center",
                },
            ],
            "lines": [{"name": "gate", "points": [[640, 0], [640, 720]]}],
        }
    )


def _run(backend: InferenceBackend, clip: Path, out: Path, decode: str) -> dict[str, Any]:
    out.mkdir()
    called: list[Mapping[str, Any]] = []
    done = threading.Event()
    cfg = Config(
        sources=(_source(clip),),
        model=ModelConfig(path=str(FIXTURE_PT), imgsz=320, batch=4),
        pipeline=PipelineConfig(decode=decode),
        output=OutputConfig(save_results=str(out / "results.jsonl")),
        events=EventsConfig(file=str(out / "events.jsonl"), snapshots=str(out / "snaps")),
    )

    def on_event(event: Mapping[str, Any]) -> None:
        called.append(event)
        if event["type"] == "left":
            done.set()

    pipeline = Pipeline(config=cfg, backend=backend, on_event=on_event)
    results = list(pipeline.results())
    done.wait(5)
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    return {"results": results, "lines": lines, "events": events, "called": called}


def _essence(events: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("type", "track_id", "class_name", "zone", "line", "direction", "pts")
    return [tuple(e.get(k) for k in keys) for e in events]


def test_tracks_zones_and_events_agree_on_both_paths(
    backends: tuple[InferenceBackend, InferenceBackend], street: Path, tmp_path: Path
) -> None:
    host, device = backends
    cpu = _run(host, street, tmp_path / "cpu", decode="cpu")
    gpu = _run(device, street, tmp_path / "gpu", decode="gpu")
    assert len(cpu["results"]) == len(gpu["results"]) == FRAMES

    events = cpu["events"]
    kinds = {e["type"] for e in events}
    assert {"appeared", "entered", "exited", "crossed", "left"} <= kinds, kinds
    # the same run, seen by every sink: the events file, the results, on_event (same order)
    riding = [e for r in cpu["results"] for e in r.events]
    assert _essence(events)[: len(riding)] == _essence(riding)
    assert _essence(cpu["called"]) == _essence(events)
    # the source's end: every track that appeared leaves, after its last exit
    appeared = [e["track_id"] for e in events if e["type"] == "appeared"]
    left = [e["track_id"] for e in events if e["type"] == "left"]
    assert sorted(appeared) == sorted(left) and len(set(appeared)) == len(appeared)
    # track ids in the results, the results file and the events agree
    for result, line in zip(cpu["results"], cpu["lines"], strict=True):
        assert [i["track_id"] for i in line["instances"]] == [
            int(t) if t >= 0 else None for t in result.track_id
        ]
    assert set(appeared) <= {int(t) for r in cpu["results"] for t in r.track_id if t >= 0}
    # snapshots: named in the events, written
    ended = {e["track_id"] for e in events if e["type"] == "left" and e["pts"] == events[-1]["pts"]}
    framed = [e for e in events if not (e["type"] in ("left", "exited") and e["track_id"] in ended)]
    named = [Path(e["snapshot"]) for e in framed]  # all but the source's end have the frame
    assert all(p.is_file() and p.stat().st_size > 1000 for p in named)
    assert len({p.name for p in named}) < len(named)  # events of one frame share its file
    crops = [Path(e["snapshot_crop"]) for e in events if "snapshot_crop" in e]
    assert len(crops) > len(events) // 2 and all(p.is_file() for p in crops)

    # the GPU path (masks made on the device, zones judged from them): the same events
    assert _essence(gpu["events"]) == _essence(events)
    assert_same_lines(cpu["lines"], gpu["lines"])


def test_sources_added_while_running_bring_their_zones(
    backends: tuple[InferenceBackend, InferenceBackend], street: Path, tmp_path: Path
) -> None:
    host, _ = backends
    cfg = Config(
        model=ModelConfig(path=str(FIXTURE_PT), imgsz=320),
        events=EventsConfig(file=str(tmp_path / "e.jsonl")),
    )
    pipeline = Pipeline(config=cfg, backend=host, keep_alive=True)
    seen: list[Any] = []
    with pipeline:
        pipeline.start()
        pipeline.add_source(_source(street))
        for result in pipeline.results():
            seen.append(result)
            if len(seen) == FRAMES:
                pipeline.stop()
    assert any(e["type"] == "entered" and e["zone"] == "left" for r in seen for e in r.events)
    assert seen[-1].scene is not None and [z.name for z in seen[-1].scene.zones] == ["left", "door"]
