"""The batched device ops (``inference/device_*``) on CPU torch against the NumPy path: equal, bit for bit.

Each piece runs for a whole batch in a fixed number of launches; these tests pin that the results are
still exactly what the per-frame NumPy path computes, including the rare paths (a suppression chain
longer than the fixed steps, more candidates than slots, many passes over the box pixels).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamseg.gpu import rects as rects_module
from streamseg.gpu.rects import PixelRects
from streamseg.inference.letterbox import make_letterbox, to_tensor
from streamseg.inference.yolo.device import nms as device_nms
from streamseg.inference.yolo.device.letterbox import DeviceLetterbox
from streamseg.inference.yolo.device.masks import PackedMaskDecoder, box_bounds, mixtures
from streamseg.inference.yolo.device.nms import SuppressionState, compact, select_candidates
from streamseg.inference.yolo.masks import MaskDecoder
from streamseg.inference.yolo.postprocess import Thresholds, kept_candidates
from tests.inference.yolo.test_parity import frames_for_parity

CPU = torch.device("cpu")


@pytest.mark.parametrize("imgsz", [640, 320, 1024])
def test_device_letterbox_is_bit_identical(imgsz: int) -> None:
    """Downscale, upscale, both paddings, a batch at once: the float32 input cv2 + to_tensor give."""
    rng = np.random.default_rng(1)
    images = [img for _, img in frames_for_parity()[::2]]
    images.append(rng.integers(0, 256, (333, 517, 3), dtype=np.uint8))  # odd sizes, noise
    for image in images:
        lb = make_letterbox(image.shape[:2], imgsz, 32)
        batch = torch.from_numpy(np.stack([image, image[::-1].copy()]))
        ours = torch.empty((2, 3, *lb.input_hw))
        DeviceLetterbox(lb, CPU).apply(batch, ours)
        for k, img in enumerate(batch.numpy()):
            theirs = np.empty((3, *lb.input_hw), np.float32)
            to_tensor(lb.apply(img), theirs)
            np.testing.assert_array_equal(ours[k].numpy(), theirs)


def test_device_letterbox_fixed_input() -> None:
    """Static-shape plans (TensorRT) pad to a fixed input: same geometry as make_letterbox."""
    image = frames_for_parity()[-2][1]  # portrait bus.jpg into 640x384
    lb = make_letterbox(image.shape[:2], 640, 32, fixed_input_hw=(384, 640))
    ours = torch.empty((1, 3, 384, 640))
    DeviceLetterbox(lb, CPU).apply(torch.from_numpy(image)[None], ours)
    theirs = np.empty((3, 384, 640), np.float32)
    to_tensor(lb.apply(image), theirs)
    np.testing.assert_array_equal(ours[0].numpy(), theirs)


def test_device_letterbox_widens_only_the_rows_it_reads() -> None:
    """A 4K frame into a 640 input: what the resize allocates stays below the frame's own uint8 size
    (widening the whole frame to int32 first took four times that: 1.6 GB for a batch of 16)."""
    from streamseg.gpu.graphs import ReadWatch

    frame = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (1, 2160, 3840, 3), dtype=np.uint8))
    lb = make_letterbox((2160, 3840), 640, 32)
    letterbox = DeviceLetterbox(lb, CPU)
    out = torch.empty((1, 3, *lb.input_hw))
    with ReadWatch() as watch:
        letterbox.apply(frame, out)
    assert watch.peak_bytes < frame.numel()
    theirs = np.empty((3, *lb.input_hw), np.float32)
    to_tensor(lb.apply(frame[0].numpy()), theirs)
    np.testing.assert_array_equal(out[0].numpy(), theirs)


def _random_heads(
    rng: np.random.Generator, frames: int, anchors: int, nc: int = 3, nm: int = 4
) -> np.ndarray:
    """Head outputs (B, 4 + nc + nm, A) with many tied scores, duplicate and zero-area boxes."""
    pred = np.zeros((frames, 4 + nc + nm, anchors), np.float32)
    for f in range(frames):
        xy = rng.uniform(20, 600, (2, anchors))
        wh = rng.uniform(0, 120, (2, anchors))
        pred[f, :4] = np.concatenate([xy, wh])
        pred[f, 4 : 4 + nc] = rng.choice(np.linspace(0.0, 0.9, 19, dtype=np.float32), (nc, anchors))
        pred[f, 4 + nc :] = rng.normal(size=(nm, anchors))
        pred[f, :4, 1] = pred[f, :4, 0]  # an exact duplicate
        pred[f, 2:4, 2:4] = 0  # two zero-area boxes: NaN IoU suppresses, as in NumPy
        pred[f, :4, 3] = pred[f, :4, 2]
    return pred


def _batched_kept(
    pred: np.ndarray, th: Thresholds, k: int, nc: int = 3, rounds: list[int] | None = None
) -> list[tuple[np.ndarray, ...]]:
    candidates = select_candidates(torch.from_numpy(pred), nc, th.conf, k)
    state = SuppressionState(candidates, th.iou)
    n = 1
    while not bool(state.step(device_nms.NMS_STEPS).all()):
        n += 1
    if rounds is not None:
        rounds.append(n)
    kept = compact(candidates, state.keep, th.max_det)
    out = []
    for f in range(len(pred)):
        n = int(kept.n[f])
        assert int(candidates.count[f]) <= k, "the test sized k to hold every candidate"
        out.append(
            (
                kept.anchor[f, :n].numpy(),
                kept.xyxy[f, :n].numpy(),
                kept.score[f, :n].numpy(),
                kept.class_id[f, :n].numpy(),
            )
        )
    return out


@pytest.mark.parametrize("steps", [12, 1])  # 1: converging takes several rounds
@pytest.mark.parametrize(("conf", "iou", "max_det"), [(0.3, 0.7, 300), (0.1, 0.3, 300), (0.3, 0.5, 5)])
def test_batched_nms_equals_numpy(
    monkeypatch: pytest.MonkeyPatch, steps: int, conf: float, iou: float, max_det: int
) -> None:
    monkeypatch.setattr(device_nms, "NMS_STEPS", steps)
    rng = np.random.default_rng(steps + int(conf * 10))
    pred = _random_heads(rng, frames=5, anchors=400)
    pred[3, 4:7] = 0  # a frame with no candidate at all
    th = Thresholds(conf, iou, max_det)
    rounds: list[int] = []
    for f, (anchors, xyxy, score, class_id) in enumerate(_batched_kept(pred, th, k=512, rounds=rounds)):
        want = kept_candidates(pred[f], 3, th)
        if want is None:
            assert len(anchors) == 0
            continue
        np.testing.assert_array_equal(anchors, want[0])
        np.testing.assert_array_equal(xyxy, want[1])
        np.testing.assert_array_equal(score, want[2])
        np.testing.assert_array_equal(class_id, want[3])
    if steps == 1 and iou < 0.7:
        assert rounds[0] > 1  # the iteration really had to go on past its fixed steps


def test_suppression_matrices_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large k x k matrices are built a few frames at a time: same answer."""
    monkeypatch.setattr(device_nms, "MATRIX_ELEMENTS", 300 * 300)
    pred = _random_heads(np.random.default_rng(9), frames=4, anchors=300)
    th = Thresholds(0.2, 0.6, 300)
    for f, kept in enumerate(_batched_kept(pred, th, k=300)):
        want = kept_candidates(pred[f], 3, th)
        assert want is not None
        np.testing.assert_array_equal(kept[0], want[0])


@pytest.mark.parametrize("pixels_per_pass", [1 << 22, 5000])  # 5000: many passes
def test_packed_masks_equal_numpy(monkeypatch: pytest.MonkeyPatch, pixels_per_pass: int) -> None:
    """All instances of a batch (several frames) in one mixture product and flat passes over the box
    pixels: the same crops as ``MaskDecoder.decode`` frame by frame."""
    monkeypatch.setattr(rects_module, "PIXELS_PER_PASS", pixels_per_pass)
    rng = np.random.default_rng(7)
    for frame_hw, imgsz in (((720, 1280), 640), ((1080, 810), 640), ((720, 1280), 320)):
        lb = make_letterbox(frame_hw, imgsz, 32)
        proto_hw = (lb.input_hw[0] // 4, lb.input_hw[1] // 4)
        decoder = MaskDecoder(lb, proto_hw)
        b, n = 3, 14
        protos = rng.normal(size=(b, 32, *proto_hw)).astype(np.float32)
        h, w = frame_hw
        x1, y1 = rng.uniform(-20, w, (b, n)), rng.uniform(-20, h, (b, n))
        xyxy = np.stack([x1, y1, x1 + rng.uniform(0, 400, (b, n)), y1 + rng.uniform(0, 300, (b, n))], -1)
        xyxy = np.clip(xyxy, 0, [w, h, w, h]).astype(np.float32)
        xyxy[0, 0] = [10.5, 10.5, 10.5, 40]  # an empty box
        coeffs = rng.normal(size=(b, n, 32)).astype(np.float32)
        counts = [n, 0, n - 3]  # a frame without instances
        frame = np.repeat(np.arange(b), counts)
        rank = np.concatenate([np.arange(c) for c in counts])
        boxes = np.concatenate([xyxy[f, : counts[f]] for f in range(b)])
        bounds = box_bounds(boxes, frame_hw)
        layout = PixelRects.of(frame, np.arange(len(frame)), bounds)
        table = mixtures(
            torch.from_numpy(protos),
            torch.from_numpy(np.concatenate([coeffs[f, : counts[f]] for f in range(b)])),
            torch.from_numpy(frame * n + rank),
            n,
        )
        device_rects = layout.to_device(CPU)
        packed = torch.zeros(layout.total, dtype=torch.bool)
        packed_decoder = PackedMaskDecoder(decoder, CPU)
        for start, stop in rects_module.passes(layout.total):
            px = device_rects.pixels(start, stop)
            packed[start:stop] = packed_decoder.sample(table, px, torch.from_numpy(frame * n + rank))
        flat = packed.numpy()
        for i, (f, r) in enumerate(zip(frame, rank, strict=True)):
            want = decoder.decode(protos[f], coeffs[f, r : r + 1], xyxy[f, r : r + 1])
            s, bh, bw = int(layout.starts[i]), int(bounds[i, 2]), int(bounds[i, 3])
            assert tuple(want.origins[0]) == (bounds[i, 1], bounds[i, 0])
            np.testing.assert_array_equal(flat[s : s + bh * bw].reshape(bh, bw), want.crops[0])
