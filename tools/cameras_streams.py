"""``bench_cameras``' cameras: the H.264 loop each camera plays, made once from the shared 720p clips and
cached, and which loop (and where in it) each camera of a run plays.

Each loop is the clip re-encoded the way a camera sends it (x264, no B-frames, a keyframe every
``GOP_S`` s, SPS/PPS with every keyframe), stored as concatenated Annex B access units plus an index
(sizes, keyframes, rate); ``tools.cameras_server`` serves them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import av

CYCLE_FORMAT = 2  # bump when the way camera streams are made changes (invalidates the cache)
GOP_S = 2.0  # a keyframe every 2 s, as cameras are usually set up
RUN_CLIPS = ("street_pedestrians_720p30.mp4", "street_dance_crowd_720p25.mp4", "highway_cars_720p30.mp4")
ACTIVITIES = ("still", "walking", "crowd")


@dataclass(frozen=True)
class Cycle:
    """One camera stream's loop: H.264 access units (Annex B, concatenated) and where each one ends."""

    name: str
    activity: str
    h264: str
    sizes: tuple[int, ...]
    keyframes: tuple[int, ...]
    fps_num: int
    fps_den: int

    @property
    def fps(self) -> float:
        return self.fps_num / self.fps_den

    @property
    def seconds(self) -> float:
        return len(self.sizes) / self.fps


@dataclass(frozen=True)
class Mount:
    """A camera: a mount of the server (``/NAME``), the loop it plays and the access unit it starts at."""

    name: str
    cycle: Cycle
    start: int

    @property
    def still_periods(self) -> bool:
        return self.cycle.activity.endswith("+still")


@dataclass(frozen=True)
class Variant:
    name: str
    clip: str  # a file name under the shared videos folder
    hold_s: float  # the clip's first frame held this long at the start of each loop
    play_s: float | None  # then this much of the clip (None: the whole clip once; 0: none)
    activity: str


def variants(hold_s: float, play_s: float) -> dict[str, Variant]:
    out: dict[str, Variant] = {}
    for clip, activity in zip(RUN_CLIPS, ("walking", "crowd", "traffic"), strict=True):
        stem = clip.rsplit("_", 1)[0]
        out[stem] = Variant(stem, clip, 0.0, None, activity)
        out[f"{stem}-still"] = Variant(
            f"{stem}-still", clip, float(hold_s), float(play_s), f"{activity}+still"
        )
    out["still"] = Variant("still", RUN_CLIPS[0], GOP_S, 0.0, "still")  # one frame, for good
    return out


def search_mount(k: int, cycles: dict[str, Cycle]) -> Mount:
    """Camera k: clip k mod 3, its still-period variant for odd k; starting at its own point of the loop
    (the golden ratio spreads the starts), at a keyframe."""
    stem = RUN_CLIPS[k % len(RUN_CLIPS)].rsplit("_", 1)[0]
    cycle = cycles[f"{stem}-still" if k % 2 else stem]
    wanted = ((k * 0.6180339887) % 1.0) * len(cycle.sizes)
    start = max((i for i in cycle.keyframes if i <= wanted), default=0)
    return Mount(f"cam{k}", cycle, start)


def activity_mounts(cycles: dict[str, Cycle]) -> dict[str, Mount]:
    return {
        "still": Mount("still", cycles["still"], 0),
        "walking": Mount("walking", cycles["street_pedestrians"], 0),
        "crowd": Mount("crowd", cycles["street_dance_crowd"], 0),
    }


def prepare_cycles(videos: Path, cache: Path, hold_s: float, play_s: float) -> dict[str, Cycle]:
    """Every camera loop, made once and cached (keyed by the clip, the settings and ``CYCLE_FORMAT``)."""
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Cycle] = {}
    for v in variants(hold_s, play_s).values():
        clip = videos / v.clip
        if not clip.exists():
            raise SystemExit(f"bench_cameras: clip missing: {clip}")
        st = clip.stat()
        key = hashlib.sha256(
            json.dumps([CYCLE_FORMAT, v.clip, st.st_size, st.st_mtime_ns, asdict(v), GOP_S]).encode()
        ).hexdigest()[:12]
        h264, index = cache / f"{v.name}-{key}.h264", cache / f"{v.name}-{key}.json"
        if not (h264.exists() and index.exists()):
            t0 = time.monotonic()
            _log(f"making camera stream {v.name} from {v.clip} (once; cached in {cache})")
            meta = _encode_cycle(clip, v, h264)
            index.write_text(json.dumps(meta))
            _log(f"  {len(meta['sizes'])} frames in {time.monotonic() - t0:.0f} s")
        meta = json.loads(index.read_text())
        out[v.name] = Cycle(
            v.name,
            v.activity,
            str(h264),
            tuple(meta["sizes"]),
            tuple(meta["keyframes"]),
            meta["fps"][0],
            meta["fps"][1],
        )
    return out


def _encode_cycle(clip: Path, v: Variant, h264: Path) -> dict[str, Any]:
    import av

    with av.open(str(clip)) as probe:
        stream = probe.streams.video[0]
        rate = Fraction(stream.average_rate or 30)
    fps = Fraction(rate.numerator, rate.denominator)
    gop = max(1, round(GOP_S * fps))
    ctx = av.CodecContext.create("libx264", "w")
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = 1 / fps
    ctx.framerate = fps
    ctx.options = {
        "preset": "veryfast",
        "crf": "23",
        # one slice a frame, no B-frames, SPS/PPS with every keyframe (a client may join at any)
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:sliced-threads=0:"
        "repeat-headers=1",
    }
    sizes: list[int] = []
    keyframes: list[int] = []
    tmp = h264.with_suffix(".part")
    with tmp.open("wb") as out:

        def put(packets: Sequence[Any]) -> None:
            for packet in packets:
                if packet.is_keyframe:
                    keyframes.append(len(sizes))
                data = bytes(packet)
                sizes.append(len(data))
                out.write(data)

        for n, frame in enumerate(_cycle_frames(clip, v, float(fps))):
            if n == 0:
                ctx.width, ctx.height = frame.width, frame.height
            frame.pts = n
            frame.time_base = ctx.time_base
            frame.pict_type = av.video.frame.PictureType.NONE  # the clip's own keyframes do not count
            put(ctx.encode(frame))
        put(ctx.encode(None))
    tmp.replace(h264)
    return {"sizes": sizes, "keyframes": keyframes, "fps": [fps.numerator, fps.denominator]}


def _cycle_frames(clip: Path, v: Variant, fps: float) -> Iterator[av.VideoFrame]:
    import av

    with av.open(str(clip)) as container:
        first = next(container.decode(video=0)).reformat(format="yuv420p")
    for _ in range(round(v.hold_s * fps)):
        yield first
    wanted = None if v.play_s is None else round(v.play_s * fps)
    produced = 0
    while wanted is None or produced < wanted:
        with av.open(str(clip)) as container:
            for frame in container.decode(video=0):
                if wanted is not None and produced >= wanted:
                    return
                produced += 1
                yield frame.reformat(format="yuv420p")
        if wanted is None:
            return


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
