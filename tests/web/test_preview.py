"""The preview: a free store on the render thread, throttled JPEGs drawn small on the dashboard's side."""

from __future__ import annotations

import time

import cv2
import numpy as np

from streamseg.types import Frame, InstanceMasks, SegResult
from streamseg.web.preview import PreviewEncoder, PreviewSink, downscaled


def _result(index: int, w: int = 1280, h: int = 720) -> SegResult:
    image = np.full((h, w, 3), index % 255, np.uint8)
    crop = np.ones((100, 60), bool)
    masks = InstanceMasks((crop, crop), np.array([[10, 20], [w - 60, h - 100]], np.int32), (h, w))
    xyxy = np.array([[10, 20, 70, 120], [w - 60, h - 100, w, h]], np.float32)
    frame = Frame("cam", index, index / 30, time.monotonic(), image)
    return SegResult(frame, xyxy, np.array([0, 1]), np.array([0.9, 0.8], np.float32), masks, ("a", "b"))


def test_downscaled_scales_boxes_and_masks_inside_the_frame() -> None:
    small = downscaled(_result(0), 640)
    assert small.frame.image.shape == (360, 640, 3)
    assert small.xyxy[0].tolist() == [5, 10, 35, 60]
    assert [c.shape for c in small.masks.crops] == [(50, 30), (50, 30)]
    assert small.masks.origins.tolist() == [[5, 10], [610, 310]]
    assert small.masks.full(1)[-1, -1]  # the corner instance still reaches the corner
    assert downscaled(_result(0, 320, 192), 640).frame.image.shape == (192, 320, 3)


def test_jpegs_only_on_demand_and_throttled() -> None:
    sink = PreviewSink()
    encoder = PreviewEncoder(sink, None, max_fps=5, max_width=640)
    assert encoder.jpeg("cam") is None and encoder.ready_after("cam", 0) is None
    for i in range(10):
        sink.write(_result(i), None)  # the render thread: nothing is encoded
    assert encoder.encoded == 0
    first = encoder.jpeg("cam")
    assert first is not None and first.seq == 10 and first.frame_index == 9
    image = cv2.imdecode(np.frombuffer(first.data, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)
    sink.write(_result(10), None)
    assert encoder.jpeg("cam") is first  # within 1/5 s: the cached picture, no new encode
    assert 0 < (encoder.ready_after("cam", 10) or 0) <= 0.2
    time.sleep(0.21)
    assert encoder.ready_after("cam", 10) == 0.0
    second = encoder.jpeg("cam")
    assert second is not None and second.seq == 11 and encoder.encoded == 2
    assert sink.frame_age("cam") is not None and sink.idle_for("nobody") is None
