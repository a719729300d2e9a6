"""Batches for the device path on CPU torch, as the tests and ``tools/count_launches.py`` drive it.

Frames come from the three shared 720p clips, round-robin (one camera per batch position, as 16
cameras would fill a batch), decoded on the CPU and imported as device surfaces (the ring), so the
whole GPU path runs: NV12 -> BGR on the device, both graph bodies, the overlay, yuv420p.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import torch

from streamseg.config import RenderConfig
from streamseg.gpu.surface import import_video_frame
from streamseg.inference.runtimes import InferenceBackend, create_backend
from streamseg.inference.yolo.device.runner import DeviceRunner
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.testing.assets import FIXTURE_PT, VIDEOS, asset
from streamseg.types import Frame

CLIPS = ("street_pedestrians_720p30.mp4", "street_dance_crowd_720p25.mp4", "highway_cars_720p30.mp4")


def device_backend(weights: Path = FIXTURE_PT) -> InferenceBackend:
    """The torch backend with its device path on the CPU (what CUDA runs, on CPU tensors)."""
    return create_backend("torch", asset(weights), "cpu", device_ops=True)


def device_engine(
    backend: InferenceBackend,
    imgsz: int = 640,
    thresholds: Thresholds | None = None,
    overlay: RenderConfig | None = None,
    fixed_shapes: bool = True,
) -> tuple[SegmentationEngine, DeviceRunner]:
    """An engine on ``backend``'s device path; ``fixed_shapes``: padded as for a CUDA graph."""
    engine = SegmentationEngine(
        backend, imgsz, thresholds or Thresholds(), overlay=overlay, host_masks=lambda: False
    )
    runner = engine.device_runner
    if runner is None:
        raise RuntimeError("the backend has no device path")
    runner.fixed_shapes = fixed_shapes
    return engine, runner


def clip_frames(name: str, start: int = 0) -> Iterator[av.VideoFrame]:
    """Decoded frames of a shared clip from ``start``, forever (the clip loops)."""
    path = asset(VIDEOS / name)
    while True:
        with av.open(str(path)) as container:
            for i, vf in enumerate(container.decode(video=0)):
                if i >= start:
                    yield vf
        start = 0


def round_robin_surfaces(start: int = 0, clips: tuple[str, ...] = CLIPS) -> Iterator[Frame]:
    """Frames imported as device surfaces, one clip after the other: position k of a batch is camera
    ``k``, showing clip ``k % 3``."""
    streams = [clip_frames(name, start) for name in clips]
    for index in itertools.count():
        vf = next(streams[index % len(streams)])
        surface = import_video_frame(vf, torch.device("cpu"))
        yield Frame(f"cam{index % 16}", index, float(vf.time or 0.0), 0.0, surface=surface)


def take(frames: Iterator[Frame], n: int) -> list[Frame]:
    return list(itertools.islice(frames, n))
