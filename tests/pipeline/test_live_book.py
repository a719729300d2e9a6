"""Issue 30, item 1: live viewers are bounded per source as well as overall, so viewers of one source
(stuck tabs, or someone holding slots on purpose) cannot take every other source's."""

from __future__ import annotations

from streamseg.pipeline.live import LiveBook


def test_one_source_cannot_take_every_slot() -> None:
    book = LiveBook(max_viewers=4, max_per_source=2)
    for source in ("door", "yard", "road"):
        book.add(source)
    door = [book.join("door", lambda: None) for _ in range(2)]
    assert all(door)
    assert book.join("door", lambda: None) is None  # the source's own bound
    assert book.full("door") == "dashboard.live_viewers_per_source"
    yard = [book.join("yard", lambda: None) for _ in range(2)]  # other sources still get in
    assert all(yard)
    assert book.join("road", lambda: None) is None  # ... up to the overall bound
    assert book.full("road") == "dashboard.live_viewers"
    assert book.refused == 2
    viewer = door[0]
    assert viewer is not None
    book.leave(viewer)
    assert book.full("road") is None and book.join("road", lambda: None) is not None
    status = book.status()
    assert (status["max_viewers"], status["max_per_source"], status["refused"]) == (4, 2, 2)
    assert {name: s["viewers"] for name, s in status["sources"].items()} == {"door": 1, "yard": 2, "road": 1}


def test_the_smaller_bound_holds() -> None:
    book = LiveBook(max_viewers=2, max_per_source=8)  # a per-source bound above the total is the total
    book.add("door")
    assert book.join("door", lambda: None) and book.join("door", lambda: None)
    assert book.join("door", lambda: None) is None and book.full("door") == "dashboard.live_viewers"
