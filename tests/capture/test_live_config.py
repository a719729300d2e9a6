"""Live settings: YAML defaults match the code, bad values are one-line errors, flags reach the sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.capture import create_source
from streamseg.capture.webcam import WebcamSource
from streamseg.cli import build_parser, config_from_args
from streamseg.config import Config, LiveConfig, SourceConfig, from_dict, load_yaml, parse_duration
from streamseg.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_default_yaml_documents_the_live_defaults() -> None:
    cfg = load_yaml(REPO / "configs" / "default.yaml")
    assert cfg.live == LiveConfig()
    assert cfg.pipeline.source_timeout_s == Config().pipeline.source_timeout_s
    assert cfg.output.segment is None


@pytest.mark.parametrize(
    ("section", "key", "value", "needle"),
    [
        ("live", "rtsp_transport", "http", "live.rtsp_transport"),
        ("live", "buffer", 0, "live.buffer"),
        ("live", "max_retries", -2, "live.max_retries"),
        ("live", "reconnect_max_s", 0.1, "live.reconnect_max_s"),
        ("live", "decoder_threads", -1, "live.decoder_threads"),
        ("output", "segment", "soon", "output.segment"),
    ],
)
def test_bad_live_values(section: str, key: str, value: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        from_dict({section: {key: value}})


def test_durations() -> None:
    assert [parse_duration(t) for t in ("10m", "30s", "1h", "90", "1.5m")] == [600, 30, 3600, 90, 90]


def test_flags_reach_the_config() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "rtsp://cam/x",
            "--rtsp-transport",
            "udp",
            "--max-retries",
            "3",
            "--source-timeout",
            "2",
            "--live-buffer",
            "2",
            "--segment",
            "10m",
            "--decoder-threads",
            "0",
        ]
    )
    cfg = config_from_args(args)
    assert (cfg.live.rtsp_transport, cfg.live.max_retries, cfg.live.buffer) == ("udp", 3, 2)
    assert cfg.live.decoder_threads == 0
    assert cfg.pipeline.source_timeout_s == 2.0 and cfg.output.segment == "10m"


def test_webcam_mode_comes_from_the_source_config() -> None:
    cfg = from_dict({"sources": [{"uri": 57, "name": "desk", "width": 640, "height": 480, "fps": 30}]})
    src = create_source(cfg.sources[0])
    assert src.name == "desk"
    inner = src._factory()  # type: ignore[attr-defined]
    assert isinstance(inner, WebcamSource) and inner._request == (640, 480, 30.0)
    assert SourceConfig("0").width == 0  # 0 = the camera's default
