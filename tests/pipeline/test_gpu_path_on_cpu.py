"""The whole GPU data path, run by ``Pipeline`` on CPU torch: sources decoded into device surfaces,
batched device postprocessing, the overlay drawn on the device, yuv420p handed to one encoder thread
per source. Against the CPU path on the same backend: the same instances, the same recordings (up to
box corners), the same timestamps; run eagerly, and as on CUDA (fixed shapes, graph replays emulated
over static outputs)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, OutputConfig, PipelineConfig, RenderConfig, SourceConfig
from streamseg.config.detect import DetectConfig
from streamseg.config.privacy import PrivacyArea, PrivacyConfig
from streamseg.gpu.graph_cache import GraphCache
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.yolo.device.runner import DeviceRunner
from streamseg.pipeline.live import LiveBook
from streamseg.record.fmp4 import Fragment, InitSegment
from streamseg.testing.media import synthetic_frame, write_video
from tests.conftest import FIXTURE_PT
from tests.pipeline.parity import assert_same_lines

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("gpu-path")
    out = []
    for name, (n, size) in {"a": (10, (320, 192)), "b": (7, (256, 144))}.items():
        path = folder / f"{name}.mp4"
        write_video(path, n_frames=n, size_wh=size, fps=10)
        out.append(path)
    return out


def _run(
    backend: InferenceBackend,
    clips: list[Path],
    out: Path,
    decode: str,
    privacy: PrivacyConfig | None = None,
    detect: DetectConfig | None = None,
) -> dict[str, object]:
    out.mkdir()
    cfg = Config(
        privacy=privacy or PrivacyConfig(),
        detect=detect or DetectConfig(),
        # tracked: the device path tracks as soon as the boxes are down, to colour masks by track there
        sources=tuple(SourceConfig(str(c), track="bytetrack") for c in clips),
        model=ModelConfig(path=str(FIXTURE_PT), imgsz=320, conf=0.1, batch=4),
        # crf 0: lossless, so the recordings differ only where the pictures handed over differ
        output=OutputConfig(record=str(out / "rec.mp4"), save_results=str(out / "r.jsonl"), crf=0),
        pipeline=PipelineConfig(decode=decode),
        render=RenderConfig(hud=False),  # the HUD prints each run's own live FPS and latency
    )
    pipeline = Pipeline(config=cfg, backend=backend)
    results = list(pipeline.results(host_masks=False))
    return {
        "results": results,
        # sources interleave as batches happen to form: compare frame by frame
        "lines": sorted(
            (json.loads(line) for line in (out / "r.jsonl").read_text().splitlines()),
            key=lambda line: (line["source"], line["frame"]),
        ),
        "recordings": {c.stem: _decode(out / f"rec_{c.stem}.mp4") for c in clips},
    }


def _assert_same_recordings(cpu: dict[str, Any], gpu: dict[str, Any], mean_below: float) -> None:
    """The same timestamps, and pictures equal up to ``mean_below`` on average and < 1 % of pixels off by
    more than 24 (box corners, label patch edges)."""
    for name in ("a", "b"):
        (pts_cpu, frames_cpu), (pts_gpu, frames_gpu) = cpu["recordings"][name], gpu["recordings"][name]
        assert pts_cpu == pts_gpu
        for x, y in zip(frames_cpu, frames_gpu, strict=True):
            diff = np.abs(x.astype(np.int16) - y.astype(np.int16))
            assert diff.mean() < mean_below, name
            assert (diff.max(axis=-1) > 24).mean() < 0.01, name


def _decode(path: Path) -> tuple[list[float], list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return [float(f.pts * stream.time_base) for f in frames], [
            f.to_ndarray(format="bgr24") for f in frames
        ]


def _as_on_cuda(monkeypatch: pytest.MonkeyPatch) -> list[DeviceRunner]:
    """Every device runner at fixed shapes, its graph bodies "replayed" over static outputs as CUDA
    graphs are (emulated: the outputs of each run are copied into the first run's tensors)."""
    made = DeviceRunner.__init__
    runners: list[DeviceRunner] = []

    def init(self: DeviceRunner, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self.fixed_shapes = True
        self.graphs = GraphCache.emulated()
        runners.append(self)

    monkeypatch.setattr(DeviceRunner, "__init__", init)
    return runners


@pytest.mark.parametrize("graphs", ["eager", "emulated graphs"])
def test_gpu_path_equals_the_cpu_path(
    backends: tuple[InferenceBackend, InferenceBackend],
    clips: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    graphs: str,
) -> None:
    runners = _as_on_cuda(monkeypatch) if graphs == "emulated graphs" else []
    host, device = backends
    cpu = _run(host, clips, tmp_path / "cpu", decode="cpu")
    gpu = _run(device, clips, tmp_path / "gpu", decode="gpu")
    # decoded into device surfaces, and nobody needed the pictures on the host
    assert all(r.frame.on_device for r in gpu["results"])  # type: ignore[attr-defined]
    assert len(cpu["results"]) == len(gpu["results"]) == 17  # type: ignore[arg-type]
    if graphs != "eager":  # both bodies went through the "graphs"
        assert runners and all(r.graphs.captures >= 2 for r in runners)
    # the results file: the same instances (float sums in another order may move a score in the last
    # digit or flip a mask pixel on its threshold: batches form as the threads happen to run)
    assert_same_lines(cpu["lines"], gpu["lines"])  # type: ignore[arg-type]
    # tracked on both paths alike (the device path before its overlay drew, which coloured by track:
    # the recordings below would differ in every mask's colour otherwise)
    tracked = [i["track_id"] for line in gpu["lines"] for i in line["instances"]]  # type: ignore[union-attr]
    assert sum(t is not None and t >= 0 for t in tracked) > 20
    assert sum(len(line["instances"]) for line in cpu["lines"]) > 20  # type: ignore[union-attr]
    _assert_same_recordings(cpu, gpu, mean_below=0.3)


def test_the_device_path_hides_what_the_cpu_path_hides(
    backends: tuple[InferenceBackend, InferenceBackend], clips: list[Path], tmp_path: Path
) -> None:
    """Privacy on both paths: every class of the random network hidden by its masks, and an area. The
    device path leaves drawing to the host, on the hidden frame: the same hidden pixels (up to a mask
    pixel flipped on its threshold, and box corners), and no unhidden picture from the device's overlay."""
    host, device = backends
    privacy = PrivacyConfig(
        objects=tuple(host.info.names),
        style="pixelate",
        areas=(PrivacyArea(((0.0, 0.0), (0.3, 0.0), (0.3, 0.4))),),
    )
    cpu = _run(host, clips, tmp_path / "cpu", decode="cpu", privacy=privacy)
    gpu = _run(device, clips, tmp_path / "gpu", decode="gpu", privacy=privacy)
    hidden = [i.get("hidden") for line in gpu["lines"] for i in line["instances"]]  # type: ignore[union-attr]
    assert len(hidden) > 20 and all(hidden)
    _assert_same_recordings(cpu, gpu, mean_below=0.5)


def test_the_device_path_carries_what_the_cpu_path_carries(
    backends: tuple[InferenceBackend, InferenceBackend], clips: list[Path], tmp_path: Path
) -> None:
    """A detect rate on both paths: the network sees every other frame; carried frames (device frames
    drawn on the host, from the latest result) record as on the CPU path."""
    host, device = backends
    cpu = _run(host, clips, tmp_path / "cpu", decode="cpu", detect=DetectConfig(fps=5.0))
    gpu = _run(device, clips, tmp_path / "gpu", decode="gpu", detect=DetectConfig(fps=5.0))
    kinds = [line["inference"] for line in gpu["lines"]]  # type: ignore[union-attr]
    assert kinds == [line["inference"] for line in cpu["lines"]]  # type: ignore[union-attr]
    assert kinds.count("carried") == 8 and kinds.count("inferred") == 9  # a: 5 + 5, b: 4 + 3
    assert_same_lines(cpu["lines"], gpu["lines"])  # type: ignore[arg-type]
    _assert_same_recordings(cpu, gpu, mean_below=0.5)


def test_decode_gpu_without_a_device_path_is_a_clear_error(clips: list[Path]) -> None:
    from streamseg.errors import ConfigError

    cfg = Config(sources=(SourceConfig(str(clips[0])),), model=ModelConfig(path=str(FIXTURE_PT)))
    cfg = cfg.__class__(**{**cfg.__dict__, "pipeline": PipelineConfig(decode="gpu")})
    with pytest.raises(ConfigError, match="--decode gpu: the onnxruntime backend takes frames from the host"):
        Pipeline(config=cfg).open()


def test_the_device_path_feeds_the_live_view(
    backends: tuple[InferenceBackend, InferenceBackend], clips: list[Path]
) -> None:
    """Nothing recorded, one viewer: the device draws nothing (no output needs every frame); the frames
    the viewer watches are drawn on the host for an encoder started for it; every frame reaches it."""
    _, device = backends
    cfg = Config(
        sources=(SourceConfig(str(clips[0])),),
        model=ModelConfig(path=str(FIXTURE_PT), imgsz=320, conf=0.1, batch=4),
        pipeline=PipelineConfig(decode="gpu"),
    )
    book = LiveBook()
    pipeline = Pipeline(config=cfg, backend=device, live=book).open()
    viewer = book.join("a", lambda: None)  # watching from the first frame
    assert viewer is not None
    results = list(pipeline.results(host_masks=False))
    items = viewer.take()
    init = items[0]
    fragments = [i for i in items if isinstance(i, Fragment)]
    assert isinstance(init, InitSegment) and len(fragments) == len(results) == 10
    with av.open(io.BytesIO(init.data + b"".join(f.data for f in fragments)), format="mp4") as container:
        shown = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    raw = [synthetic_frame(i, 320, 192) for i in range(10)]
    assert len(shown) == 10 and all(s.shape == (192, 320, 3) for s in shown)
    # drawn on: masks, boxes and the HUD change the picture well beyond the encoder's loss
    assert np.mean([np.abs(s.astype(int) - r).mean() for s, r in zip(shown, raw, strict=True)]) > 5
