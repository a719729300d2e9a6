"""The two values that flow through the pipeline: a captured ``Frame`` and its ``SegResult``.

Masks are kept as per-instance crops (the box region only) for as long as possible: a 720p frame
with 30 people would otherwise carry 30 full-frame bitmaps through every queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
UInt8Array = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture and where/when it came from.

    ``pts`` is the presentation timestamp in seconds read from the stream (never derived from an
    assumed fps); ``capture_time`` is ``time.monotonic()`` when the frame left the decoder. A folder
    of images is one source whose frames each carry their ``file_name``.
    """

    source: str
    index: int
    pts: float
    capture_time: float
    image: UInt8Array  # (H, W, 3) BGR
    file_name: str | None = None  # still images: the picture's own name, the "source" of its results

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"Frame.image must be (H, W, 3) uint8, got {self.image.shape} {self.image.dtype}"
            )

    @property
    def resolution_wh(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class InstanceMasks:
    """Binary masks stored as crops: ``crops[i]`` covers ``origins[i]`` (x0, y0) onward in the frame."""

    crops: tuple[BoolArray, ...]
    origins: npt.NDArray[np.int32]  # (N, 2) x0, y0 of each crop in frame pixels
    frame_hw: tuple[int, int]

    def __post_init__(self) -> None:
        if self.origins.shape != (len(self.crops), 2):
            raise ValueError(f"origins must be ({len(self.crops)}, 2), got {self.origins.shape}")

    @classmethod
    def empty(cls, frame_hw: tuple[int, int]) -> InstanceMasks:
        return cls((), np.zeros((0, 2), np.int32), frame_hw)

    def __len__(self) -> int:
        return len(self.crops)

    def full(self, i: int) -> BoolArray:
        """The i-th mask as a full-frame bitmap (for export and tests; the hot path never needs it)."""
        h, w = self.frame_hw
        out = np.zeros((h, w), dtype=bool)
        x0, y0 = (int(v) for v in self.origins[i])
        crop = self.crops[i]
        out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        return out

    def dense(self) -> BoolArray:
        """All masks as an (N, H, W) stack."""
        h, w = self.frame_hw
        if not self.crops:
            return np.zeros((0, h, w), dtype=bool)
        return np.stack([self.full(i) for i in range(len(self))])

    def areas(self) -> IntArray:
        return np.array([int(c.sum()) for c in self.crops], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class SegResult:
    """Everything found in one frame: boxes in original-frame pixels, classes, scores, masks."""

    frame: Frame
    xyxy: FloatArray  # (N, 4)
    class_id: IntArray  # (N,)
    score: FloatArray  # (N,)
    masks: InstanceMasks
    class_names: Sequence[str]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    inference_time: float = 0.0  # time.monotonic() when postprocessing finished

    def __post_init__(self) -> None:
        n = len(self.class_id)
        if self.xyxy.shape != (n, 4) or self.score.shape != (n,) or len(self.masks) != n:
            raise ValueError(
                f"inconsistent SegResult: xyxy {self.xyxy.shape}, class_id {self.class_id.shape}, "
                f"score {self.score.shape}, masks {len(self.masks)}"
            )

    def __len__(self) -> int:
        return len(self.class_id)

    @property
    def source(self) -> str:
        return self.frame.source

    @property
    def frame_index(self) -> int:
        return self.frame.index

    @property
    def pts(self) -> float:
        return self.frame.pts

    def class_name(self, i: int) -> str:
        cid = int(self.class_id[i])
        return self.class_names[cid] if 0 <= cid < len(self.class_names) else str(cid)
