"""Privacy by mask, end to end: a synthetic scene (a textured object with a known mask moving over a
smooth background, and a fixed privacy area) through real pipelines with a scripted model, and every
picture that leaves read back: the recording, the event clip, the published stream (as an RTSP server
received it), the live view's fragments, the preview JPEGs, the event snapshots (frame and crop), the
saved still image. Inside the object's mask and the area nothing of the texture is left (its
high-frequency energy and its correlation with the original near zero); outside, the picture is the
original within the encoders' noise. The results file still has the masks, marked hidden.

What is not reached from a pipeline here: frames that carry an earlier result (``carried``/``still``)
and whole frames hidden after ``max_gap`` come only from the latency ladder's striding of live sources;
the privacy step's own tests cover them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import psutil
import pytest

from streamseg import Pipeline
from streamseg.config import Config, OutputConfig, RenderConfig, SourceConfig
from streamseg.config.detect import DetectConfig
from streamseg.config.privacy import PrivacyArea, PrivacyConfig
from streamseg.config.scene import ZoneConfig
from streamseg.config.sections import EventsConfig, TrackConfig
from streamseg.pipeline.live import LiveBook
from streamseg.pipeline.sinks import build_annotate
from streamseg.record.fmp4 import Fragment, InitSegment
from streamseg.record.live import LiveItem
from streamseg.render.annotate import FrameAnnotator
from streamseg.testing.privacy_scene import (
    Measures,
    PrivacyScene,
    ScriptedSegmenter,
    dilated,
    eroded,
    measure,
)
from streamseg.testing.rtsp import free_port
from streamseg.types import SegResult, UInt8Array
from streamseg.web.preview import PreviewEncoder, PreviewSink

SCENE = PrivacyScene()
FRAMES = 30  # 3 s at 10 fps
GROW = 4
EDGE = 2  # px of the mask's edge left out inside (the encoder blurs edges)
# Outside: everything GROW + a pixelation block + a few px away from the object and the area.
MARGIN = GROW + 16 + 4
HF_MAX = 0.15  # of the original's high-frequency energy, inside
CORR_MAX = 0.3  # |correlation| with the original, inside
LEAK_MAX = 0.02  # share of the pixels inside where the texture is left (a part left unhidden)
VIDEO_NOISE = 3.0  # mean |difference| outside, H.264 re-encoded (grey levels)
JPEG_NOISE = 3.0  # the same through a JPEG
DROPPED = (12, 13, 14)  # frames the model misses the object in (the fail-closed run)
MIN_PIXELS = 50  # an object with fewer pixels inside (at the picture's edge) is not judged
NO_DRAWING = RenderConfig(masks=False, boxes=False, labels=False, hud=False)
# The object enters it halfway through the run: an event the encoder has frames before (for its clip).
RIGHT_HALF = ZoneConfig("right", ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)))


# ------------------------------------------------------------------------------------------ checking
@dataclass
class Report:
    """Each output's worst figures, shown at the end of the module (``-v``) for the record."""

    worst: dict[str, Measures] = field(default_factory=dict)

    def add(self, output: str, m: Measures) -> None:
        w = self.worst.get(output)
        if w is None:
            self.worst[output] = m
            return
        self.worst[output] = Measures(
            max(w.hf_ratio, m.hf_ratio),
            max(w.correlation, m.correlation, key=abs),
            max(w.leak, m.leak),
            max(w.outside_diff, m.outside_diff),
        )


REPORT = Report()


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    """With ``-v``, each output's worst figures are shown once the module is done."""
    yield REPORT
    plugins = request.config.pluginmanager
    terminal, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if terminal is None or capture is None or request.config.get_verbosity() < 1:
        return
    with capture.global_and_fixture_disabled():
        terminal.write_line("\nprivacy, the worst figures per output:")
        for name, m in sorted(REPORT.worst.items()):
            terminal.write_line(f"  {name:36s} {m}")


def _regions(
    index: int, scale: float = 1.0, drawn: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inside the object, inside the area, outside both) of scene frame ``index`` in a picture
    ``scale`` times the scene's size, without what was ``drawn`` over it."""
    obj, area = SCENE.object_mask(index), SCENE.area_mask()
    outside = ~dilated(obj | area, MARGIN)
    if scale != 1.0:
        size = (round(SCENE.width * scale), round(SCENE.height * scale))
        obj, area, outside = (
            cv2.resize(m.view(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
            for m in (obj, area, outside)
        )
    regions = eroded(obj, EDGE), eroded(area, EDGE), outside
    if drawn is None:
        return regions
    return regions[0] & ~drawn, regions[1] & ~drawn, regions[2] & ~drawn


def check_hidden(
    output: str,
    picture: UInt8Array,
    original: UInt8Array,
    index: int,
    noise: float,
    *,
    area: bool = True,
    scale: float = 1.0,
    drawn: np.ndarray | None = None,
) -> None:
    """Inside the object's mask (and the area) of frame ``index`` nothing of ``original`` is left;
    outside (but for what was ``drawn``: a zone's outline and tag), ``picture`` is ``original`` within
    ``noise``."""
    assert picture.shape == original.shape, f"{output}: frame {index}: {picture.shape} != {original.shape}"
    inside_obj, inside_area, outside = _regions(index, scale, drawn)
    regions = [("object", inside_obj)] + ([("area", inside_area)] if area else [])
    for name, inside in regions:
        if inside.sum() < MIN_PIXELS:
            continue  # the object is out of the picture
        m = measure(picture, original, inside, outside)
        REPORT.add(f"{output} {name}", m)
        assert m.hf_ratio < HF_MAX, f"{output}: frame {index}: the {name}'s texture is left ({m})"
        assert abs(m.correlation) < CORR_MAX, f"{output}: frame {index}: the {name} shows through ({m})"
        assert m.leak < LEAK_MAX, f"{output}: frame {index}: part of the {name} is left ({m})"
        assert m.outside_diff < noise, f"{output}: frame {index}: pixels outside changed ({m})"


def decode(source: str | Path | io.BytesIO, fmt: str | None = None) -> list[tuple[float, UInt8Array]]:
    """(pts seconds, BGR) of every frame of a video file or stream."""
    with av.open(source, format=fmt) as container:
        return [(float(f.time or 0.0), f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]


def aligned(frames: list[UInt8Array], recording: list[UInt8Array], output: str) -> int:
    """The recording's index of ``frames[0]``: outputs cut from the run's one encode (clips, the
    published stream) decode to exactly the recording's pictures, from a keyframe on."""
    starts = [k for k, r in enumerate(recording) if np.array_equal(r, frames[0])]
    assert starts, f"{output}: its first picture is none of the recording's"
    k0 = starts[0]
    for j, picture in enumerate(frames):
        assert k0 + j < len(recording) and np.array_equal(picture, recording[k0 + j]), f"{output}: frame {j}"
    return k0


# ------------------------------------------------------------------------------------------ running
@pytest.fixture(scope="module")
def monkeymodule() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def scripted(monkeymodule: pytest.MonkeyPatch) -> Callable[[ScriptedSegmenter], None]:
    """``use(segmenter)``: the pipelines opened next segment with it instead of loading a model."""
    current: list[ScriptedSegmenter] = []

    def open_segmenter(*args: Any, **kwargs: Any) -> ScriptedSegmenter:
        return current[-1]

    monkeymodule.setattr("streamseg.pipeline.runner.open_segmenter", open_segmenter)
    return current.append


def privacy(style: str, *, fractions: bool = False) -> PrivacyConfig:
    """People hidden by their masks, and the scene's area (in pixels, or in fractions of the frame)."""
    polygon = SCENE.area_polygon()
    if fractions:
        polygon = tuple((x / SCENE.width, y / SCENE.height) for x, y in polygon)
    return PrivacyConfig(
        objects=("person",), style=style, grow=GROW, max_gap=1.0, areas=(PrivacyArea(polygon),)
    )


class Receiver:
    """``ffmpeg -rtsp_flags listen``: an RTSP server for one publishing session, saved to ``path``."""

    def __init__(self, port: int, path: Path) -> None:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            pytest.fail("ffmpeg is not installed (apt-get install ffmpeg)")
        self.path = path
        url = f"rtsp://127.0.0.1:{port}/live"
        self.proc = subprocess.Popen(
            [ffmpeg, "-loglevel", "error", "-rtsp_flags", "listen", "-i", url,
             "-c", "copy", "-flush_packets", "1", "-y", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self._listening(port):  # asking over RTSP would spend its one session
            assert time.monotonic() < deadline and self.proc.poll() is None, "the receiver did not listen"
            time.sleep(0.05)

    def _listening(self, port: int) -> bool:
        try:
            conns = psutil.Process(self.proc.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr[1] == port for c in conns)

    def finish(self, timeout: float = 10.0) -> None:
        """The session ended (the publisher closed): ffmpeg finishes its file; killed if it does not."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def wait_until_published(pipeline: Pipeline, timeout: float = 20.0) -> None:
    """Until the source's publisher is connected (the encoder's first packets come some frames after
    the first frame: its lookahead). What was encoded before waits in the publisher's queue; what is
    still queued when the source ends is not sent. So the stream is read back from its start."""
    deadline = time.monotonic() + timeout
    while pipeline.telemetry.snapshot()["publish"]["scene"]["state"] != "connected":
        assert time.monotonic() < deadline, "the publisher did not connect"
        time.sleep(0.02)


@dataclass
class Run:
    """What one pipeline run left behind."""

    folder: Path
    clip: Path
    inputs: list[UInt8Array]  # the source's frames as decoded (what the pipeline saw)
    results: list[SegResult]
    previews: dict[int, UInt8Array]  # frame index -> preview JPEG, decoded
    drawn: dict[int, np.ndarray]  # frame index -> what the zone's drawing covers (and 2 px around)
    live: list[LiveItem] = field(default_factory=list)
    published: Path | None = None

    def check(self, output: str, picture: UInt8Array, index: int, noise: float) -> None:
        """``check_hidden`` against the frame the pipeline read, its drawing left out."""
        check_hidden(output, picture, self.inputs[index], index, noise, drawn=self.drawn.get(index))

    def recording(self) -> list[tuple[float, UInt8Array]]:
        return decode(self.folder / "rec.mp4")

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.folder / "results.jsonl").read_text().splitlines()]

    def events(self) -> list[dict[str, Any]]:
        path = self.folder / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_video(
    folder: Path,
    style: str,
    *,
    frames: int = FRAMES,
    use: Callable[[ScriptedSegmenter], None],
    segmenter: ScriptedSegmenter,
    track: bool = True,
    everything: bool = False,
    fractions: bool = False,
    detect: DetectConfig | None = None,
) -> Run:
    """The scene's clip through a pipeline: recorded, results saved, previewed; with ``everything``
    also clips, snapshots, events, published to an RTSP server and watched live."""
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "scene.mp4"
    SCENE.write_video(clip, frames)
    inputs = [picture for _, picture in decode(clip)]
    source = SourceConfig(
        str(clip),
        name="scene",
        zones=(RIGHT_HALF,) if everything else (),
        track="bytetrack" if track else "off",
    )
    output = OutputConfig(record=str(folder / "rec.mp4"), save_results=str(folder / "results.jsonl"), crf=18)
    events = EventsConfig()
    receiver = None
    book = None
    if everything:
        port = free_port()
        receiver = Receiver(port, folder / "published.ts")
        output = dataclasses.replace(
            output, clips=str(folder / "clips"), publish=f"rtsp://127.0.0.1:{port}/live"
        )
        events = EventsConfig(file=str(folder / "events.jsonl"), snapshots=str(folder / "snaps"))
        book = LiveBook(max_viewers=1)
    cfg = Config(
        sources=(source,),
        render=NO_DRAWING,
        output=output,
        events=events,
        track=TrackConfig(tracker="bytetrack" if track else None),
        privacy=privacy(style, fractions=fractions),
        detect=detect or DetectConfig(),
    )
    use(segmenter)
    preview = PreviewSink()
    pipeline = Pipeline(config=cfg, sinks=[preview], live=book)
    encoder = PreviewEncoder(preview, build_annotate(pipeline.config, pipeline.telemetry), max_fps=1e6)
    previews: dict[int, UInt8Array] = {}
    drawn: dict[int, np.ndarray] = {}
    annotator = FrameAnnotator(NO_DRAWING, copy=True)  # what the render step draws: zones, here
    results: list[SegResult] = []
    viewer = None
    try:
        pipeline.open()
        if book is not None:
            viewer = book.join("scene", lambda: None)
            assert viewer is not None
        for result in pipeline.results():
            if receiver is not None and len(results) == frames // 2:  # the run waits meanwhile
                wait_until_published(pipeline)
            results.append(result)
            overlay = np.any(annotator.annotate(result, None, None) != result.frame.image, axis=2)
            drawn[result.frame_index] = dilated(overlay, 2)
            jpeg = encoder.jpeg("scene")
            if jpeg is not None and jpeg.frame_index not in previews:
                previews[jpeg.frame_index] = cv2.imdecode(
                    np.frombuffer(jpeg.data, np.uint8), cv2.IMREAD_COLOR
                )
    finally:
        if receiver is not None:
            receiver.finish()
    assert segmenter.closed
    run = Run(folder, clip, inputs, results, previews, drawn)
    if viewer is not None:
        run.live = viewer.take()
    if receiver is not None:
        run.published = receiver.path
    return run


@pytest.fixture(scope="module")
def pixelated(tmp_path_factory: pytest.TempPathFactory, scripted: Callable[[ScriptedSegmenter], None]) -> Run:
    """The main run: pixelated, and every output of a video source."""
    folder = tmp_path_factory.mktemp("pixelate")
    return run_video(folder, "pixelate", use=scripted, segmenter=ScriptedSegmenter(SCENE), everything=True)


# --------------------------------------------------------------------------------------------- tests
def test_the_recording_hides_the_object_and_the_area(pixelated: Run) -> None:
    recorded = pixelated.recording()
    assert len(recorded) == FRAMES
    for pts, picture in recorded:
        i = SCENE.index_at(pts)
        pixelated.check("recording", picture, i, VIDEO_NOISE)


def test_results_hand_out_the_hidden_frame_and_keep_the_masks(pixelated: Run) -> None:
    assert [r.frame_index for r in pixelated.results] == list(range(FRAMES))
    for result in pixelated.results:
        i = result.frame_index
        assert result.privacy is not None and result.privacy.hidden.tolist() == [True]
        assert not result.privacy.full_frame
        check_hidden("results()", result.frame.image, pixelated.inputs[i], i, 0.5)  # no encoder: exact
    lines = pixelated.lines()
    assert [line["frame"] for line in lines] == list(range(FRAMES))
    for line in lines:
        (instance,) = line["instances"]
        assert instance["hidden"] is True and instance["class_name"] == "person"
        assert instance["mask"]["counts"] and instance["xyxy"] == list(SCENE.object_box(line["frame"]))
        assert line["privacy"] == {"ghosts": 0, "full_frame": False}


def test_the_event_clip_hides_them(pixelated: Run) -> None:
    clips = sorted((pixelated.folder / "clips").rglob("*.mp4"))
    named = {Path(e["clip"]) for e in pixelated.events() if "clip" in e}
    assert named and named <= set(clips)  # the zone's "entered", at least
    recording = [p for _, p in pixelated.recording()]
    for clip in clips:
        frames = [p for _, p in decode(clip)]
        assert len(frames) >= 10, clip.name
        k0 = aligned(frames, recording, f"clip {clip.name}")
        for j, picture in enumerate(frames):
            pixelated.check("clip", picture, k0 + j, VIDEO_NOISE)


def test_the_published_stream_hides_them(pixelated: Run) -> None:
    assert pixelated.published is not None and pixelated.published.is_file()
    frames = [p for _, p in decode(pixelated.published)]
    assert len(frames) >= 10, len(frames)  # what was sent before the source ended
    k0 = aligned(frames, [p for _, p in pixelated.recording()], "published")
    for j, picture in enumerate(frames):
        pixelated.check("published", picture, k0 + j, VIDEO_NOISE)


def test_the_live_view_hides_them(pixelated: Run) -> None:
    items = pixelated.live
    init = [i for i in items if isinstance(i, InitSegment)]
    fragments = [i for i in items if isinstance(i, Fragment)]
    assert init and len(fragments) >= 10
    data = init[0].data + b"".join(f.data for f in fragments)
    decoded = decode(io.BytesIO(data), "mp4")
    assert len(decoded) == len(fragments)
    for pts, picture in decoded:
        i = SCENE.index_at(pts)
        pixelated.check("live", picture, i, VIDEO_NOISE)


def test_the_preview_hides_them(pixelated: Run) -> None:
    assert len(pixelated.previews) >= 3
    for i, picture in pixelated.previews.items():
        pixelated.check("preview", picture, i, JPEG_NOISE + 1)  # quality 70


def test_snapshots_hide_them_in_the_frame_and_the_crop(pixelated: Run) -> None:
    events = pixelated.events()
    framed = [e for e in events if "snapshot" in e]
    cropped = [e for e in events if "snapshot_crop" in e]
    assert framed and cropped, [e["type"] for e in events]
    for event in framed:
        i = SCENE.index_at(float(event["pts"]))
        picture = cv2.imread(event["snapshot"])
        assert picture is not None, event["snapshot"]
        pixelated.check("snapshot", picture, i, JPEG_NOISE)
    # a crop is the track's best-scoring picture so far: all score the same, so its first one
    first_seen: dict[int, int] = {}
    for line in pixelated.lines():
        for instance in line["instances"]:
            if instance["track_id"] is not None:
                first_seen.setdefault(int(instance["track_id"]), int(line["frame"]))
    for event in cropped:
        i = first_seen[int(event["track_id"])]
        crop = cv2.imread(event["snapshot_crop"])
        assert crop is not None, event["snapshot_crop"]
        x0, y0, x1, y1 = (round(v) for v in SCENE.object_box(i))
        assert crop.shape[:2] == (y1 - y0, x1 - x0)
        inside = eroded(SCENE.object_mask(i), EDGE)[y0:y1, x0:x1]
        outside = ~dilated(SCENE.object_mask(i), MARGIN)[y0:y1, x0:x1]  # none: the crop is the object
        m = measure(crop, pixelated.inputs[i][y0:y1, x0:x1], inside, outside)
        REPORT.add("snapshot crop object", m)
        assert m.hf_ratio < HF_MAX and abs(m.correlation) < CORR_MAX, f"crop of frame {i}: {m}"
        assert m.leak < LEAK_MAX, f"crop of frame {i}: {m}"


def test_a_blurred_run_hides_them_too(tmp_path: Path, scripted: Callable[[ScriptedSegmenter], None]) -> None:
    """Blurred, untracked, the area given in fractions of the frame: the recording and the preview
    (drawn from the recording's picture)."""
    segmenter = ScriptedSegmenter(SCENE)
    run = run_video(
        tmp_path, "blur", frames=12, use=scripted, segmenter=segmenter, track=False, fractions=True
    )
    recorded = run.recording()
    assert len(recorded) == 12
    for pts, picture in recorded:
        i = SCENE.index_at(pts)
        run.check("blur recording", picture, i, VIDEO_NOISE)
    assert run.previews
    for i, picture in run.previews.items():
        run.check("blur preview", picture, i, JPEG_NOISE + 1)


@pytest.mark.parametrize("track", [True, False], ids=["tracked", "untracked"])
def test_an_object_the_model_misses_stays_hidden(
    tmp_path: Path, scripted: Callable[[ScriptedSegmenter], None], track: bool
) -> None:
    """Fail-closed: the model misses a person walking (5 px a frame) on 3 frames in a row; the
    recording shows no trace of them there. Tracked, they are hidden where their track's motion puts
    them; untracked, where they were last seen, grown by the uncertainty."""
    segmenter = ScriptedSegmenter(SCENE, drop=DROPPED)
    run = run_video(tmp_path, "pixelate", frames=20, use=scripted, segmenter=segmenter, track=track)
    missed = [r for r in run.results if r.frame_index in DROPPED]
    assert [len(r) for r in missed] == [0, 0, 0]
    assert all(r.privacy is not None and r.privacy.ghosts == 1 for r in missed)
    recorded = run.recording()
    assert len(recorded) == 20
    for pts, picture in recorded:
        i = SCENE.index_at(pts)
        # outside: the ghost is grown by its uncertainty, so only the object's own pixels are judged
        inside_obj, _, _ = _regions(i)
        outside = ~dilated(SCENE.object_mask(i) | SCENE.area_mask(), 2 * MARGIN)
        m = measure(picture, run.inputs[i], inside_obj, outside)
        kind = "tracked" if track else "untracked"
        REPORT.add(f"{kind}, missed: recording object" if i in DROPPED else f"{kind}: recording object", m)
        assert m.hf_ratio < HF_MAX and abs(m.correlation) < CORR_MAX, f"frame {i}: the object shows ({m})"
        assert m.leak < LEAK_MAX, f"frame {i}: part of the object shows ({m})"
        assert m.outside_diff < VIDEO_NOISE, f"frame {i}: pixels outside changed ({m})"


@pytest.mark.parametrize("track", [True, False], ids=["tracked", "untracked"])
def test_frames_the_network_does_not_see_are_hidden_with_the_latest_masks(
    tmp_path: Path, scripted: Callable[[ScriptedSegmenter], None], track: bool
) -> None:
    """Fail-closed with a detect rate (the network sees 2.5 of the 10 frames a second): every frame is
    recorded, the frames between detections carry the latest masks (moved by the track's motion, or
    held untracked, grown by the uncertainty), and none of them shows the walking object."""
    segmenter = ScriptedSegmenter(SCENE)
    run = run_video(
        tmp_path, "pixelate", frames=20, use=scripted, segmenter=segmenter, track=track,
        detect=DetectConfig(fps=2.5),
    )  # fmt: skip
    kinds = [r.inference for r in run.results]
    assert kinds.count("inferred") == 5 and kinds.count("carried") == 15, kinds
    assert len(segmenter.seen) == 5  # the network saw only the inferred frames
    recorded = run.recording()
    assert len(recorded) == 20
    carried = {r.frame_index for r in run.results if r.inference == "carried"}
    for pts, picture in recorded:
        i = SCENE.index_at(pts)
        inside_obj, _, _ = _regions(i)
        outside = ~dilated(SCENE.object_mask(i) | SCENE.area_mask(), 4 * MARGIN)
        m = measure(picture, run.inputs[i], inside_obj, outside)
        kind = "tracked" if track else "untracked"
        REPORT.add(f"{kind}, detect 2.5: {'carried' if i in carried else 'inferred'} object", m)
        assert m.hf_ratio < HF_MAX and abs(m.correlation) < CORR_MAX, f"frame {i}: the object shows ({m})"
        assert m.leak < LEAK_MAX, f"frame {i}: part of the object shows ({m})"
        assert m.outside_diff < VIDEO_NOISE, f"frame {i}: pixels outside changed ({m})"


def test_a_saved_still_image_hides_them(
    tmp_path: Path, scripted: Callable[[ScriptedSegmenter], None]
) -> None:
    """``--save-images``: the still's copy (PNG: lossless) and its preview (drawn small on the
    dashboard's side, no recording having drawn it)."""
    still = tmp_path / "still.png"
    index = 9
    SCENE.write_still(still, index)
    out = tmp_path / "saved"
    cfg = Config(
        sources=(SourceConfig(str(still)),),
        render=NO_DRAWING,
        output=OutputConfig(save_images=str(out), save_results=str(tmp_path / "results.jsonl")),
        privacy=privacy("pixelate"),
    )
    scripted(ScriptedSegmenter(SCENE, stills={"still.png": index}))
    preview = PreviewSink()
    pipeline = Pipeline(config=cfg, sinks=[preview])
    half = SCENE.width // 2
    encoder = PreviewEncoder(preview, build_annotate(pipeline.config, pipeline.telemetry), max_width=half)
    (result,) = list(pipeline.results())
    original = SCENE.frame(index)
    saved = cv2.imread(str(out / "still.png"))
    assert saved is not None
    check_hidden("saved image", saved, original, index, 0.5)
    jpeg = encoder.jpeg(result.source)
    assert jpeg is not None
    small = cv2.imdecode(np.frombuffer(jpeg.data, np.uint8), cv2.IMREAD_COLOR)
    size = (half, SCENE.height * half // SCENE.width)
    check_hidden(
        "still preview",
        small,
        np.asarray(cv2.resize(original, size, interpolation=cv2.INTER_AREA)),
        index,
        JPEG_NOISE + 1,
        scale=0.5,
    )
    (line,) = [json.loads(s) for s in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert line["source"] == "still.png" and line["instances"][0]["hidden"] is True
