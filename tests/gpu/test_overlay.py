"""The GPU overlay (``render/device_overlay``) and text on yuv420p (``render/i420``), run on CPU torch,
against the CPU renderer on the same results: the two paths must look the same."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from streamseg.config import RenderConfig
from streamseg.gpu.overlay import DeviceOverlay
from streamseg.gpu.picture import I420Picture
from streamseg.gpu.rects import PixelRects
from streamseg.gpu.surface import import_video_frame
from streamseg.inference.runtimes import InferenceBackend, create_backend
from streamseg.inference.yolo.engine import PendingResult, SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.render import FrameAnnotator
from streamseg.render.i420 import I420TextAnnotator
from streamseg.types import Frame, SegResult
from tests.conftest import FIXTURE_PT, VIDEOS, read_frames, require_asset

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def fixture_backend() -> Iterator[InferenceBackend]:
    backend = create_backend("torch", require_asset(FIXTURE_PT), "cpu", device_ops=True)
    yield backend
    backend.close()


def _device_render(backend: InferenceBackend, config: RenderConfig) -> list[tuple[SegResult, I420Picture]]:
    """Two real 720p frames through the device path with the overlay on, text added on yuv420p."""
    engine = SegmentationEngine(backend, 320, Thresholds(), overlay=config)
    frames = read_frames(VIDEOS / "street_pedestrians_720p30.mp4", [0, 60])
    pending = engine.submit([Frame("cam", i, 0.0, time.monotonic(), img) for i, img in enumerate(frames)])
    text = I420TextAnnotator(config)
    out = []
    for item in pending:
        assert isinstance(item, PendingResult)
        result, picture = item.resolve()
        i420 = I420Picture(picture.numpy(), keepalive=picture)
        out.append((result, text.annotate(i420, result, 25.0, 40.0)))
    return out


def _through_i420(bgr: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420))


def test_device_overlay_looks_like_the_cpu_renderer(fixture_backend: InferenceBackend) -> None:
    """Masks, boxes, labels and HUD: the picture the encoder gets on the GPU path is the CPU path's
    (compared after the same yuv420p round trip the CPU recorder makes)."""
    config = RenderConfig()
    host = FrameAnnotator(config, copy=True)
    for result, picture in _device_render(fixture_backend, config):
        assert len(result) > 5
        ours = picture.bgr().astype(np.int16)
        theirs = _through_i420(host.annotate(result, 25.0, 40.0)).astype(np.int16)
        diff = np.abs(ours - theirs).max(axis=-1)
        assert diff.mean() < 0.2
        assert (diff > 24).mean() < 0.002  # box corners: cv2 rounds them, we do not


def test_masks_alone_blend_like_cv2(fixture_backend: InferenceBackend) -> None:
    """Only masks: the alpha blend rounds as cv2.addWeighted; later instances cover earlier ones."""
    config = RenderConfig(boxes=False, labels=False, hud=False)
    host = FrameAnnotator(config, copy=True)
    for result, picture in _device_render(fixture_backend, config):
        theirs = _through_i420(host.annotate(result, None, None))
        assert (picture.bgr() != theirs).any(axis=-1).mean() < 0.0005


def test_a_box_whose_mask_is_empty_is_not_drawn() -> None:
    """The instance filter is only known on the device: the overlay hides those boxes itself."""
    overlay = DeviceOverlay(RenderConfig(masks=False, labels=False, hud=False))
    bgr = torch.full((1, 64, 96, 3), 100, dtype=torch.uint8)
    xyxy = np.array([[10, 10, 40, 30], [50, 20, 90, 60]], np.float32)
    rects = overlay.box_rects(np.array([0, 0]), xyxy, np.array([0, 1]), (64, 96))
    assert isinstance(rects, PixelRects)
    lut = torch.from_numpy(overlay.colour_table(np.array([0, 2])))
    overlay.draw_boxes(bgr, rects.to_device(CPU), lut, torch.tensor([1, 0], dtype=torch.int32) > 0)
    changed = (bgr[0] != 100).any(dim=-1).numpy()
    assert changed[10, 10:40].all() and changed[10:30, 40].all()  # the first box's outline
    assert not changed[:, 45:].any()  # nothing of the second


def test_i420_patches_keep_the_rest_of_the_picture() -> None:
    """Text is drawn on patches: pixels outside them stay exactly as they were."""
    rng = np.random.default_rng(0)
    data = rng.integers(16, 235, (120 * 3 // 2, 160), dtype=np.uint8)
    picture = I420Picture(data.copy())
    picture.paint(
        31,
        21,
        71,
        41,
        lambda patch, dx, dy: cv2.rectangle(patch, (31 + dx, 21 + dy), (70 + dx, 40 + dy), (0, 0, 255), -1),
    )
    y, _, _ = picture.planes()
    original_y = data[:120]
    outside = np.ones((120, 160), bool)
    outside[20:42, 30:72] = False  # the patch, widened to the 2x2 chroma grid
    np.testing.assert_array_equal(y[outside], original_y[outside])
    red = picture.bgr()[30, 50]
    assert red[2] > 200 and red[0] < 60 and red[1] < 60
    with pytest.raises(ValueError, match="yuv420p"):
        I420Picture(np.zeros((10, 15), np.uint8))


def test_surface_frames_render_the_same_as_host_frames(fixture_backend: InferenceBackend) -> None:
    """Decoded into a device surface or uploaded from the host: the same annotated picture."""
    import av

    with av.open(str(VIDEOS / "street_dance_crowd_720p25.mp4")) as container:
        vf = next(container.decode(video=0))
    config = RenderConfig()
    pictures = []
    for frame in (
        Frame("cam", 0, 0.0, 0.0, vf.to_ndarray(format="bgr24")),
        Frame("cam", 0, 0.0, 0.0, surface=import_video_frame(vf, CPU)),
    ):
        engine = SegmentationEngine(fixture_backend, 320, Thresholds(), overlay=config)
        (item,) = engine.submit([frame])
        assert isinstance(item, PendingResult)
        pictures.append(item.resolve()[1].numpy())
    np.testing.assert_array_equal(pictures[0], pictures[1])


def test_picture_shape_and_bgr(tmp_path: Path) -> None:
    bgr = np.full((48, 64, 3), (10, 200, 30), np.uint8)
    picture = I420Picture(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)))
    assert picture.shape == (48, 64, 3)
    assert np.abs(picture.bgr().astype(int) - bgr).max() <= 2


def test_drawing_memory_grows_with_one_frame_not_the_batch() -> None:
    """Colour conversion, the mask blend and yuv420p at 1080p: what a batch of 4 allocates beyond its
    outputs equals what one frame does (a captured graph's pool keeps that peak for good: 16 frames
    at 4K took 5-6 GB when whole batches were widened at once)."""
    from streamseg.gpu.colour import coefficient_table, yuv_to_bgr
    from streamseg.gpu.graphs import ReadWatch
    from streamseg.gpu.surface import YuvCoefficients

    h, w = 1080, 1920
    overlay = DeviceOverlay(RenderConfig())
    lut = torch.tensor([[0, 0, 0], [255, 0, 0], [0, 255, 0]], dtype=torch.uint8)
    beyond_outputs = {}
    for b in (1, 4):
        y = torch.full((b, h, w), 120, dtype=torch.uint8)
        uv = torch.full((b, h // 2, w // 2, 2), 128, dtype=torch.uint8)
        table = coefficient_table([YuvCoefficients.for_frame(1, 1)] * b, torch.device("cpu"))
        index_map = torch.zeros(b * h * w, dtype=torch.int32)
        index_map[::7] = 1
        index_map[::11] = 2
        with ReadWatch() as watch:
            bgr = yuv_to_bgr(y, uv, table)
            overlay.blend_masks(bgr, index_map, lut)
            i420 = DeviceOverlay.to_i420(bgr)
        beyond_outputs[b] = watch.peak_bytes - bgr.numel() - i420.numel()
    # the order frees happen in may leave a frame's intermediates alive a moment longer (seen in full
    # runs: +16 MB, then +40 MB of 72); batch-wide intermediates were 4x: 2x tells them apart
    assert beyond_outputs[4] <= beyond_outputs[1] * 2, beyond_outputs
