"""The shared torch pre/postprocessing (``inference/device_path``) against the NumPy path, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamseg.inference import device_path
from streamseg.inference.device_path import DeviceLetterbox, DeviceMaskDecoder, device_nms
from streamseg.inference.letterbox import make_letterbox, to_tensor
from streamseg.inference.masks import MaskDecoder
from streamseg.inference.nms import batched_nms
from tests.inference.test_parity import frames_for_parity

CPU = torch.device("cpu")


@pytest.mark.parametrize("imgsz", [640, 320, 1024])
def test_device_letterbox_is_bit_identical(imgsz: int) -> None:
    """Downscale, upscale, both paddings: the same float32 network input as cv2 + to_tensor."""
    rng = np.random.default_rng(1)
    images = [img for _, img in frames_for_parity()[::2]]
    images.append(rng.integers(0, 256, (333, 517, 3), dtype=np.uint8))  # odd sizes, noise
    for image in images:
        lb = make_letterbox(image.shape[:2], imgsz, 32)
        ours = torch.empty((3, *lb.input_hw))
        DeviceLetterbox(lb, CPU).apply(torch.from_numpy(image), ours)
        theirs = np.empty((3, *lb.input_hw), np.float32)
        to_tensor(lb.apply(image), theirs)
        np.testing.assert_array_equal(ours.numpy(), theirs)


def test_device_letterbox_fixed_input() -> None:
    """Static-shape plans (TensorRT) pad to a fixed input: same geometry as make_letterbox."""
    image = frames_for_parity()[-2][1]  # portrait bus.jpg into 640x384
    lb = make_letterbox(image.shape[:2], 640, 32, fixed_input_hw=(384, 640))
    ours = torch.empty((3, 384, 640))
    DeviceLetterbox(lb, CPU).apply(torch.from_numpy(image), ours)
    theirs = np.empty((3, 384, 640), np.float32)
    to_tensor(lb.apply(image), theirs)
    np.testing.assert_array_equal(ours.numpy(), theirs)


def _random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 600, (n, 2)).astype(np.float32)
    wh = rng.uniform(1, 120, (n, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.choice(np.linspace(0.3, 0.9, 25, dtype=np.float32), n)  # many ties
    classes = rng.integers(0, 3, n).astype(np.int64)
    return boxes, scores, classes


@pytest.mark.parametrize("n", [0, 1, 7, 400])
def test_device_nms_equals_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    boxes, scores, classes = _random_boxes(rng, n)
    if n > 1:
        boxes[1] = boxes[0]  # an exact duplicate
        boxes[-1] = [5, 5, 5, 5]  # zero area: NaN IoU with another zero-area box suppresses, as NumPy
    for iou in (0.3, 0.7):
        want = batched_nms(boxes, scores, classes, iou)
        got = device_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou)
        np.testing.assert_array_equal(got.numpy(), want)


def test_device_nms_host_fallback_for_many_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_path, "MATRIX_NMS_MAX", 50)
    boxes, scores, classes = _random_boxes(np.random.default_rng(3), 120)
    want = batched_nms(boxes, scores, classes, 0.5)
    got = device_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.5)
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("chunk", [1 << 24, 5000])  # 5000: forces many chunks
def test_device_mask_decoder_equals_numpy(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(device_path, "MASK_CHUNK_ELEMENTS", chunk)
    rng = np.random.default_rng(7)
    for frame_hw, imgsz in (((720, 1280), 640), ((1080, 810), 640), ((720, 1280), 320)):
        lb = make_letterbox(frame_hw, imgsz, 32)
        proto_hw = (lb.input_hw[0] // 4, lb.input_hw[1] // 4)
        protos = rng.normal(size=(32, *proto_hw)).astype(np.float32)
        n = 40
        h, w = frame_hw
        x1 = rng.uniform(-20, w, n)
        y1 = rng.uniform(-20, h, n)
        xyxy = np.stack([x1, y1, x1 + rng.uniform(0, 400, n), y1 + rng.uniform(0, 300, n)], 1)
        xyxy = np.clip(xyxy, 0, [w, h, w, h]).astype(np.float32)
        xyxy[0] = [10.5, 10.5, 10.5, 40]  # empty box
        coeffs = rng.normal(size=(n, 32)).astype(np.float32)
        want = MaskDecoder(lb, proto_hw).decode(protos, coeffs, xyxy)
        dec = DeviceMaskDecoder(MaskDecoder(lb, proto_hw), CPU)
        got, nonempty = dec.decode(torch.from_numpy(protos), torch.from_numpy(coeffs), xyxy)
        np.testing.assert_array_equal(got.origins, want.origins)
        for a, b in zip(got.crops, want.crops, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(nonempty, [bool(c.any()) for c in want.crops])
