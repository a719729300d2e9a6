"""``DeviceRunner`` end to end on CPU torch: the device path gives the NumPy path's results exactly,
however the frames arrive (host arrays or decoded surfaces) and whichever rare path a batch takes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from streamseg.gpu.surface import import_video_frame
from streamseg.inference.runtimes import InferenceBackend, create_backend
from streamseg.inference.yolo.device import nms as device_nms
from streamseg.inference.yolo.device import runner as device_path
from streamseg.inference.yolo.engine import PendingResult, SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.types import Frame, SegResult
from tests.capture.media import DANCE, PEDESTRIANS, clip
from tests.inference.yolo.test_parity import frames_for_parity

THRESHOLDS = Thresholds(0.78, 0.7, 300)  # random weights: many odd instances per frame
IMGSZ = 320


@pytest.fixture(scope="module")
def backends(random_seg_pt: Path) -> Iterator[tuple[InferenceBackend, InferenceBackend]]:
    numpy_path = create_backend("torch", random_seg_pt, "cpu", device_ops=False)
    on_device = create_backend("torch", random_seg_pt, "cpu", device_ops=True)
    yield numpy_path, on_device
    numpy_path.close()
    on_device.close()


def _host_frames() -> list[Frame]:
    return [Frame(name, i, 0.0, time.monotonic(), img) for i, (name, img) in enumerate(frames_for_parity())]


def _assert_equal(a: list[SegResult], b: list[SegResult], at_least: int) -> None:
    total = 0
    for x, y in zip(a, b, strict=True):
        assert y.frame is x.frame
        np.testing.assert_array_equal(x.class_id, y.class_id)
        np.testing.assert_array_equal(x.score, y.score)
        np.testing.assert_array_equal(x.xyxy, y.xyxy)
        np.testing.assert_array_equal(x.masks.origins, y.masks.origins)
        assert len(x.masks.crops) == len(y.masks.crops)
        for m, n in zip(x.masks.crops, y.masks.crops, strict=True):
            np.testing.assert_array_equal(m, n)
        total += len(x)
    assert total >= at_least


def test_device_path_equals_numpy_path(backends: tuple[InferenceBackend, InferenceBackend]) -> None:
    """At imgsz 640, hundreds of odd instances, frames of several sizes in one batch: bit-identical."""
    numpy_path, on_device = backends
    frames = _host_frames()
    want = SegmentationEngine(numpy_path, 640, THRESHOLDS).run(frames)
    got = SegmentationEngine(on_device, 640, THRESHOLDS).run(frames)
    _assert_equal(want, got, at_least=200)
    assert all(set(r.stage_seconds) == {"preprocess", "infer", "postprocess"} for r in got)


def test_rare_paths_give_the_same_results(
    backends: tuple[InferenceBackend, InferenceBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few candidate slots (frames overflow to host NMS, slots grow) and one suppression step per
    round: still exactly the NumPy path. (Longer suppression chains: test_device_batch.)"""
    numpy_path, on_device = backends
    frames = _host_frames()
    th = Thresholds(0.6, 0.3, 300)
    want = SegmentationEngine(numpy_path, IMGSZ, th).run(frames)
    monkeypatch.setattr(device_path, "MIN_CANDIDATES", 4)
    monkeypatch.setattr(device_nms, "NMS_STEPS", 1)
    engine = SegmentationEngine(on_device, IMGSZ, th)
    runner = engine.device_runner
    assert runner is not None
    _assert_equal(want, engine.run(frames), at_least=50)
    assert runner.host_nms_frames > 0
    assert runner.candidate_slots > 4  # grew to the most candidates seen
    _assert_equal(want, engine.run(frames), at_least=50)  # again, now on the device with more slots


def _clip_frames(name: str, n: int) -> list[av.VideoFrame]:
    with av.open(str(clip(name))) as container:
        out = []
        for vf in container.decode(video=0):
            out.append(vf)
            if len(out) == n:
                return out
    return out


def test_surface_frames_equal_host_frames(backends: tuple[InferenceBackend, InferenceBackend]) -> None:
    """Frames decoded into device surfaces (converted to BGR on the device, in the batch) give what
    the same frames as host BGR give; mixed in one batch with host frames of another size."""
    numpy_path, on_device = backends
    decoded = _clip_frames(PEDESTRIANS, 3) + _clip_frames(DANCE, 2)
    host = [Frame("s", i, 0.0, 0.0, vf.to_ndarray(format="bgr24")) for i, vf in enumerate(decoded)]
    surfaces = [
        Frame("s", i, 0.0, 0.0, surface=import_video_frame(vf, torch.device("cpu")))
        for i, vf in enumerate(decoded)
    ]
    bus = _host_frames()[-2]  # portrait: another frame size in the same batch
    want = SegmentationEngine(numpy_path, IMGSZ, THRESHOLDS).run([*host, bus])
    got = SegmentationEngine(on_device, IMGSZ, THRESHOLDS).run([*surfaces, bus])
    for x, y in zip(want, got, strict=True):
        np.testing.assert_array_equal(x.xyxy, y.xyxy)
        np.testing.assert_array_equal(x.masks.dense(), y.masks.dense())
    assert sum(len(r) for r in want) > 20
    assert all(r.frame.on_device for r in got[:-1])  # nobody downloaded the pictures


def test_masks_stay_on_the_device_until_read(backends: tuple[InferenceBackend, InferenceBackend]) -> None:
    """``host_masks=False``: results carry deferred masks, copied down on first access, identical."""
    numpy_path, on_device = backends
    frames = _host_frames()[:3]
    want = SegmentationEngine(numpy_path, IMGSZ, THRESHOLDS).run(frames)
    engine = SegmentationEngine(on_device, IMGSZ, THRESHOLDS, host_masks=lambda: False)
    pending = engine.submit(frames)
    assert all(isinstance(p, PendingResult) for p in pending)
    got = [p.resolve()[0] if isinstance(p, PendingResult) else p for p in pending]
    assert not any(r.masks.on_host for r in got if len(r))
    _assert_equal(want, got, at_least=10)
    assert all(r.masks.on_host for r in got)


def test_stage_times_are_reported(backends: tuple[InferenceBackend, InferenceBackend]) -> None:
    recorded: list[tuple[str, float, str | None]] = []
    engine = SegmentationEngine(
        backends[1], IMGSZ, THRESHOLDS, lambda s, t, src: recorded.append((s, t, src))
    )
    results = engine.run(_host_frames()[:2])
    assert {s for s, _, _ in recorded} == {"preprocess", "infer", "postprocess"}
    assert all(t >= 0 for _, t, _ in recorded)
    assert all(set(r.stage_seconds) == {"preprocess", "infer", "postprocess"} for r in results)
