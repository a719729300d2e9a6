"""PyTorch CUDA and TensorRT on a real GPU (opt-in, see conftest): parity, CUDA graphs, flat memory.

FP16 tolerances against ONNX Runtime FP32 (the CPU reference): each side's instances must match one
on the other (same class, score within 2e-2, box IoU >= 0.95, mask IoU >= 0.90) except at most 5 % of
them (instances whose score sits within FP16 noise of the threshold may appear on one side only).
These tests have NOT been run yet: no GPU was available when they were written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamseg.inference.runtimes import create_backend
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.types import Frame, SegResult
from tests.conftest import FIXTURE_PT, VIDEOS, read_frames, require_asset
from tests.inference.yolo.test_parity import box_iou, frames_for_parity, mask_iou

FP16_SCORE_TOL = 2e-2
FP16_BOX_IOU = 0.95
FP16_MASK_IOU = 0.90
FP16_UNMATCHED_MAX = 0.05
THRESHOLDS = Thresholds(0.25, 0.7, 300)


def _frames() -> list[Frame]:
    return [Frame(n, i, 0.0, time.monotonic(), img) for i, (n, img) in enumerate(frames_for_parity())]


def _unmatched(ours: SegResult, theirs: SegResult) -> int:
    free = list(range(len(theirs)))
    missing = 0
    for i in range(len(ours)):
        hit = next(
            (
                j
                for j in free
                if ours.class_id[i] == theirs.class_id[j]
                and abs(float(ours.score[i] - theirs.score[j])) <= FP16_SCORE_TOL
                and box_iou(ours.xyxy[i], theirs.xyxy[j]) >= FP16_BOX_IOU
                and mask_iou(ours.masks.full(i), theirs.masks.full(j)) >= FP16_MASK_IOU
            ),
            None,
        )
        if hit is None:
            missing += 1
        else:
            free.remove(hit)
    return missing + len(free)


def _assert_fp16_parity(ours: list[SegResult], theirs: list[SegResult]) -> None:
    total = sum(len(r) for r in theirs)
    bad = sum(_unmatched(a, b) for a, b in zip(ours, theirs, strict=True))
    assert total > 50
    assert bad <= FP16_UNMATCHED_MAX * total, f"{bad} of {total} instances differ beyond FP16 tolerances"


@pytest.fixture(scope="module")
def onnx_results(trained_seg_onnx: Path) -> list[SegResult]:
    backend = create_backend("onnxruntime", trained_seg_onnx, "cpu")
    return SegmentationEngine(backend, 640, THRESHOLDS).run(_frames())


def test_torch_cuda_fp16_matches_onnxruntime(cuda_device: str, onnx_results: list[SegResult]) -> None:
    backend = create_backend("torch", require_asset(FIXTURE_PT), cuda_device)
    assert backend.device_path() is not None  # on CUDA the device path is the default
    _assert_fp16_parity(SegmentationEngine(backend, 640, THRESHOLDS).run(_frames()), onnx_results)


def test_torch_cuda_fp32_device_path_equals_numpy_path(cuda_device: str) -> None:
    on_device = create_backend("torch", require_asset(FIXTURE_PT), cuda_device, half=False, cuda_graphs=False)
    on_host = create_backend(
        "torch", require_asset(FIXTURE_PT), cuda_device, half=False, cuda_graphs=False, device_ops=False
    )
    a = SegmentationEngine(on_device, 640, THRESHOLDS).run(_frames())
    b = SegmentationEngine(on_host, 640, THRESHOLDS).run(_frames())
    for x, y in zip(a, b, strict=True):
        assert _unmatched(x, y) == 0, x.source


@pytest.mark.parametrize("batch", [1, 3, 8, 16])
def test_cuda_graph_replay_equals_eager(cuda_device: str, batch: int) -> None:
    graphs = create_backend("torch", require_asset(FIXTURE_PT), cuda_device, cuda_graphs=True)
    eager = create_backend("torch", require_asset(FIXTURE_PT), cuda_device, cuda_graphs=False)
    rng = np.random.default_rng(batch)
    for _ in range(3):  # replays reuse the static buffers: results must follow the new input each time
        x = rng.random((batch, 3, 384, 640), dtype=np.float32)
        (h1, p1), (h2, p2) = graphs.infer(x), eager.infer(x)
        np.testing.assert_allclose(h1, h2, atol=0.05, rtol=1e-2)
        np.testing.assert_allclose(p1, p2, atol=0.02, rtol=1e-2)


def test_gpu_memory_is_flat(cuda_device: str) -> None:
    """After the first batch of each size, running more batches allocates nothing new."""
    import torch

    from streamseg.telemetry.system import GpuMemoryProbe

    backend = create_backend("torch", require_asset(FIXTURE_PT), cuda_device)
    engine = SegmentationEngine(backend, 640, THRESHOLDS)
    images = read_frames(VIDEOS / "street_pedestrians_720p30.mp4", list(range(16)))
    frames = [Frame("s", i, 0.0, 0.0, img) for i, img in enumerate(images)]
    sizes = [1, 2, 3, 4, 7, 8, 11, 16]
    for n in sizes:  # warm: graphs captured, staging buffers sized
        engine.run(frames[:n])
    torch.cuda.synchronize()
    probe = GpuMemoryProbe(0)
    before_torch, before_nvml = torch.cuda.memory_reserved(), probe.read()
    for _ in range(10):
        for n in sizes:
            engine.run(frames[:n])
    torch.cuda.synchronize()
    assert torch.cuda.memory_reserved() == before_torch
    after_nvml = probe.read()
    if before_nvml is not None and after_nvml is not None:
        assert abs(after_nvml - before_nvml) <= 32 << 20, (before_nvml, after_nvml)


def test_tensorrt_fp16_build_load_and_parity(
    tensorrt_ready: str,
    cuda_device: str,
    trained_seg_onnx: Path,
    tmp_path: Path,
    onnx_results: list[SegResult],
) -> None:
    from streamseg.inference.runtimes.tensorrt.build import build_engine
    from streamseg.inference.runtimes.tensorrt.plan import BuildSpec, EngineMismatchError, sidecar_path

    plan = tmp_path / "fixture-fp16.plan"
    side = build_engine(trained_seg_onnx, plan, BuildSpec("fp16", 1, 8, (640, 640)), 0)
    assert side.tensorrt_version == tensorrt_ready and side.profile["max"][0] == 8
    backend = create_backend("tensorrt", plan, cuda_device)
    assert backend.info.fixed_input_hw == (640, 640) and backend.info.max_batch == 8
    ours = SegmentationEngine(backend, 640, THRESHOLDS).run(_frames())
    # The plan's square input letterboxes differently from ORT's minimal rectangle: compare on matched
    # instances with FP16 tolerances only.
    _assert_fp16_parity(ours, onnx_results)
    raw = json.loads(sidecar_path(plan).read_text())
    raw["gpu_name"] = "Some Other GPU"
    sidecar_path(plan).write_text(json.dumps(raw))
    with pytest.raises(EngineMismatchError, match="Some Other GPU"):
        create_backend("tensorrt", plan, cuda_device)


def test_tensorrt_int8_calibrates_from_a_folder(
    tensorrt_ready: str, cuda_device: str, trained_seg_onnx: Path, tmp_path: Path
) -> None:
    from streamseg.inference.runtimes.tensorrt.build import build_engine
    from streamseg.inference.runtimes.tensorrt.plan import BuildSpec

    calib = tmp_path / "calib"
    calib.mkdir()
    for i, image in enumerate(read_frames(VIDEOS / "street_dance_crowd_720p25.mp4", list(range(0, 64, 4)))):
        cv2.imwrite(str(calib / f"{i:03d}.jpg"), image)
    plan = tmp_path / "fixture-int8.plan"
    side = build_engine(trained_seg_onnx, plan, BuildSpec("int8", 1, 4, (384, 640), str(calib)), 0)
    assert side.precision == "int8" and plan.with_name(plan.name + ".calib").is_file()
    backend = create_backend("tensorrt", plan, cuda_device)
    results = SegmentationEngine(backend, 640, THRESHOLDS).run(_frames()[:3])
    assert sum(len(r) for r in results) > 10
