"""Small shared helpers: checking the canvas and turning float boxes into clipped pixel corners."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streamseg.types import FloatArray, UInt8Array

IntBoxes = npt.NDArray[np.int32]


def check_scene(scene: UInt8Array) -> None:
    """Annotators draw in place, so the canvas must be a writable (H, W, 3) uint8 array."""
    if scene.ndim != 3 or scene.shape[2] != 3 or scene.dtype != np.uint8:
        raise ValueError(f"scene must be (H, W, 3) uint8, got {scene.shape} {scene.dtype}")
    if not scene.flags.writeable:
        raise ValueError("scene is read-only; annotators draw in place, pass a writable copy")


def pixel_boxes(xyxy: FloatArray, width: int, height: int) -> IntBoxes:
    """(N, 4) int x0, y0, x1, y1 clipped to the last valid pixel, so cv2 never draws off-canvas."""
    if len(xyxy) == 0:
        return np.zeros((0, 4), np.int32)
    boxes = np.rint(np.nan_to_num(np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)))
    np.clip(boxes[:, 0::2], 0, width - 1, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height - 1, out=boxes[:, 1::2])
    return boxes.astype(np.int32)
