"""Events: what a camera owner acts on, as small JSON objects.

Every event has ``type``, ``source``, ``pts`` (the frame's stream time), ``time`` (wall clock, UTC, when
the frame was captured), ``track_id``, ``track_session`` (changes when a source's tracking starts again,
e.g. a camera moved to another machine: ids restart visibly instead of colliding), ``class_name``,
``score`` and ``xyxy``; ``zone`` or ``line`` (and ``direction``, ``dwell_s``) where they apply;
``snapshot`` when one is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

EVENT_TYPES = ("appeared", "left", "entered", "exited", "loitering", "crossed")
STARTS_OR_ENDS = frozenset({"appeared", "left", "entered", "exited", "crossed", "loitering"})


@dataclass(frozen=True)
class Event:
    type: str
    source: str
    pts: float
    time: float  # seconds since the epoch
    track_id: int
    track_session: str
    class_name: str
    score: float
    xyxy: tuple[float, float, float, float]
    extra: dict[str, Any] = field(default_factory=dict)  # zone, line, direction, dwell_s, snapshot

    def to_json(self) -> dict[str, Any]:
        stamp = dt.datetime.fromtimestamp(self.time, tz=dt.timezone.utc)
        return {
            "type": self.type,
            "source": self.source,
            "pts": round(self.pts, 6),
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "track_id": self.track_id,
            "track_session": self.track_session,
            "class_name": self.class_name,
            "score": round(self.score, 4),
            "xyxy": [round(v, 1) for v in self.xyxy],
            **self.extra,
        }
