"""A real RTSP server for the tests and the soak tool (GStreamer's gst-rtsp-server).

Run by Debian's ``/usr/bin/python3`` (which has ``gi``), never the venv: ::

    /usr/bin/python3 tests/live/rtsp_server.py --port 8554 --mounts 2 --size 320x240 --fps 15

Serves ``rtsp://127.0.0.1:PORT/cam0`` .. ``camN-1``: a moving test pattern, H.264. Prints
``READY`` on stdout once it accepts connections. One shared encoder per mount, whatever the clients;
a keyframe every ``--fps`` frames (with ``--gop-spread``, every fps + i frames on mount i, so the
mounts' keyframes do not all come together).
With ``--auth USER:PASSWORD`` every mount demands that login (HTTP basic), like a real IP camera.
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mounts", type=int, default=1)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="demand HTTP basic authentication")
    parser.add_argument("--gop-spread", action="store_true", help="keyframe every fps + i frames on mount i")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for i in range(args.mounts):
        pattern = ("ball", "smpte", "snow", "pinwheel")[i % 4]
        gop = args.fps + i if args.gop_spread else args.fps
        launch = (
            f"( videotestsrc is-live=true pattern={pattern} ! "
            f"video/x-raw,width={width},height={height},framerate={args.fps}/1 ! "
            "videoconvert ! "
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} threads=1 ! "
            "rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
        if args.auth:
            factory.add_role_from_structure(
                Gst.Structure.new_from_string(
                    "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
                )
            )
        mounts.add_factory(f"/cam{i}", factory)
    if args.auth:
        user, _, password = args.auth.partition(":")
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth = GstRtspServer.RTSPAuth()
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print("READY", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
