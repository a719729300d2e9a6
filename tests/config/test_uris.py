"""Issue 20, item 2: sources connect out to cameras; binding a port is refused unless configured, and
only the protocols of cameras, streams and files are accepted (CLI, YAML and the API share this)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.cli import main
from streamseg.config import Config, SourceConfig, from_dict, max_sources
from streamseg.config.uris import check_client_uri, listen_reason
from streamseg.errors import ConfigError

LISTENING = [
    "tcp://0.0.0.0:18102?listen=1",
    "tcp://127.0.0.1:9000?listen",
    "tcp://127.0.0.1:9000?listen=2",
    "udp://@:5000",
    "udp://:5000",
    "udp://10.0.0.5:5000",
    "rtp://0.0.0.0:5004",
    "rtmp://127.0.0.1/live/x?listen=1",
    "http://0.0.0.0:8081/feed?listen=1",
    "srt://:9000",
    "srt://0.0.0.0:9000",
    "srt://cam:9000?mode=listener",
    "srt://cam:9000?mode=rendezvous",
    "rtsp://0.0.0.0:8554/x?rtsp_flags=listen",
]
CLIENTS = [
    "rtsp://user:pw@10.0.0.5/stream1",
    "rtsps://cam/x",
    "rtmp://server/live/key",
    "srt://cam:9000?mode=caller&passphrase=abcdefghij",
    "udp://239.1.1.1:1234",
    "udp://@239.1.1.1:1234",
    "rtp://239.0.0.5:5004",
    "http://cam/mjpg/video.mjpg",
    "https://example.com/live/index.m3u8?listen=0",
    "tcp://cam:9000",
    "file:///videos/a.mp4",
    "street.mp4",
    "/videos/a b.mp4",
    "./odd:name.mp4",
    "0",
    "/dev/video2",
    "C:/videos/a.mp4",
]


@pytest.mark.parametrize("uri", LISTENING)
def test_listening_uris_are_refused_unless_allowed(uri: str) -> None:
    assert listen_reason(uri) is not None
    with pytest.raises(ConfigError, match="allow_listen"):
        check_client_uri(uri)
    check_client_uri(uri, allow_listen=True)


@pytest.mark.parametrize("uri", CLIENTS)
def test_clients_pass(uri: str) -> None:
    check_client_uri(uri)


@pytest.mark.parametrize(
    "uri", ["ftp://h/a.mp4", "gopher://h/", "smb://h/a", "hls+http://h/a.m3u8", "concat:a.mp4|b.mp4",
            "subfile:,start,0,end,0,:/etc/passwd", "pipe:0", "data:video/mp4;base64,AAAA"]
)  # fmt: skip
def test_other_protocols_are_refused(uri: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_client_uri(uri, allow_listen=True)
    assert "\n" not in str(info.value)


def test_yaml_cli_and_python_share_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="listen"):
        from_dict({"sources": ["tcp://0.0.0.0:9000?listen=1"]})
    cfg = from_dict({"sources": {"allow_listen": True, "max": 2, "list": ["tcp://0.0.0.0:9000?listen=1"]}})
    assert cfg.source_rules.allow_listen and cfg.sources == (SourceConfig("tcp://0.0.0.0:9000?listen=1"),)
    with pytest.raises(ConfigError, match=r"3 sources given, more than sources.max = 2"):
        from_dict({"sources": {"max": 2, "list": ["a.mp4", "b.mp4", "c.mp4"]}})
    with pytest.raises(ConfigError, match="unknown config key 'maximum'"):
        from_dict({"sources": {"maximum": 2}})
    assert max_sources(Config().source_rules) in range(16, 65)
    assert main(["run", "udp://@:5000", "--model", "none.onnx"]) == 2
    assert "udp:// without a multicast group" in capsys.readouterr().err
    assert main(["run", "rtsp://cam/" + "a" * 5000]) == 2
    assert "longer than 4096 characters" in capsys.readouterr().err
    assert main(["run", "a.mp4", "b.mp4", "--max-sources", "1"]) == 2
    assert "more than sources.max = 1" in capsys.readouterr().err
