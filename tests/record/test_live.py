"""The live view's record room: encoder packets as fMP4 fragments, and viewers' bounded queues."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import pytest

from streamseg.record.fmp4 import Fragment, Fragmenter, InitSegment, codec_name
from streamseg.record.live import LiveChannel, LiveItem, LiveViewer
from streamseg.record.packets import EncodedPacket
from streamseg.record.writer import VideoWriter

FPS = 10  # the writer's keyframe interval is one second: a keyframe every 10 frames


def _frames(n: int, start: int = 0) -> list[np.ndarray]:
    """Frames that differ (a bar moving right), so the encoder has something to encode."""
    out = []
    for i in range(start, start + n):
        image = np.zeros((120, 160, 3), np.uint8)
        image[:, (i * 7) % 150 : (i * 7) % 150 + 10] = 255
        out.append(image)
    return out


def _encode(n: int, packets: list[EncodedPacket]) -> VideoWriter:
    writer = VideoWriter(None, fps_hint=FPS, low_latency=True, packets=packets.extend)
    for i, image in enumerate(_frames(n)):
        writer.write(image, i / FPS, captured=1000.0 + i)
    writer.close()
    return writer


def test_fragments_play_as_one_mp4_with_the_encoders_timestamps(tmp_path: Path) -> None:
    packets: list[EncodedPacket] = []
    writer = _encode(25, packets)
    inits: list[InitSegment] = []
    fragments: list[Fragment] = []
    fragmenter = Fragmenter(writer.stream, inits.append, fragments.append)
    fragmenter.add(packets)
    fragmenter.close()
    fragmenter.close()  # twice is fine
    assert len(inits) == 1 and inits[0].data[4:8] == b"ftyp"
    assert inits[0].codec.startswith("avc1.") and (inits[0].width, inits[0].height) == (160, 120)
    assert len(fragments) == 25  # one per frame, the last one out at close
    assert all(f.data[4:8] == b"moof" and b"mdat" in f.data for f in fragments)
    assert [f.keyframe for f in fragments] == [p.keyframe for p in packets] and fragments[0].keyframe
    assert [f.media_time for f in fragments] == pytest.approx([i / FPS for i in range(25)])
    assert [f.captured for f in fragments] == [1000.0 + i for i in range(25)]  # capture times ride along
    stream = io.BytesIO(inits[0].data + b"".join(f.data for f in fragments))
    with av.open(stream, format="mp4") as container:
        decoded = [(float(frame.time), frame.width) for frame in container.decode(video=0)]
    assert [t for t, _ in decoded] == pytest.approx([i / FPS for i in range(25)])
    assert {w for _, w in decoded} == {160}


def test_a_stream_joined_mid_gop_starts_at_the_next_keyframe() -> None:
    packets: list[EncodedPacket] = []
    writer = _encode(25, packets)
    fragments: list[Fragment] = []
    fragmenter = Fragmenter(writer.stream, lambda init: None, fragments.append)
    fragmenter.add(packets[3:])
    fragmenter.close()
    next_key = next(i for i, p in enumerate(packets) if i >= 3 and p.keyframe)
    assert fragments[0].keyframe and len(fragments) == len(packets) - next_key
    assert fragments[0].media_time == 0.0  # the viewer's timeline starts at its first frame


def test_codec_names_from_annex_b_and_avcc() -> None:
    sps = b"\x00\x00\x00\x01\x67\x64\x00\x1f\xac"
    assert codec_name(b"\x00\x00\x00\x01\x68\xee" + sps) == "avc1.64001f"  # PPS first, then SPS
    assert codec_name(b"\x01\x42\xc0\x1e\xff") == "avc1.42c01e"
    assert codec_name(b"") == "avc1.42e01f"


class _Inbox:
    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


def _kinds(items: list[LiveItem]) -> list[str]:
    return ["init" if isinstance(i, InitSegment) else ("key" if i.keyframe else "p") for i in items]


def test_a_channel_fragments_only_while_watched_and_a_joiner_starts_at_the_last_keyframe() -> None:
    channel = LiveChannel("cam")
    writer = VideoWriter(None, fps_hint=FPS, low_latency=True, packets=channel.packets)
    channel.attach(writer)
    frames = _frames(40)
    for i in range(5):
        writer.write(frames[i], i / FPS)
    assert channel.fragments == 0  # nobody watches: nothing is made
    first = LiveViewer("cam", _Inbox().wake)
    channel.join(first)
    for i in range(5, 25):  # the stream starts at the next keyframe
        writer.write(frames[i], i / FPS)
    got = first.take()
    assert _kinds(got)[:2] == ["init", "key"] and len(got) > 5
    times = [f.media_time for f in got if isinstance(f, Fragment)]
    assert times == pytest.approx([i / FPS for i in range(len(times))])  # consecutive frames
    late = LiveViewer("cam", _Inbox().wake)
    channel.join(late)  # mid-GOP: the init and the frames since the last keyframe, at once
    joined = late.take()
    last_key = [f for f in got if isinstance(f, Fragment) and f.keyframe][-1]
    assert _kinds(joined)[:2] == ["init", "key"] and set(_kinds(joined)[2:]) <= {"p"}
    assert joined[1] == last_key and joined[-1] == got[-1]
    channel.leave(first)
    channel.leave(late)
    for i in range(25, 40):
        writer.write(frames[i], i / FPS)
    made = channel.fragments
    writer.close()
    assert channel.fragments == made  # nobody watches: the fragmenter stopped


def test_a_slow_viewer_skips_to_a_keyframe_and_never_holds_up_the_others() -> None:
    channel = LiveChannel("cam")
    packets: list[EncodedPacket] = []

    def both(batch: list[EncodedPacket]) -> None:
        packets.extend(batch)
        channel.packets(batch)

    writer = VideoWriter(None, fps_hint=FPS, low_latency=True, packets=both)
    channel.attach(writer)
    slow, quick = LiveViewer("cam", _Inbox().wake, max_items=5), LiveViewer("cam", _Inbox().wake)
    channel.join(slow)
    channel.join(quick)
    taken: list[LiveItem] = []
    for i, image in enumerate(_frames(40)):
        writer.write(image, i / FPS)
        taken += quick.take()
    writer.close()
    channel.detach(writer)  # the last frame comes out when the stream ends
    taken += quick.take()
    expected = ["key" if p.keyframe else "p" for p in packets]
    assert _kinds(taken) == ["init", *expected]  # every frame
    assert slow.dropped > 0
    kinds = _kinds(slow.take())
    assert kinds[0] == "init" and kinds[1] == "key" and len(kinds) <= 5  # what it gets starts at a keyframe
    assert channel.status()["dropped"] == slow.dropped and channel.status()["viewers"] == 2


def test_a_new_encoder_starts_a_new_stream_for_its_viewers() -> None:
    channel = LiveChannel("cam")
    viewer = LiveViewer("cam", _Inbox().wake)
    channel.join(viewer)
    streams = []
    for _ in range(2):  # an on-demand encoder stopped and started again
        writer = VideoWriter(None, fps_hint=FPS, low_latency=True, packets=channel.packets)
        channel.attach(writer)
        for i, image in enumerate(_frames(3)):
            writer.write(image, time.monotonic() + i / FPS)
        writer.close()
        channel.detach(writer)
        streams.append(_kinds(viewer.take()))
    assert streams == [["init", "key", "p", "p"]] * 2
