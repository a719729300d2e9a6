"""Letterbox geometry: how a frame maps into the network input and back.

We letterbox to the *smallest* stride-aligned rectangle for the frame's aspect ratio (720p at
imgsz 640 -> 640x384), as Ultralytics does for rectangular inference, instead of a square: 40 % fewer
pixels for 16:9 video. The arithmetic follows Ultralytics' ``LetterBox`` exactly so boxes and masks
line up with the reference to the pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from streamseg.types import FloatArray, UInt8Array

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Geometry for one frame size: resize to ``resized_wh`` then pad by top/bottom/left/right."""

    frame_hw: tuple[int, int]
    input_hw: tuple[int, int]
    resized_wh: tuple[int, int]
    top: int
    bottom: int
    left: int
    right: int

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Input pixels per frame pixel along x and y (they differ by rounding only)."""
        return self.resized_wh[0] / self.frame_hw[1], self.resized_wh[1] / self.frame_hw[0]

    def boxes_to_frame(self, xyxy: FloatArray) -> FloatArray:
        """Map boxes from network-input pixels to frame pixels, clipped to the frame (in place)."""
        sx, sy = self.scale_xy
        xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - self.left) / sx
        xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - self.top) / sy
        h, w = self.frame_hw
        xyxy[:, 0] = xyxy[:, 0].clip(0, w)
        xyxy[:, 2] = xyxy[:, 2].clip(0, w)
        xyxy[:, 1] = xyxy[:, 1].clip(0, h)
        xyxy[:, 3] = xyxy[:, 3].clip(0, h)
        return xyxy

    def apply(self, image: UInt8Array) -> UInt8Array:
        """Resize and pad a BGR frame into the network's input size (still HWC uint8 BGR)."""
        if image.shape[:2] != self.frame_hw:
            raise ValueError(f"frame is {image.shape[:2]}, letterbox was made for {self.frame_hw}")
        resized: np.ndarray[Any, Any] = image
        if (image.shape[1], image.shape[0]) != self.resized_wh:
            resized = cv2.resize(image, self.resized_wh, interpolation=cv2.INTER_LINEAR)
        if self.top or self.bottom or self.left or self.right:
            resized = cv2.copyMakeBorder(
                resized,
                self.top,
                self.bottom,
                self.left,
                self.right,
                cv2.BORDER_CONSTANT,
                value=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
            )
        return np.asarray(resized, dtype=np.uint8)


def make_letterbox(
    frame_hw: tuple[int, int],
    imgsz: int,
    stride: int = 32,
    fixed_input_hw: tuple[int, int] | None = None,
) -> Letterbox:
    """Geometry for ``frame_hw``: the minimal stride-aligned rectangle, or ``fixed_input_hw`` (static)."""
    h0, w0 = frame_hw
    target_h, target_w = fixed_input_hw or (imgsz, imgsz)
    r = min(target_h / h0, target_w / w0)
    new_w, new_h = max(round(w0 * r), 1), max(round(h0 * r), 1)
    dw, dh = target_w - new_w, target_h - new_h
    if fixed_input_hw is None:  # minimum rectangle
        dw, dh = dw % stride, dh % stride
    half_w, half_h = dw / 2, dh / 2
    top, bottom = round(half_h - 0.1), round(half_h + 0.1)
    left, right = round(half_w - 0.1), round(half_w + 0.1)
    input_hw = (new_h + top + bottom, new_w + left + right)
    return Letterbox(frame_hw, input_hw, (new_w, new_h), top, bottom, left, right)


def to_tensor(letterboxed: UInt8Array, out: FloatArray) -> None:
    """BGR HWC uint8 -> RGB CHW float32 in [0, 1], written into ``out`` (a slice of the batch buffer)."""
    rgb_chw = letterboxed[:, :, ::-1].transpose(2, 0, 1)
    np.multiply(rgb_chw, np.float32(1.0 / 255.0), out=out, casting="unsafe")


def proto_scale(input_hw: tuple[int, int], proto_hw: tuple[int, int]) -> float:
    """Input pixels per prototype pixel (4 for YOLOv8-seg); checked to be the same on both axes."""
    sy, sx = input_hw[0] / proto_hw[0], input_hw[1] / proto_hw[1]
    if not math.isclose(sy, sx):
        raise ValueError(f"prototype grid {proto_hw} does not match input {input_hw}")
    return sy
