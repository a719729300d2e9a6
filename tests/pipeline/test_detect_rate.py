"""A detect rate through the whole pipeline, on a scene whose object's true box is known in every frame
(the model is the scene's script, at the segmenter boundary): every frame is recorded and marked, the
carried ones follow the tracker, untracked ones are held, and zone events come as at the full rate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, OutputConfig, RenderConfig, SourceConfig
from streamseg.config.detect import DetectConfig, IgnoreArea, MotionConfig
from streamseg.config.scene import ZoneConfig
from streamseg.config.sections import EventsConfig, TrackConfig
from streamseg.testing.privacy_scene import PrivacyScene, ScriptedSegmenter
from streamseg.types import SegResult

SCENE = PrivacyScene()
FRAMES = 30  # 3 s at 10 fps
RIGHT_HALF = ZoneConfig("right", ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)))


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Callable[[ScriptedSegmenter], None]:
    current: list[ScriptedSegmenter] = []

    def open_segmenter(*args: Any, **kwargs: Any) -> ScriptedSegmenter:
        return current[-1]

    monkeypatch.setattr("streamseg.pipeline.runner.open_segmenter", open_segmenter)
    return current.append


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("detect") / "scene.mp4"
    SCENE.write_video(path, FRAMES)
    return path


def _run(
    folder: Path, clip: Path, use: Callable[[ScriptedSegmenter], None], fps: float | None, track: bool
) -> tuple[list[SegResult], ScriptedSegmenter]:
    folder.mkdir(parents=True, exist_ok=True)
    segmenter = ScriptedSegmenter(SCENE)
    use(segmenter)
    cfg = Config(
        sources=(SourceConfig(str(clip), name="scene", zones=(RIGHT_HALF,) if track else ()),),
        render=RenderConfig(hud=False),
        output=OutputConfig(record=str(folder / "rec.mp4"), save_results=str(folder / "results.jsonl")),
        events=EventsConfig(file=str(folder / "events.jsonl")) if track else EventsConfig(),
        track=TrackConfig(tracker="bytetrack" if track else None),
        detect=DetectConfig(fps=fps),
    )
    return list(Pipeline(config=cfg).results()), segmenter


def _iou(a: np.ndarray, b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def test_every_frame_is_recorded_and_says_how_it_got_its_result(
    tmp_path: Path, clip: Path, scripted: Callable[[ScriptedSegmenter], None]
) -> None:
    results, segmenter = _run(tmp_path, clip, scripted, 2.5, track=False)
    assert len(results) == FRAMES and len(segmenter.seen) == 8  # 2.5 a second over 3 s (0, 0.4, ...)
    assert segmenter.seen == [i for i in range(FRAMES) if i % 4 == 0]
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [line["inference"] for line in lines] == [
        "inferred" if i % 4 == 0 else "carried" for i in range(30)
    ]
    assert all(len(line["instances"]) == 1 for line in lines)  # carried frames carry the mask
    with av.open(str(tmp_path / "rec.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES


def test_carried_frames_follow_the_tracker_and_untracked_ones_are_held(
    tmp_path: Path, clip: Path, scripted: Callable[[ScriptedSegmenter], None]
) -> None:
    tracked, _ = _run(tmp_path / "tracked", clip, scripted, 2.5, track=True)
    untracked, _ = _run(tmp_path / "untracked", clip, scripted, 2.5, track=False)
    following, holding = [], []
    latest: dict[str, SegResult] = {}
    for kind, results in (("tracked", tracked), ("untracked", untracked)):
        for result in results:
            if result.inference == "inferred":
                latest[kind] = result
                continue
            truth = SCENE.object_box(result.frame_index)
            if kind == "untracked":
                np.testing.assert_array_equal(result.xyxy, latest[kind].xyxy)  # held
            elif result.frame_index > 8:  # once the track is confirmed and its velocity known
                following.append(_iou(result.xyxy[0], truth))
                holding.append(_iou(latest[kind].xyxy[0], truth))
    assert following and np.mean(following) > np.mean(holding) + 0.1, (np.mean(following), np.mean(holding))
    assert np.mean(following) > 0.85


def test_zone_events_at_a_detect_rate_come_as_at_the_full_rate(
    tmp_path: Path, clip: Path, scripted: Callable[[ScriptedSegmenter], None]
) -> None:
    _run(tmp_path / "full", clip, scripted, None, track=True)
    _run(tmp_path / "rate", clip, scripted, 2.5, track=True)

    def entered(folder: Path) -> list[float]:
        lines = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
        return [e["pts"] for e in lines if e["type"] == "entered"]

    full, rate = entered(tmp_path / "full"), entered(tmp_path / "rate")
    assert len(full) == len(rate) == 1
    assert 0.0 <= rate[0] - full[0] <= 0.4 + 1e-6  # within one detect interval


def _still_then_walking(path: Path, still: int, walking: int) -> None:
    """The scene's background with a dark figure standing for ``still`` frames (a quiet street), then
    walking 5 px a frame (a person darker than the street: what a luminance detector sees)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SCENE.width, SCENE.height, "yuv420p"
        stream.options = {"crf": "16"}
        for i in range(still + walking):
            picture = SCENE.background.copy()
            x = 60 + 5 * max(0, i - still + 1)
            cv2.ellipse(picture, (x, 120), (18, 40), 0, 0, 360, (40, 40, 40), -1)
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.mark.parametrize("ignored", [False, True], ids=["motion", "all-ignored"])
def test_motion_first_infers_nothing_while_still_and_from_the_first_moving_frame(
    tmp_path: Path, scripted: Callable[[ScriptedSegmenter], None], ignored: bool
) -> None:
    clip = tmp_path / "still.mp4"
    _still_then_walking(clip, 15, 10)
    whole = IgnoreArea(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)))
    motion = MotionConfig(enabled=True, ignore=(whole,) if ignored else ())
    segmenter = ScriptedSegmenter(SCENE)
    scripted(segmenter)
    cfg = Config(
        sources=(SourceConfig(str(clip), name="street"),),
        output=OutputConfig(record=str(tmp_path / "rec.mp4")),
        detect=DetectConfig(motion=motion),
    )
    results = list(Pipeline(config=cfg).results())
    kinds = [r.inference for r in results]
    assert len(results) == 25 and kinds[0] == "inferred"  # no background yet: all of it is motion
    if ignored:
        assert kinds[1:] == ["still"] * 24
    else:
        assert kinds[1:15] == ["still"] * 14 and kinds[15:] == ["inferred"] * 10
    assert segmenter.seen == [i for i, k in enumerate(kinds) if k == "inferred"]
    assert all(len(r) == 1 for r in results)  # still frames keep the latest mask
    with av.open(str(tmp_path / "rec.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 25
