"""The config a cluster is started from: the ``cluster`` section, one source as posted or added, and
relative paths made absolute (the groups run in other processes, on other machines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.cluster.client import absolute_paths, load_cluster_config
from streamseg.config import ClusterConfig, Config, from_dict, source_from
from streamseg.errors import ConfigError


def test_cluster_section_defaults_and_checks() -> None:
    assert from_dict({}).cluster == ClusterConfig()
    cfg = from_dict({"cluster": {"cameras_per_group": 4, "cpus_per_group": 2, "probe_s": 1}})
    assert (cfg.cluster.cameras_per_group, cfg.cluster.cpus_per_group, cfg.cluster.probe_s) == (4, 2.0, 1.0)
    with pytest.raises(ConfigError, match=r"cluster.probe_s must be in \(0, 10\]"):
        from_dict({"cluster": {"probe_s": 0}})
    with pytest.raises(ConfigError, match=r"cluster\.gpus_per_group must be > 0"):
        from_dict({"cluster": {"gpus_per_group": 0}})


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"uri": "a.mp4", "colour": "red"}, "unknown config key 'colour'"),
        ({"name": "x"}, "'uri' is missing"),
        ({"uri": " "}, "'uri' must not be empty"),
        ({"uri": "a.mp4", "fps": -1}, "fps must be >= 0"),
        ({"uri": "a.mp4", "width": "wide"}, "width must be an integer"),
        ({"uri": "a.mp4", "name": "a/b"}, "without '/'"),
        (True, "must be a path/URL or a mapping"),
    ],
)
def test_one_source_is_checked_like_the_yaml(item: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        source_from(item, "source")


def test_one_source_accepts_what_the_yaml_accepts() -> None:
    assert source_from("rtsp://u:p@cam/front").display_name() == "front"
    cam = source_from({"uri": 0, "name": "desk", "width": 640, "height": 480, "fps": 30})
    assert (cam.uri, cam.name, cam.width, cam.fps) == ("0", "desk", 640, 30.0)


def test_relative_paths_become_absolute(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.onnx").write_bytes(b"x")
    config = tmp_path / "cams.yaml"
    config.write_text(
        "sources: [clips/a.mp4, rtsp://cam/x, '0', /abs/b.mp4]\n"
        "model: {path: models/m.onnx}\n"
        "output: {record: rec/out.mp4, save_results: r.jsonl}\n"
    )
    cfg = load_cluster_config(config, base=tmp_path)
    assert [s.uri for s in cfg.sources] == [str(tmp_path / "clips/a.mp4"), "rtsp://cam/x", "0", "/abs/b.mp4"]
    assert cfg.model.path == str(tmp_path / "models/m.onnx")
    assert cfg.model.engines_dir == str(tmp_path / "engines")
    assert (cfg.output.record, cfg.output.save_results) == (
        str(tmp_path / "rec/out.mp4"),
        str(tmp_path / "r.jsonl"),
    )
    # A model name that is not a file here is one Ultralytics downloads: left alone.
    assert absolute_paths(Config(), tmp_path).model.path == "yolov8n-seg.pt"


def test_the_example_cluster_config_is_valid() -> None:
    repo = Path(__file__).resolve().parents[2]
    cfg = load_cluster_config(repo / "configs" / "cluster.yaml")
    assert len(cfg.sources) == 8 and cfg.cluster.cameras_per_group == 4 and cfg.model.device == "cuda:0"
