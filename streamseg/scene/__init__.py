"""What happens in each source's scene: identities kept across frames (``tracking``), zones and lines
in pixels (``geometry``), who is in a zone by their mask (``membership``), line crossings
(``crossing``), zone occupancy and dwell (``occupancy``), and the events that come of it (``events``,
``watch``). One ``SceneWatcher`` per source, fed in frame order by the render thread."""

from __future__ import annotations

from streamseg.scene.events import EVENT_TYPES, Event
from streamseg.scene.watch import SceneWatcher, ZoneCount

__all__ = ["EVENT_TYPES", "Event", "SceneWatcher", "ZoneCount"]
