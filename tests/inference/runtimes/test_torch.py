"""PyTorch backend on the CPU: loads the .pt without torchvision, matches ONNX Runtime and Ultralytics.

FP16 on CUDA is checked by ``tests/gpu`` (opt-in) with looser tolerances: scores within 2e-2, box IoU
>= 0.95, mask IoU >= 0.9, and at most 5 % of instances near the threshold may appear on one side only.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from streamseg.errors import ConfigError, ModelError
from streamseg.inference.runtimes import create_backend
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.types import Frame, SegResult
from tests import ultralytics_reference as ref
from tests.conftest import FIXTURE_PT, REPO, require_asset
from tests.inference.yolo.test_parity import assert_matches, frames_for_parity


def _frames() -> list[Frame]:
    return [Frame(name, i, 0.0, time.monotonic(), img) for i, (name, img) in enumerate(frames_for_parity())]


def test_loading_pt_does_not_import_torchvision() -> None:
    """torchvision is broken next to the CPU torch; our runtime must never import it."""
    code = (
        "import sys; from pathlib import Path\n"
        "from streamseg.inference.runtimes import create_backend\n"
        f"b = create_backend('torch', Path({str(require_asset(FIXTURE_PT))!r}), 'cpu')\n"
        "import numpy as np; b.infer(np.zeros((1, 3, 64, 96), np.float32))\n"
        "assert 'torchvision' not in sys.modules, 'torchvision was imported'\n"
        "print('ok', len(b.info.names))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok 80")


@pytest.mark.parametrize("conf", [0.25, 0.1])
def test_torch_cpu_matches_ultralytics_reference(conf: float) -> None:
    """The parity test of issue 2, with the torch backend's own outputs as the reference's input."""
    backend = create_backend("torch", require_asset(FIXTURE_PT), "cpu")
    engine = SegmentationEngine(backend, 640, Thresholds(conf, 0.7, 300))
    frames = _frames()
    total = 0
    for frame, result in zip(frames, engine.run(frames), strict=True):
        x = ref.letterbox(frame.image, 640)
        head, protos = backend.infer(x)
        theirs = ref.postprocess(
            head, protos, x.shape[2:], frame.image.shape[:2], backend.info.num_classes, conf, 0.7, 300
        )
        assert len(result) == len(theirs.class_id), frame.source
        assert_matches(result, theirs)
        total += len(result)
    assert total > 50


def test_torch_cpu_matches_onnxruntime(trained_seg_onnx: Path) -> None:
    """Same weights, two runtimes: raw outputs within float32 noise, instances matched one to one."""
    torch_b = create_backend("torch", require_asset(FIXTURE_PT), "cpu")
    ort_b = create_backend("onnxruntime", trained_seg_onnx, "cpu")
    assert torch_b.info.names == ort_b.info.names
    assert (torch_b.info.stride, torch_b.info.num_masks) == (ort_b.info.stride, ort_b.info.num_masks)
    frames = _frames()
    x = ref.letterbox(frames[0].image, 640)
    (h1, p1), (h2, p2) = torch_b.infer(x), ort_b.infer(x)
    np.testing.assert_allclose(h1, h2, atol=2e-2, rtol=1e-3)  # box coords in pixels, scores in 0..1
    np.testing.assert_allclose(p1, p2, atol=2e-3, rtol=1e-3)
    thresholds = Thresholds(0.25, 0.7, 300)
    ours = SegmentationEngine(torch_b, 640, thresholds).run(frames)
    theirs = SegmentationEngine(ort_b, 640, thresholds).run(frames)
    for a, b in zip(ours, theirs, strict=True):
        reference = ref.Reference(b.xyxy, b.class_id, b.score, b.masks.dense())
        assert len(a) == len(b), a.source
        assert_matches(a, reference)


def test_torch_backend_rejects_other_formats(trained_seg_onnx: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.pt"):
        create_backend("torch", trained_seg_onnx, "cpu")


def test_torch_backend_rejects_a_non_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a valid Ultralytics model"):
        create_backend("torch", bad, "cpu")


def test_torch_backend_cuda_without_gpu_is_one_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present; tests/gpu covers CUDA")
    from streamseg.errors import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        create_backend("torch", require_asset(FIXTURE_PT), "cuda:0")


def test_open_backend_resolves_the_file_each_runtime_reads(engines_dir: Path, trained_seg_onnx: Path) -> None:
    from streamseg.config import ModelConfig
    from streamseg.inference.runtimes.onnxruntime import OnnxRuntimeBackend
    from streamseg.inference.runtimes.select import open_backend
    from streamseg.inference.runtimes.torch import TorchBackend

    pt = str(require_asset(FIXTURE_PT))
    torch_b = open_backend(ModelConfig(path=pt, backend="torch", engines_dir=str(engines_dir)))
    assert isinstance(torch_b, TorchBackend)
    auto = open_backend(ModelConfig(path=pt, backend="auto", device="cpu", engines_dir=str(engines_dir)))
    assert isinstance(auto, OnnxRuntimeBackend)  # auto on the CPU: ONNX Runtime, from the cached export
    with pytest.raises(ModelError, match=r"needs Ultralytics \.pt weights"):
        open_backend(ModelConfig(path=str(trained_seg_onnx), backend="torch"))


def test_graph_buckets_with_emulated_cuda_graphs() -> None:
    """Bucket choice, the static input views and output slicing, on the CPU: an emulated "graph"
    re-runs the captured forward into the captured output tensors on replay, as a CUDA graph would."""
    from streamseg.gpu.graph_cache import GraphCache

    graphs = create_backend("torch", require_asset(FIXTURE_PT), "cpu")
    eager = create_backend("torch", require_asset(FIXTURE_PT), "cpu")
    graphs.cuda_graphs = True  # type: ignore[attr-defined]
    cache = graphs._graphs = GraphCache.emulated()  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    for n in (3, 1, 16, 5, 3, 17):  # 17: above the largest bucket, runs eager
        x = rng.random((n, 3, 64, 96), dtype=np.float32)
        (h1, p1), (h2, p2) = graphs.infer(x), eager.infer(x)
        assert h1.shape == h2.shape and p1.shape == p2.shape
        np.testing.assert_allclose(h1, h2, atol=1e-3, rtol=1e-4)
        np.testing.assert_allclose(p1, p2, atol=1e-4, rtol=1e-4)
    assert sorted(key for _, key in cache.slots()) == [(b, (64, 96)) for b in (1, 4, 8, 16)]
    assert graphs._inputs[(64, 96)].shape[0] == 16  # type: ignore[attr-defined]


def test_pipeline_runs_the_torch_backend(tmp_path: Path, random_seg_pt: Path, engines_dir: Path) -> None:
    """``Pipeline`` with ``backend: torch`` loads the .pt (not the ONNX export) and agrees with ORT."""
    from streamseg import Pipeline
    from streamseg.config import Config, ModelConfig, SourceConfig
    from streamseg.testing.media import write_video

    clip = tmp_path / "clip.mp4"
    write_video(clip, n_frames=6)

    def run(backend: str) -> list[SegResult]:
        model = ModelConfig(
            path=str(random_seg_pt),
            backend=backend,
            imgsz=320,
            conf=0.78,
            # one frame per batch: how frames happen to batch changes the CPU's convolution sums in the
            # last bits, which moved a 3-pixel box of the random network past the box-IoU tolerance
            batch=1,
            engines_dir=str(engines_dir),
        )
        pipeline = Pipeline(config=Config(sources=(SourceConfig(str(clip)),), model=model))
        results = list(pipeline.results())
        assert (
            type(pipeline.engine.backend).__name__
            == {
                "torch": "TorchBackend",
                "onnxruntime": "OnnxRuntimeBackend",
            }[backend]
        )
        return results

    ours, theirs = run("torch"), run("onnxruntime")
    assert [r.frame_index for r in ours] == list(range(6))
    for a, b in zip(ours, theirs, strict=True):
        reference = ref.Reference(b.xyxy, b.class_id, b.score, b.masks.dense())
        assert_matches(a, reference)
