"""The two values that flow through the pipeline: a captured ``Frame`` and its ``SegResult``.

Masks are kept as per-instance crops (the box region only) for as long as possible: a 720p frame
with 30 people would otherwise carry 30 full-frame bitmaps through every queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
UInt8Array = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
# How a stage reports its time: (stage, seconds, source or None); Telemetry.record_stage is one.
StageRecorder = Callable[[str, float, str | None], None]


class DeviceSurface(Protocol):
    """A decoded picture that stays in accelerator memory (see ``streamseg.gpu.surface``).

    The pipeline never needs it on the host; ``to_host_bgr`` is there for whoever asks for
    ``Frame.image`` (the Python API, the dashboard preview).
    """

    @property
    def frame_hw(self) -> tuple[int, int]: ...

    def to_host_bgr(self) -> UInt8Array: ...


class Frame:
    """One decoded picture and where/when it came from.

    ``pts`` is the presentation timestamp in seconds read from the stream (never derived from an
    assumed fps); ``capture_time`` is ``time.monotonic()`` when the frame left the decoder. A folder
    of images is one source whose frames each carry their ``file_name``.

    The picture is either ``image`` (host, (H, W, 3) uint8 BGR) or ``surface`` (decoded on the GPU and
    kept there). For a surface frame ``image`` is made on first use (converted on the device, copied
    down once, kept), so the Python API is the same for both. Once its result was handed to the
    consumer, a device frame may be moved to the host when device memory is short (``spill``):
    ``surface`` becomes None and ``image`` holds the picture.
    """

    # __weakref__: handed-over frames are listed weakly (``gpu.spill``), never kept alive by the list
    __slots__ = (
        "__weakref__",
        "_image",
        "_lock",
        "capture_time",
        "file_name",
        "index",
        "inference",
        "motion",
        "pts",
        "source",
        "surface",
    )

    def __init__(
        self,
        source: str,
        index: int,
        pts: float,
        capture_time: float,
        image: UInt8Array | None = None,
        *,
        surface: DeviceSurface | None = None,
        file_name: str | None = None,
    ) -> None:
        """``file_name``: still images, the picture's own name (the "source" of its results)."""
        if (image is None) == (surface is None):
            raise ValueError("a Frame needs exactly one of image (host) or surface (device)")
        if image is not None and (image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8):
            raise ValueError(f"Frame.image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
        self.source = source
        self.index = index
        self.pts = pts
        self.capture_time = capture_time
        self.surface = surface
        self.file_name = file_name
        # which frames the network sees (``pipeline/selection``): "inferred", or "carried"/"still" (the
        # frame carries an earlier result); and the share of the picture that moved, when measured
        self.inference = "inferred"
        self.motion: float | None = None
        self._image = image
        self._lock = threading.Lock()

    @property
    def image(self) -> UInt8Array:
        """(H, W, 3) uint8 BGR on the host; for a device frame, downloaded on first use."""
        image = self._image
        if image is None:
            with self._lock:
                if self._image is None and self.surface is not None:
                    self._image = self.surface.to_host_bgr()
                image = self._image
            if image is None:
                raise RuntimeError("frame has no picture")
        return image

    def spill(self) -> bool:
        """Move a device picture to the host: ``image`` downloaded (once), the surface let go, so its
        device memory is freed when nothing else holds it. False when it was on the host already.

        For frames whose results were handed over and device memory is short (``gpu.spill``)."""
        with self._lock:
            surface = self.surface
            if surface is None:
                return False
            if self._image is None:
                self._image = surface.to_host_bgr()
            self.surface = None
        return True

    @property
    def on_device(self) -> bool:
        """True while the picture lives only in accelerator memory."""
        return self._image is None

    @property
    def frame_hw(self) -> tuple[int, int]:
        """(height, width) without touching the picture's memory."""
        if self._image is not None:
            return int(self._image.shape[0]), int(self._image.shape[1])
        if self.surface is None:
            raise RuntimeError("frame has no picture")
        return self.surface.frame_hw

    @property
    def resolution_wh(self) -> tuple[int, int]:
        h, w = self.frame_hw
        return w, h

    def replace(self, **changes: Any) -> Frame:
        """A copy with some fields changed (``image=`` replaces the picture with a host one)."""
        values: dict[str, Any] = {
            "source": self.source,
            "index": self.index,
            "pts": self.pts,
            "capture_time": self.capture_time,
            "file_name": self.file_name,
        }
        if "image" in changes:
            values["image"] = changes.pop("image")
        elif self._image is not None:
            values["image"] = self._image
        else:
            values["surface"] = self.surface
        unknown = set(changes) - {"source", "index", "pts", "capture_time", "file_name"}
        if unknown:
            raise TypeError(f"Frame has no field(s) {', '.join(sorted(unknown))}")
        values.update(changes)
        copy = Frame(**values)
        copy.inference, copy.motion = self.inference, self.motion
        return copy

    def __repr__(self) -> str:
        where = "device" if self.on_device else "host"
        h, w = self.frame_hw
        return f"Frame({self.source!r}, index={self.index}, pts={self.pts:.3f}, {w}x{h} on {where})"


class InstanceMasks:
    """Binary masks stored as crops: ``crops[i]`` covers ``origins[i]`` (x0, y0) onward in the frame.

    Crops made on a GPU are copied to the host only when someone reads them (``deferred``): when
    only boxes are needed (recording, metrics) the masks never cross the bus.
    """

    __slots__ = ("_crops", "_fetch", "_lock", "frame_hw", "origins")

    def __init__(
        self,
        crops: tuple[BoolArray, ...],
        origins: npt.NDArray[np.int32],
        frame_hw: tuple[int, int],
    ) -> None:
        if origins.shape != (len(crops), 2):
            raise ValueError(f"origins must be ({len(crops)}, 2), got {origins.shape}")
        self._crops: tuple[BoolArray, ...] | None = crops
        self._fetch: Callable[[], tuple[BoolArray, ...]] | None = None
        self._lock = threading.Lock()
        self.origins = origins
        self.frame_hw = frame_hw

    @classmethod
    def deferred(
        cls,
        origins: npt.NDArray[np.int32],
        frame_hw: tuple[int, int],
        fetch: Callable[[], tuple[BoolArray, ...]],
    ) -> InstanceMasks:
        """Masks whose crops ``fetch`` produces on first access (one crop per row of ``origins``)."""
        if origins.ndim != 2 or origins.shape[1] != 2:
            raise ValueError(f"origins must be (N, 2), got {origins.shape}")
        masks = cls((), np.zeros((0, 2), np.int32), frame_hw)
        masks._crops = None
        masks._fetch = fetch
        masks.origins = origins
        return masks

    @classmethod
    def empty(cls, frame_hw: tuple[int, int]) -> InstanceMasks:
        return cls((), np.zeros((0, 2), np.int32), frame_hw)

    @property
    def crops(self) -> tuple[BoolArray, ...]:
        crops = self._crops
        if crops is None:
            with self._lock:
                if self._crops is None and self._fetch is not None:
                    fetched = tuple(self._fetch())
                    if len(fetched) != len(self.origins):
                        raise RuntimeError(f"expected {len(self.origins)} mask crops, got {len(fetched)}")
                    self._crops, self._fetch = fetched, None
                crops = self._crops
        return crops if crops is not None else ()

    @property
    def on_host(self) -> bool:
        """False while the crops are still only in accelerator memory."""
        return self._crops is not None

    def __len__(self) -> int:
        return len(self.origins)

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
        if len(self) == 0:
            return np.zeros((0, h, w), dtype=bool)
        return np.stack([self.full(i) for i in range(len(self))])

    def areas(self) -> IntArray:
        return np.array([int(c.sum()) for c in self.crops], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class ZoneMark:
    """A zone as drawn on a frame: its polygon in pixels and how many objects are in it."""

    name: str
    polygon: FloatArray  # (K, 2)
    count: int


@dataclass(frozen=True, slots=True)
class LineMark:
    """A counting line as drawn on a frame, with its crossings so far."""

    name: str
    start: tuple[float, float]
    end: tuple[float, float]
    crossed_in: int
    crossed_out: int


@dataclass(frozen=True, slots=True)
class SceneMarks:
    """The zones and lines of a frame's source, for whoever draws the frame."""

    zones: tuple[ZoneMark, ...] = ()
    lines: tuple[LineMark, ...] = ()


@dataclass(frozen=True, slots=True)
class PrivacyMarks:
    """What privacy hid in a frame (``streamseg.privacy``): which of its instances, how many objects it
    hid where they were last seen or predicted (``ghosts``: missed by the model, or a frame without
    inference), and whether the whole frame was hidden (no inference for longer than ``max_gap``)."""

    hidden: BoolArray  # (N,) one per instance of the result
    ghosts: int = 0
    full_frame: bool = False


INFERENCE_KINDS = ("inferred", "carried", "still")  # how a frame got its result


@dataclass(frozen=True, slots=True)
class SegResult:
    """Everything found in one frame: boxes in original-frame pixels, classes, scores, masks; with
    tracking, each instance's ``track_id`` (-1: not a confirmed track), and the frame's ``events``."""

    frame: Frame
    xyxy: FloatArray  # (N, 4)
    class_id: IntArray  # (N,)
    score: FloatArray  # (N,)
    masks: InstanceMasks
    class_names: Sequence[str]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    inference_time: float = 0.0  # time.monotonic() when postprocessing finished
    track_id: IntArray = None  # type: ignore[assignment]  # (N,); None given: all -1 (no tracking)
    events: tuple[Mapping[str, Any], ...] = ()  # as JSON objects (streamseg.scene.events)
    scene: SceneMarks | None = None  # the source's zones and lines, for drawing
    privacy: PrivacyMarks | None = None  # what was hidden (its frame is the hidden picture)
    # "inferred": the network saw this frame; "carried"/"still": it carries an earlier frame's result
    inference: str = "inferred"

    def __post_init__(self) -> None:
        n = len(self.class_id)
        if self.xyxy.shape != (n, 4) or self.score.shape != (n,) or len(self.masks) != n:
            raise ValueError(
                f"inconsistent SegResult: xyxy {self.xyxy.shape}, class_id {self.class_id.shape}, "
                f"score {self.score.shape}, masks {len(self.masks)}"
            )
        if self.track_id is None:
            object.__setattr__(self, "track_id", np.full(n, -1, dtype=np.int64))
        elif self.track_id.shape != (n,):
            raise ValueError(f"inconsistent SegResult: track_id {self.track_id.shape} for {n} instances")
        if self.inference not in INFERENCE_KINDS:
            raise ValueError(f"SegResult.inference must be one of {INFERENCE_KINDS}, got {self.inference!r}")

    @property
    def colour_keys(self) -> IntArray:
        """What picks each instance's colour: its track when it has one (so an object keeps its colour
        while it is followed), else its class."""
        keys: IntArray = np.where(self.track_id >= 0, self.track_id, self.class_id)
        return keys

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
