"""``bench_cameras``' RTSP camera server: one GStreamer server on loopback whose mounts each play an H.264
loop (made by ``tools.cameras_streams``) forever, in real time, from their own start.

Runs by path under Debian's python3, which has ``gi`` (the venv's python does not)::

    /usr/bin/python3 tools/cameras_server.py --serve SPEC.json

SPEC is ``{"port": P, "mounts": [{"name", "h264", "sizes", "fps": [num, den], "start"}, ...]}``; the
server prints ``READY`` once it listens. Standalone: the standard library and ``gi`` only, nothing from
streamseg or ``tools``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SERVER_LAUNCH = (
    "( appsrc name=src is-live=false format=time ! h264parse ! "
    "rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


def serve(spec_path: Path) -> int:
    """The RTSP server: every mount of ``spec_path`` plays its loop forever, in real time, from its
    start; each connection gets its own pipeline (not shared), so every client starts at that point."""
    import gi  # type: ignore[import-not-found]

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]

    Gst.init(None)
    spec = json.loads(spec_path.read_text())
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(spec["port"]))
    points = server.get_mount_points()
    loops: dict[str, list[bytes]] = {}
    caps = Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au")

    def configure(_factory: Any, media: Any, units: list[bytes], start: int, num: int, den: int) -> None:
        src = media.get_element().get_by_name("src")
        src.set_property("caps", caps)
        sent = [0]

        def need_data(appsrc: Any, _length: int) -> None:
            n = sent[0]
            sent[0] = n + 1
            buffer = Gst.Buffer.new_wrapped(units[(start + n) % len(units)])
            pts = n * Gst.SECOND * den // num
            buffer.pts = buffer.dts = pts
            buffer.duration = (n + 1) * Gst.SECOND * den // num - pts
            appsrc.emit("push-buffer", buffer)

        src.connect("need-data", need_data)

    for mount in spec["mounts"]:
        if mount["h264"] not in loops:
            data = Path(mount["h264"]).read_bytes()
            ends = [0]
            for size in mount["sizes"]:
                ends.append(ends[-1] + size)
            loops[mount["h264"]] = [data[a:b] for a, b in itertools.pairwise(ends)]
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(SERVER_LAUNCH)
        factory.set_shared(False)
        num, den = mount["fps"]
        factory.connect("media-configure", configure, loops[mount["h264"]], mount["start"], num, den)
        points.add_factory("/" + mount["name"], factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{spec['port']}", file=sys.stderr)
        return 1
    print("READY", flush=True)
    GLib.MainLoop().run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    p.add_argument("--serve", required=True, metavar="SPEC")
    a, _ = p.parse_known_args(argv)
    return serve(Path(a.serve))


if __name__ == "__main__":
    sys.exit(main())
