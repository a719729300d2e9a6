"""Event clips cut from the encoded stream: they start at a keyframe at least the pre-roll before the
trigger, end the post-roll after the last trigger, extend when triggers overlap, and play."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import pytest

from streamseg.errors import OutputError
from streamseg.record.clips import ClipRecorder
from streamseg.record.packets import EncodedPacket, PacketRing
from streamseg.record.writer import TIME_BASE, VideoWriter
from streamseg.testing.media import synthetic_frame

FPS = 30
SECOND = TIME_BASE.denominator


def _encode(clips: ClipRecorder, frames: int, triggers: dict[int, str]) -> list[str | None]:
    """Encode ``frames`` frames (no file: packets only), triggering at the given frame numbers."""
    named = []
    writer = VideoWriter(None, fps_hint=FPS, packets=clips.packets)
    clips.attach(writer)
    for i in range(frames):
        if i in triggers:
            named.append(clips.trigger(i / FPS, triggers[i]))
        writer.write(synthetic_frame(i, 160, 96), i / FPS)
    writer.close()
    clips.close()
    return named


def _times(path: Path) -> tuple[list[float], bool]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return [float(f.pts * stream.time_base) for f in frames], frames[0].key_frame


def test_a_clip_has_its_pre_roll_and_post_roll(tmp_path: Path) -> None:
    clips = ClipRecorder(tmp_path, "door", pre_roll_s=1.0, post_roll_s=1.0)
    [name] = _encode(clips, 6 * FPS, {3 * FPS: "entered"})
    assert name is not None and Path(name).parent == tmp_path / "door" and name.endswith("-entered.mp4")
    assert clips.written == [Path(name)]
    times, starts_with_key = _times(Path(name))
    assert starts_with_key and times[0] == 0.0
    # a keyframe every second: the clip starts at the one 1 s (or up to one interval more) before 3 s
    assert 2.0 - 1e-6 <= len(times) / FPS <= 3.05, len(times)
    assert times == sorted(times) and all(
        b - a == pytest.approx(1 / FPS, abs=1e-3) for a, b in itertools.pairwise(times)
    )


def test_overlapping_triggers_extend_one_clip_and_later_ones_start_another(tmp_path: Path) -> None:
    clips = ClipRecorder(tmp_path, "door", pre_roll_s=0.5, post_roll_s=1.0)
    names = _encode(clips, 10 * FPS, {60: "entered", 75: "crossed", 240: "left"})
    assert names[0] == names[1] != names[2]
    first, _ = _times(Path(names[0] or ""))
    assert first[-1] >= (75 - 60) / FPS + 1.0  # ran to the post-roll after the second trigger
    assert len(clips.written) == 2


def test_the_ring_keeps_the_pre_roll_back_to_a_keyframe_and_no_more() -> None:
    ring = PacketRing(keep_ticks=2 * SECOND)
    for i in range(10 * FPS):
        ring.add(EncodedPacket(b"x" * 100, i * SECOND // FPS, i * SECOND // FPS, i % FPS == 0))
    held = ring.since(0)
    assert held[0].keyframe and held[0].pts <= (10 * FPS - 1) * SECOND // FPS - 2 * SECOND
    assert len(ring) <= 3 * FPS + 1 and ring.nbytes == 100 * len(ring)


def test_an_unwritable_clip_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="--clips: cannot write"):
        ClipRecorder(blocker, "door", 1.0, 1.0)


# Issue 30, items 4 and 9: '..' once wrote clips into the parent of --clips (never swept), and names in
# other scripts all wrote into clips/_; a link planted in the folder is not followed out of it.


def test_every_name_clips_inside_the_folder_and_apart(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "clips"
    made = [ClipRecorder(folder, name, 1.0, 1.0).folder for name in ("..", ".", "кухня", "двор")]
    assert made == [folder / "__", folder / "_", folder / "кухня", folder / "двор"]
    clips = ClipRecorder(folder, "..", pre_roll_s=0.5, post_roll_s=0.5)
    [name] = _encode(clips, 2 * FPS, {FPS: "entered"})
    assert name is not None and Path(name).parent == folder / "__" and Path(name).is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clips"]


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "door").symlink_to(tmp_path)
    with pytest.raises(OutputError, match=r"--clips: refusing to write .* it leads out of"):
        ClipRecorder(folder, "door", 1.0, 1.0)


def test_an_event_on_the_first_frame_gets_its_clip(tmp_path: Path) -> None:
    """The render thread hands a frame to its encoder before the encoder has taken it: an event on a
    source's first frame is asked for before the encoder's clock starts, and still gets its clip."""
    clips = ClipRecorder(tmp_path, "door", pre_roll_s=1.0, post_roll_s=1.0)
    [name] = _encode(clips, 3 * FPS, {0: "appeared"})
    assert name is not None and clips.written == [Path(name)]
    times, starts_with_key = _times(Path(name))
    assert starts_with_key and times[0] == 0.0
    assert 1.0 - 1e-6 <= times[-1] <= 1.05, times[-1]  # the post-roll after 0 s


def test_events_before_and_after_the_encoders_clock_starts_share_one_clip(tmp_path: Path) -> None:
    """x264 holds its first packets back: a second event can come once the clock runs and before any
    packet did; it extends the first event's clip rather than replacing it."""
    clips = ClipRecorder(tmp_path, "door", pre_roll_s=1.0, post_roll_s=1.0)
    writer = VideoWriter(None, fps_hint=FPS, packets=clips.packets)
    clips.attach(writer)
    first = clips.trigger(0.0, "appeared")
    writer.write(synthetic_frame(0, 160, 96), 0.0)
    second = clips.trigger(4 / FPS, "entered")
    for i in range(1, 2 * FPS):
        writer.write(synthetic_frame(i, 160, 96), i / FPS)
    writer.close()
    clips.close()
    assert first is not None and first == second and clips.written == [Path(first)]
