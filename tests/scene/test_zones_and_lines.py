"""Zones decided by masks (and by anchors when asked), line crossings with hysteresis, and the events a
``SceneWatcher`` makes of them."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from streamseg.config import source_from
from streamseg.config.scene import LineConfig, ZoneConfig
from streamseg.errors import ConfigError
from streamseg.scene import SceneWatcher
from streamseg.scene.crossing import LineCounter
from streamseg.scene.geometry import PixelLine, PixelZone
from streamseg.scene.membership import anchor_points, anchors_inside, mask_shares
from streamseg.scene.tracking import SourceTracker
from streamseg.types import Frame, InstanceMasks, SegResult

W, H = 640, 480
LEFT_HALF = ZoneConfig("left", ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)))


def _masks(*boxes: tuple[int, int, int, int]) -> InstanceMasks:
    crops = tuple(np.ones((y1 - y0, x1 - x0), dtype=bool) for x0, y0, x1, y1 in boxes)
    return InstanceMasks(crops, np.array([[b[0], b[1]] for b in boxes], np.int32).reshape(-1, 2), (H, W))


def test_mask_share_counts_the_pixels_inside() -> None:
    zone = PixelZone.build(LEFT_HALF, (W, H), "test")
    shares = mask_shares(_masks((300, 0, 340, 10), (0, 0, 10, 10), (400, 0, 410, 10)), zone.area)
    np.testing.assert_allclose(shares, [0.5, 1.0, 0.0])
    assert zone.area.sum() == 320 * 480


def test_rasterised_zones_agree_with_a_point_in_polygon_test() -> None:
    """A slanted pentagon: each pixel is in when its centre is (checked against OpenCV's test)."""
    import cv2

    polygon = ((50.5, 40.2), (300.7, 60.1), (280.2, 400.9), (120.3, 300.4), (20.8, 350.6))
    area = PixelZone.build(ZoneConfig("p", polygon), (W, H), "t").area
    contour = np.array(polygon, np.float32).reshape(-1, 1, 2)
    ys, xs = np.mgrid[0:H:7, 0:W:7]
    for y, x in zip(ys.ravel(), xs.ravel(), strict=True):
        distance = cv2.pointPolygonTest(contour, (float(x) + 0.5, float(y) + 0.5), True)
        if abs(distance) > 1e-3:
            assert area[y, x] == (distance > 0), (x, y, distance)


def test_a_person_with_hidden_feet_is_judged_by_the_mask_not_the_anchor() -> None:
    """The zone is the upper band; the box reaches down past it (legs hidden by a counter, say), but the
    visible mask is inside: the mask says in, the bottom-centre anchor says out."""
    band = PixelZone.build(ZoneConfig("band", ((0, 0), (640, 0), (640, 200), (0, 200))), (W, H), "t")
    crop = np.zeros((300, 40), dtype=bool)
    crop[:150] = True  # the upper body
    masks = InstanceMasks((crop,), np.array([[100, 50]], np.int32), (H, W))
    assert mask_shares(masks, band.area)[0] == pytest.approx(1.0)
    xyxy = np.array([[100, 50, 140, 350]], np.float32)
    assert not anchors_inside(anchor_points(xyxy, "bottom-center"), band.area)[0]


def test_pixels_outside_the_frame_are_refused_with_one_line() -> None:
    zone = ZoneConfig("far", ((0, 0), (700, 0), (700, 100)))
    with pytest.raises(ConfigError, match=r"zone far: point \[700, 0\] is outside the 640x480 frame"):
        PixelZone.build(zone, (W, H), "source cam")


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ({"name": "z", "polygon": [[0, 0], [1, 1]]}, "at least 3 points"),
        ({"name": "z", "polygon": [[0, 0], [10, 10], [10, 0], [0, 10]]}, "crosses itself"),
        ({"name": "z", "polygon": [[0, 0], [5, 5], [10, 10]]}, "encloses no area"),
        ({"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "min_overlap": 0}, "min_overlap"),
        ({"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "anchor": "feet"}, "anchor"),
        ({"name": "z", "polygon": [[0, 0], [1, 0], [-1, 1]]}, "outside the frame"),
        ({"name": "a/b", "polygon": [[0, 0], [1, 0], [1, 1]]}, "name"),
    ],
)
def test_bad_zones_are_one_line_errors(zone: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        source_from({"uri": "cam.mp4", "zones": [zone]})


def test_a_zero_length_line_is_refused() -> None:
    with pytest.raises(ConfigError, match="zero length"):
        source_from({"uri": "cam.mp4", "lines": [{"name": "gate", "points": [[5, 5], [5, 5]]}]})


def _counter() -> LineCounter:
    line = PixelLine.build(LineConfig("gate", ((320, 0), (320, 480))), (W, H), "t")
    return LineCounter.for_frame(line, (W, H))


def test_a_crossing_counts_once_per_track_and_direction_despite_jitter() -> None:
    counter = _counter()
    xs = [300, 310, 318, 322, 318, 323, 330, 340, 322, 317, 318, 330, 300, 290]
    events = []
    for x in xs:
        events += [d for _, d in counter.update([7], np.array([[x, 200.0]], np.float32), ["person"])]
    # right of x=320 is the negative side of (0, 480) x (p - a): moving left to right is "out"
    assert events == ["out", "in"]
    assert counter.totals == {("out", "person"): 1, ("in", "person"): 1}


def test_going_round_the_end_of_a_line_is_not_a_crossing() -> None:
    line = PixelLine.build(LineConfig("short", ((320, 0), (320, 100))), (W, H), "t")
    counter = LineCounter.for_frame(line, (W, H))
    crossed = [counter.update([1], np.array([[x, 300.0]], np.float32), ["car"]) for x in (300, 340)]
    assert crossed == [[], []]


def _result(frame_index: int, boxes: list[tuple[int, int, int, int]], pts: float) -> SegResult:
    frame = Frame("cam", frame_index, pts, time.monotonic(), np.zeros((H, W, 3), np.uint8))
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    return SegResult(
        frame, xyxy, np.zeros(n, np.int64), np.full(n, 0.9, np.float32), _masks(*boxes), ["person"]
    )


def test_a_walk_through_a_zone_and_over_a_line_makes_every_event_once() -> None:
    zone = ZoneConfig("left", LEFT_HALF.polygon, loiter_seconds=0.5)
    line = LineConfig("gate", ((0.5, 0.0), (0.5, 1.0)))
    watcher = SceneWatcher("cam", (zone,), (line,), SourceTracker(lost_s=0.5), frame_wh=(W, H))
    kinds: list[tuple[str, dict[str, object]]] = []
    xs = [100 + 10 * i for i in range(45)]  # from inside the left half to well outside it
    for i, x in enumerate(xs):
        _, _, events = watcher.observe(_result(i, [(x, 100, x + 40, 200)], i / 30))
        kinds += [(e.type, e.extra) for e in events]
    for i in range(45, 70):  # gone: after 0.5 s the track ends
        _, _, events = watcher.observe(_result(i, [], i / 30))
        kinds += [(e.type, e.extra) for e in events]
    types = [k for k, _ in kinds]
    assert types == ["appeared", "entered", "loitering", "crossed", "exited", "left"], kinds
    exited = dict(kinds)["exited"]
    assert exited["zone"] == "left" and 0.5 < float(exited["dwell_s"]) < 1.0  # type: ignore[arg-type]
    assert dict(kinds)["crossed"] == {"line": "gate", "direction": "out"}
    assert watcher.line_totals == {"gate": {("out", "person"): 1}}


def test_zone_counts_by_class_and_the_end_of_a_source() -> None:
    watcher = SceneWatcher("cam", (LEFT_HALF,), (), SourceTracker(), frame_wh=(W, H))
    for i in range(3):
        watcher.observe(_result(i, [(10, 10, 50, 50), (100, 100, 140, 140), (500, 10, 540, 50)], i / 30))
    assert [(c.zone, c.by_class, c.total) for c in watcher.zone_counts] == [("left", {"person": 2}, 2)]
    ended = watcher.end(3 / 30)
    assert sorted(e.type for e in ended) == ["exited", "exited", "left", "left", "left"]
    assert {e.to_json()["track_session"] for e in ended} == {watcher.session}


def test_tracking_early_gives_the_ids_and_events_of_tracking_in_turn() -> None:
    """The device path tracks a batch's frames as soon as their boxes are down (its overlay colours by
    track), a few frames ahead of the render thread's ``observe``: the ids and events are the same, and
    a track that ends is reported on the frame where it ended, not when the tracker got ahead."""
    zone = ZoneConfig("left", LEFT_HALF.polygon)
    line = LineConfig("gate", ((0.5, 0.0), (0.5, 1.0)))
    walks = [[(100 + 10 * i, 100, 140 + 10 * i, 200)] if i < 40 else [] for i in range(70)]
    results = [_result(i, boxes, i / 30) for i, boxes in enumerate(walks)]

    def watched(ahead: int) -> list[tuple[list[int], list[str]]]:
        watcher = SceneWatcher("cam", (zone,), (line,), SourceTracker(lost_s=0.5), frame_wh=(W, H))
        out, early = [], 0
        for i in range(len(results)):
            while ahead and early < min(len(results), i + ahead):  # the inference thread, ahead
                r = results[early]
                ids = watcher.track_early(r.frame, r.xyxy, r.score, r.class_id)
                results[early] = dataclasses.replace(r, track_id=ids)
                early += 1
            _, ids, events = watcher.observe(results[i])
            out.append(([int(t) for t in ids], [e.type for e in events]))
        return out

    in_turn = watched(0)
    results[:] = [_result(i, boxes, i / 30) for i, boxes in enumerate(walks)]
    assert watched(4) == in_turn
    assert [t for _, kinds in in_turn for t in kinds] == ["appeared", "entered", "crossed", "exited", "left"]
