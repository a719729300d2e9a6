"""Issue 30, items 4 and 9: source and zone names are one slug space. A name that is not a string, is
empty, is ``.`` or ``..``, or shares its slug with another is refused with one line, wherever it is given
(YAML, the Python API, the CLI's default names); distinct names in any script keep distinct slugs; and
every file written under a name stays in its folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from streamseg.config import Config, SourceConfig, from_dict, load_yaml, source_from
from streamseg.config.names import clash, file_in, name_key
from streamseg.errors import ConfigError, OutputError
from streamseg.redact import safe_name


def sources(*names: Any) -> dict[str, Any]:
    return {"sources": [{"uri": f"rtsp://cam{i}/x", "name": n} for i, n in enumerate(names)]}


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        from_dict(data)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("..", "must not be '..'"),
        (".", "must not be '.'"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        (None, "must be a string, got null"),  # once "None"
        (42, "must be a string, got int"),
        (["a"], "must be a string, got list"),
        ("a/b", "without '/'"),
        ("x" * 129, "1-128 printable characters"),
        ("кухня" * 25, "too long for a file name"),  # 125 letters, 250 bytes in UTF-8
    ],
)
def test_bad_source_names_are_refused(name: Any, problem: str) -> None:
    assert problem in refused(sources(name))
    with pytest.raises(ConfigError, match="name"):
        source_from({"uri": "rtsp://cam/x", "name": name})  # the JSON of POST /api/sources


@pytest.mark.parametrize(
    ("a", "b"),
    [("a b", "a_b"), ("Door", "door"), ("кухня!", "кухня?"), ("e\u0301", "\u00e9"), ("x", "x")],
)
def test_names_that_would_share_files_and_topics_are_refused(a: str, b: str) -> None:
    message = refused(sources(a, b))
    assert "rename one" in message or "used twice" in message


def test_names_in_other_scripts_are_distinct() -> None:
    cfg = from_dict(sources("кухня", "двор", "前门", "नमस्ते", "front door"))
    slugs = [safe_name(s.display_name()) for s in cfg.sources]
    assert slugs == ["кухня", "двор", "前门", "नमस्ते", "front_door"]


def test_the_python_api_and_default_names_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"sources\[1\]\.name must not be '\.\.'"):
        Config(sources=(SourceConfig("rtsp://a/x", "a"), SourceConfig("rtsp://b/y", ".."))).validated()
    with pytest.raises(ConfigError, match="rename one"):  # the CLI's sources: names from their URIs
        Config(sources=(SourceConfig("/v/Door.mp4"), SourceConfig("/w/door.mp4"))).validated()
    assert Config(sources=(SourceConfig("/v/.."),)).validated().sources[0].display_name() == "__"


def test_zone_and_line_names_share_the_slug_space(tmp_path: Path) -> None:
    square = [[0, 0], [0.5, 0], [0.5, 0.5]]
    zones = [{"name": "a b", "polygon": square}, {"name": "a_b", "polygon": square}]
    assert "rename one" in refused({"sources": [{"uri": "rtsp://c/x", "zones": zones}]})
    lines = [{"name": "..", "points": [[0, 0], [1, 1]]}]
    assert "must not be '..'" in refused({"sources": [{"uri": "rtsp://c/x", "lines": lines}]})
    config = tmp_path / "c.yaml"
    config.write_text(
        "sources:\n  - uri: rtsp://c/x\n    zones:\n      - {name: null, polygon: [[0, 0], [1, 0], [1, 1]]}\n"
    )
    with pytest.raises(ConfigError, match=r"zones\[0\]\.name must be a string, got null"):
        load_yaml(config)


def test_a_yaml_name_that_is_not_a_string_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("sources:\n  - {uri: rtsp://c/x, name: ~}\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]: name must be a string, got null"):
        load_yaml(config)


def test_clash_finds_the_running_name_a_new_one_would_share_files_with() -> None:
    assert clash("A B", ["door", "a_b"]) == "a_b"
    assert clash("кухня", ["двор"]) is None
    assert name_key("Кухня") == name_key("кухня")


def test_files_stay_in_their_folder(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    root.mkdir()
    assert file_in(root, "кухня", "x.jpg") == root / "кухня" / "x.jpg"
    for part in ("..", ".", "", "a/../../b"):
        with pytest.raises(OutputError, match="not a plain file name"):
            file_in(root, part)
    os.symlink(tmp_path, root / "door")  # a link planted in the output folder
    with pytest.raises(OutputError, match="leads out of"):
        file_in(root, "door", "x.jpg")
