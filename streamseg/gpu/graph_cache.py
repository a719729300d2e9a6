"""Bodies captured as CUDA graphs by key, replayed; bounded by a memory budget; and a way round every
failure (``--cuda-graphs auto|on|off``).

Why a cache with a policy rather than "capture once, replay forever":

* **Keys multiply** (bucket x letterbox x candidate slots x capacity), and one detect graph's outputs
  alone hold (B, k, k) suppression matrices (268 MB at k = 2048, B = 16). The cache evicts the least
  recently replayed graphs past its byte budget (``gpu.budget``); an evicted graph, its outputs and
  what it kept alive are dropped once the work queued so far is done, and its pool goes back to the
  allocator (each graph has its own, ``gpu.graphs``).
* **A capture or a replay can fail on a user's GPU** in ways no CPU test shows. With ``auto`` the
  first failure of a body (its capture raised, its first replay raised, or its first replay disagreed
  with the same body run eagerly) logs one line naming the body and why, and that body runs eagerly
  from then on, with the same results. ``on`` makes it an error (``GraphError``), ``off`` never
  captures. Every new graph's first replay is checked against an eager run: one extra run and one
  wait per new key, never per batch.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar, cast

from streamseg.errors import GpuError
from streamseg.gpu import trace
from streamseg.gpu.graphs import CapturedGraph, Capturer, EmulatedCapturer, first_replay_problem

logger = logging.getLogger(__name__)
T = TypeVar("T")
MODES = ("auto", "on", "off")
MAX_GRAPHS = 64  # a bound besides the bytes: each graph also costs driver memory the pool does not show


class GraphError(GpuError):
    """A graph failed with ``--cuda-graphs on``: the run stops, saying which body and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "graph capture")


class GraphCache:
    """Captured bodies by (name, key): replayed, checked once, evicted past ``budget_bytes``.

    ``capturer`` None: graphs are off and ``run`` simply calls the body (the CPU, ``--cuda-graphs off``).
    """

    def __init__(
        self, capturer: Capturer | None, mode: str = "auto", budget_bytes: int | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"cuda graphs mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.capturer = capturer if mode != "off" else None
        self.mode = mode
        self.budget_bytes = budget_bytes
        self.captures = 0
        self.evictions = 0
        self.eager_bodies: dict[str, str] = {}  # body name -> why it runs eagerly now
        self._graphs: OrderedDict[tuple[str, Hashable], CapturedGraph[Any]] = OrderedDict()
        self._retiring: list[tuple[Any, CapturedGraph[Any]]] = []  # evicted, maybe still being replayed
        self._serials = itertools.count(1)

    @classmethod
    def emulated(cls, mode: str = "auto", budget_bytes: int | None = None) -> GraphCache:
        """Graphs "captured" and "replayed" on any device (CPU tests of the static-output handling)."""
        return cls(EmulatedCapturer(), mode, budget_bytes)

    @property
    def enabled(self) -> bool:
        """Whether bodies may be captured at all (some may still run eagerly: ``eager_bodies``)."""
        return self.capturer is not None

    @property
    def nbytes(self) -> int:
        return sum(g.nbytes for g in self._graphs.values())

    def slots(self) -> Iterator[tuple[str, Hashable]]:
        return iter(list(self._graphs))

    def serial(self, name: str, key: Hashable) -> int | None:
        """The serial of the cached graph of (``name``, ``key``); None when that body is not a graph
        (a graph reading its outputs must then not be one either: they are fresh every batch)."""
        record = self._graphs.get((name, key))
        return record.serial if record is not None and name not in self.eager_bodies else None

    def run(self, name: str, key: Hashable, body: Callable[[], T], after: Iterable[int] = ()) -> T:
        """``body()``'s outputs: replayed from the graph of (``name``, ``key``), captured now if new.

        ``after``: serials of the graphs whose outputs the body reads; retiring one retires this too."""
        with trace.body(name):
            capturer = self.capturer
            if capturer is None or name in self.eager_bodies:
                return body()
            self._collect_retired()
            slot = (name, key)
            record = cast("CapturedGraph[T] | None", self._graphs.get(slot))
            if record is not None:
                self._graphs.move_to_end(slot)
                try:
                    return capturer.replay(record, body)
                except Exception as exc:
                    return self._give_up(name, "a replay failed", exc, body)
            try:
                record = capturer.capture(name, body)
            except Exception as exc:
                return self._give_up(name, "its capture failed", exc, body)
            self.captures += 1
            record.serial, record.after = next(self._serials), frozenset(after)
            self._graphs[slot] = record
            logger.info("captured the %s graph for %s (%.1f MB)", name, key, record.nbytes / 1e6)
            return self._first_replay(capturer, slot, record, body)

    def forget(self, keep: Callable[[str, Hashable], bool]) -> None:
        """Drop the graphs ``keep(name, key)`` refuses (keys that can never come back)."""
        for slot in [s for s in self._graphs if not keep(*s)]:
            self._retire(slot)

    def clear(self) -> None:
        for slot in list(self._graphs):
            self._retire(slot)
        self._retiring.clear()

    # ------------------------------------------------------------------ internals
    def _first_replay(
        self,
        capturer: Capturer,
        slot: tuple[str, Hashable],
        record: CapturedGraph[T],
        body: Callable[[], T],
    ) -> T:
        """Replay a new graph and compare with the body run eagerly; keep it only if they agree."""
        if not capturer.verify_first_replay:
            self._evict_past_budget(keep=slot)
            return capturer.replay(record, body)
        try:
            replayed = capturer.replay(record, body)
            eager = body()
            capturer.synchronize()
            problem = first_replay_problem(replayed, eager)
        except Exception as exc:
            self._retire(slot)
            return self._give_up(record.name, "its first replay failed", exc, body)
        if problem is not None:
            self._retire(slot)
            why = f"its first replay disagreed with the eager run ({problem})"
            return self._give_up(record.name, why, None, body, eager)
        self._evict_past_budget(keep=slot)
        return replayed

    def _give_up(
        self, name: str, why: str, exc: BaseException | None, body: Callable[[], T], eager: Any = None
    ) -> T:
        """``auto``: one line, the body runs eagerly from now on; ``on``: the run stops."""
        detail = f"{why}: {_one_line(exc)}" if exc is not None else why
        if self.mode == "on":
            raise GraphError(
                f"CUDA graph of the {name} step: {detail} (--cuda-graphs auto runs that step eagerly instead)"
            ) from exc
        self.eager_bodies[name] = detail
        logger.warning(
            "CUDA graph of the %s step turned off, %s; it runs eagerly from now on, with the same results",
            name,
            detail,
        )
        for slot in [s for s in self._graphs if s[0] == name]:
            self._retire(slot)
        return cast("T", eager) if eager is not None else body()

    def _evict_past_budget(self, keep: tuple[str, Hashable]) -> None:
        """Least recently replayed first, never ``keep`` (the graph this batch is using)."""

        def over() -> bool:
            too_many = len(self._graphs) > MAX_GRAPHS
            return too_many or (self.budget_bytes is not None and self.nbytes > self.budget_bytes)

        while over() and len(self._graphs) > 1:
            oldest = next(s for s in self._graphs if s != keep)
            self.evictions += 1
            logger.info("freeing the %s graph for %s (graph memory budget)", *oldest)
            self._retire(oldest)

    def _retire(self, slot: tuple[str, Hashable]) -> None:
        """Out of the cache now; dropped (graph, outputs, what it kept alive) once queued work is done."""
        record = self._graphs.pop(slot, None)
        if record is None:
            return
        for dependent in [s for s, r in self._graphs.items() if record.serial in r.after]:
            self._retire(dependent)
        token = self.capturer.retire_after_queued_work() if self.capturer is not None else None
        if token is not None:
            self._retiring.append((token, record))

    def _collect_retired(self) -> None:
        """Free the retired graphs whose last replay has finished (an event query, no wait)."""
        if self._retiring:
            self._retiring = [(t, r) for t, r in self._retiring if not bool(t.query())]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
