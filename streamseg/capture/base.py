"""What every capture source looks like to the pipeline: a ``FrameSource`` and its ``SourceStats``.

A source is opened once, read from one thread until ``read()`` returns ``None`` (end of stream) or
raises a ``SourceError``, then closed. ``SourceBase`` adds the context-manager and iterator plumbing so
each concrete source only implements ``open``/``read``/``close``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, TypeVar, runtime_checkable

from streamseg.types import Frame

_S = TypeVar("_S", bound="SourceBase")


@dataclass
class SourceStats:
    """Counters the reader thread updates; telemetry reads them from other threads (plain ints, no lock)."""

    frames_decoded: int = 0
    decode_errors: int = 0  # packets the decoder rejected, plus demux failures
    damaged_frames: int = 0  # frames delivered but flagged corrupt by the decoder (concealed errors)
    decode_seconds: float = 0.0  # wall time spent inside read(), for decode-FPS telemetry

    @property
    def decode_fps(self) -> float:
        return self.frames_decoded / self.decode_seconds if self.decode_seconds > 0 else 0.0


class FrameGate(Protocol):
    """What a live source asks its pipeline before spending work on a frame (the latency ladder,
    ``pipeline/governor.py``); one gate per source, asked from its capture thread only."""

    def admits(self, index: int) -> bool:
        """Whether the decoded frame about to be numbered ``index`` will be used. One that is not is
        passed over before colour conversion: it keeps its number and never leaves the source."""
        ...

    @property
    def skip_frame(self) -> str:
        """What the decoder may leave undecoded now (FFmpeg's ``skip_frame``, ``SKIP_MODES``)."""
        ...


SkipMode = Literal["DEFAULT", "NONREF", "NONKEY"]
SKIP_MODES: tuple[SkipMode, ...] = ("DEFAULT", "NONREF", "NONKEY")  # all / no non-reference / keyframes only


@runtime_checkable
class GatedSource(Protocol):
    """A source that can ask a ``FrameGate`` itself (a PyAV stream, and ``LiveSource`` around one)."""

    def set_gate(self, gate: FrameGate | None) -> None: ...


@runtime_checkable
class FrameSource(Protocol):
    """A video input. Properties beyond ``name``/``uri``/``is_live`` are only meaningful after ``open()``."""

    @property
    def name(self) -> str: ...

    @property
    def uri(self) -> str: ...

    @property
    def is_live(self) -> bool: ...

    @property
    def frame_count(self) -> int | None:
        """Expected number of decoded frames, for progress bars only; ``None`` when unknown (live)."""
        ...

    @property
    def nominal_fps(self) -> float | None:
        """The container's / camera's advertised rate; a hint for writers, never used for timestamps."""
        ...

    @property
    def resolution_wh(self) -> tuple[int, int]:
        """(width, height) of the frames; ``(0, 0)`` until known (after ``open()``, or the first read)."""
        ...

    @property
    def stats(self) -> SourceStats: ...

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SourceBase:
    """Shared plumbing: the properties every source derives the same way, ``with source:`` opens
    (idempotently) and closes, iterating yields frames."""

    _name: str
    _uri: str
    _stats: SourceStats
    _resolution: tuple[int, int] | None = None  # known once opened

    @property
    def name(self) -> str:
        return self._name

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def resolution_wh(self) -> tuple[int, int]:
        return self._resolution or (0, 0)

    @property
    def stats(self) -> SourceStats:
        return self._stats

    @property
    def draining(self) -> bool:
        """True once the input is gone and ``read`` only hands out frames still inside the decoder."""
        return False

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame
