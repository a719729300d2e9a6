"""The ``privacy:`` sections: the run's and each source's, as YAML gives them, merged (a source's keys
override the run's, areas add up), and every mistake one line that names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.config import (
    Config,
    PrivacyArea,
    PrivacyConfig,
    SourceConfig,
    SourcePrivacy,
    check_privacy,
    check_privacy_classes,
    load_yaml,
    merge,
    privacy_for,
    privacy_from,
    source_from,
)
from streamseg.config.schema import check_source
from streamseg.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SQUARE = "[[0.0, 0.6], [0.25, 0.6], [0.25, 1.0], [0.0, 1.0]]"
COCO = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"]
COCO80 = [*COCO, "traffic light", *(f"class{i}" for i in range(70))]


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "privacy.yaml"
    path.write_text(text, encoding="utf-8")
    return load_yaml(path)


def test_both_sections_and_their_merge(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "privacy:\n"
        "  objects: [person]\n"
        "  style: blur\n"
        "  areas: [{polygon: [[0, 0], [100, 0], [100, 50]]}]\n"
        "sources:\n"
        "  - uri: rtsp://cam/a\n"
        "    name: a\n"
        "    privacy:\n"
        f"      areas: [{{polygon: {SQUARE}}}]\n"
        "      style: pixelate\n"
        "      grow: 6\n"
        "      max_gap: 0.5\n"
        "  - uri: rtsp://cam/b\n"
        "    name: b\n"
        "    privacy: {objects: []}\n"
        "  - rtsp://cam/c\n",
    )
    run = cfg.privacy
    assert (run.objects, run.style, run.grow, run.max_gap) == (("person",), "blur", 4, 1.0)
    assert run.areas == (PrivacyArea(((0.0, 0.0), (100.0, 0.0), (100.0, 50.0))),)
    assert not run.areas[0].in_fractions and run.active
    a, b, c = (privacy_for(run, s.privacy) for s in cfg.sources)
    assert (a.objects, a.style, a.grow, a.max_gap) == (("person",), "pixelate", 6, 0.5)
    assert a.areas == (*run.areas, PrivacyArea(((0.0, 0.6), (0.25, 0.6), (0.25, 1.0), (0.0, 1.0))))
    assert a.areas[1].in_fractions
    assert (b.objects, b.style, b.areas) == ((), "blur", run.areas)  # objects off, the run's areas kept
    assert cfg.sources[2].privacy is None and c == run


def test_defaults_and_the_short_forms(tmp_path: Path) -> None:
    assert load(tmp_path, "model: {conf: 0.3}\n").privacy == PrivacyConfig()
    assert load(tmp_path, "privacy:\n").privacy == PrivacyConfig()
    assert not PrivacyConfig().active
    assert privacy_from({"objects": "person"}, "privacy").objects == ("person",)  # one class, as zones
    assert privacy_from({"objects": ["car", "person", "car"]}, "privacy").objects == ("car", "person")
    assert privacy_from({"max_gap": 2, "grow": 0}, "privacy").max_gap == 2.0
    only_areas = SourcePrivacy(areas=(PrivacyArea(((0, 0), (1, 0), (1, 1))),))
    assert privacy_for(PrivacyConfig(objects=("person",)), only_areas).active


def test_configs_privacy_yaml_is_what_it_says() -> None:
    cfg = load_yaml(CONFIGS / "privacy.yaml")
    street, yard = (privacy_for(cfg.privacy, s.privacy) for s in cfg.sources)
    assert (street.objects, street.style, street.grow, len(street.areas)) == (("person",), "pixelate", 8, 2)
    assert (yard.objects, yard.style, len(yard.areas)) == ((), "blur", 1)


def test_a_posted_source_takes_its_section() -> None:
    body = {"uri": "rtsp://cam/x", "privacy": {"objects": ["person", "car"], "areas": [{"polygon": SQUARE}]}}
    with pytest.raises(ConfigError, match=r"source\.privacy\.areas\[0\]\.polygon must be a list"):
        source_from(body, "source")  # a polygon is a list, not its YAML text
    body["privacy"] = {"objects": ["person", "car"], "areas": [{"polygon": [[0, 0], [1, 0], [1, 1]]}]}
    own = source_from(body, "source").privacy
    assert own is not None and own.objects == ("person", "car") and own.style is None


BAD = [
    ("privacy: [person]", "t.yaml: privacy must be a mapping with any of: areas, grow, max_gap"),
    (
        "privacy: {colour: red}",
        "t.yaml: privacy: unknown key 'colour' (valid: areas, grow, max_gap, objects, style)",
    ),
    ("privacy: {style: sepia}", "t.yaml: privacy.style must be one of blur, pixelate, fill, got 'sepia'"),
    ("privacy: {grow: -3}", "t.yaml: privacy.grow must be an integer 0..256 (pixels), got -3"),
    ("privacy: {grow: 257}", "privacy.grow must be an integer 0..256 (pixels), got 257"),
    ("privacy: {grow: 2.5}", "privacy.grow must be an integer 0..256 (pixels), got 2.5"),
    ("privacy: {grow: true}", "privacy.grow must be an integer 0..256 (pixels), got True"),
    ("privacy: {grow: " + "9" * 40 + "}", "got a 40-digit number"),
    ("privacy: {max_gap: 0.01}", "privacy.max_gap must be 0.05..3600 seconds, got 0.01"),
    ("privacy: {max_gap: 4000}", "privacy.max_gap must be 0.05..3600 seconds, got 4000"),
    ("privacy: {max_gap: .nan}", "privacy.max_gap must be 0.05..3600 seconds, got nan"),
    ("privacy: {max_gap: .inf}", "privacy.max_gap must be 0.05..3600 seconds, got inf"),
    ("privacy: {max_gap: 1s}", "privacy.max_gap must be 0.05..3600 seconds, got '1s'"),
    ("privacy: {objects: ['']}", "privacy.objects must be a list of class names (any class of the model)"),
    ("privacy: {objects: [1]}", "privacy.objects must be a list of class names"),
    ("privacy: {objects: {person: 1}}", "privacy.objects must be a list of class names"),
    ("privacy: {objects: 'person,car'}", "privacy.objects: 'person,car' is one name with commas"),
    ("privacy: {areas: square}", "privacy.areas must be a list of areas"),
    ("privacy: {areas: [[[0, 0], [1, 0], [1, 1]]]}", "privacy.areas[0] must be a mapping with a polygon"),
    ("privacy: {areas: [{name: x}]}", "privacy.areas[0]: unknown key 'name' (valid: polygon)"),
    ("privacy: {areas: [{}]}", "privacy.areas[0].polygon is missing"),
    (
        "privacy: {areas: [{polygon: [[0, 0], [1, 1]]}]}",
        "privacy.areas[0].polygon needs at least 3 points, got 2",
    ),
    (
        "privacy: {areas: [{polygon: [[0, 0], [1, 1], [1, 0], [0, 1]]}]}",
        "privacy.areas[0].polygon crosses itself (edges (0, 2) intersect)",
    ),
    ("privacy: {areas: [{polygon: [[0, 0], [1, 0], [2, 0]]}]}", "privacy.areas[0].polygon encloses no area"),
    (
        "privacy: {areas: [{polygon: [[0, 0], [-5, 0], [1, 1]]}]}",
        "privacy.areas[0].polygon[1] is outside the frame",
    ),
    ("privacy: {areas: [{polygon: [[0, 0], [1, .nan], [1, 1]]}]}", "polygon[1] y must be a finite number"),
    (
        "sources: [{uri: rtsp://cam/x, privacy: {grow: -3}}]",
        "t.yaml: sources[0].privacy.grow must be an integer 0..256 (pixels), got -3",
    ),
    (
        "sources: [{uri: rtsp://cam/x, privacy: {enabled: true}}]",
        "t.yaml: sources[0].privacy: unknown key 'enabled'",
    ),
    ("sources: [{uri: rtsp://cam/x, privacy: 3}]", "t.yaml: sources[0].privacy must be a mapping"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_each_mistake_is_one_line_naming_its_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    error = str(caught.value)
    assert message in error.replace(str(tmp_path) + "/", "") and "\n" not in error, error


def test_polygon_and_area_limits() -> None:
    many = [[float(i), float(i * i)] for i in range(257)]
    with pytest.raises(ConfigError, match=r"^privacy\.areas\[0\]\.polygon has more than 256 points$"):
        privacy_from({"areas": [{"polygon": many}]}, "privacy")
    area = {"polygon": [[0, 0], [1, 0], [1, 1]]}
    assert len(privacy_from({"areas": [area] * 32}, "privacy").areas) == 32
    with pytest.raises(ConfigError, match=r"^privacy\.areas: at most 32 areas per section, got 33$"):
        privacy_from({"areas": [area] * 33}, "privacy")


def test_configs_built_in_python_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"^privacy\.grow must be an integer 0\.\.256 \(pixels\), got -1$"):
        Config(privacy=PrivacyConfig(grow=-1)).validated()
    own = SourcePrivacy(style="sepia")
    with pytest.raises(ConfigError, match=r"^sources\[0\]\.privacy\.style must be one of blur"):
        Config(sources=(SourceConfig("a.mp4", privacy=own),)).validated()
    with pytest.raises(ConfigError, match=r"^source\.privacy\.max_gap must be 0\.05\.\.3600 seconds, got 0$"):
        check_source(SourceConfig("a.mp4", privacy=SourcePrivacy(max_gap=0)), "source")
    crossed = PrivacyArea(((0, 0), (1, 1), (1, 0), (0, 1)))
    for _ in range(2):  # the second time from the cache, the same line
        with pytest.raises(ConfigError, match=r"^run\.areas\[0\]\.polygon crosses itself"):
            check_privacy(PrivacyConfig(areas=(crossed,)), "run")
    listed = PrivacyArea([[0, 0], [1, 0]])  # type: ignore[arg-type] # lists, from untyped code
    with pytest.raises(ConfigError, match=r"^run\.areas\[0\]\.polygon needs at least 3 points, got 2$"):
        check_privacy(PrivacyConfig(areas=(listed,)), "run")


def test_merge_replaces_keys_of_the_run_section() -> None:
    cfg = Config(privacy=PrivacyConfig(objects=("person",), areas=(PrivacyArea(((0, 0), (1, 0), (1, 1))),)))
    merged = merge(cfg, privacy={"objects": ("car",), "grow": None, "style": "fill"})
    assert merged.privacy == PrivacyConfig(objects=("car",), style="fill", areas=cfg.privacy.areas)
    with pytest.raises(ConfigError, match=r"^privacy\.grow must be an integer"):
        merge(cfg, privacy={"grow": 300})


def test_unknown_classes_name_the_closest_and_the_models_classes() -> None:
    check_privacy_classes(PrivacyConfig(objects=("person", "car")), COCO80, "source door")
    with pytest.raises(ConfigError) as caught:
        check_privacy_classes(PrivacyConfig(objects=("person", "persn")), COCO80, "source door")
    assert str(caught.value) == (
        "source door: privacy.objects: unknown class 'persn' (did you mean 'person'? the model's classes: "
        "person, bicycle, car, motorcycle, airplane, bus, train, truck, boat, traffic light, ... (80))"
    )
    with pytest.raises(ConfigError, match=r"unknown class 'Person' \(did you mean 'person'\?"):
        check_privacy_classes(PrivacyConfig(objects=("Person",)), COCO, "run")
    with pytest.raises(ConfigError) as caught:
        check_privacy_classes(PrivacyConfig(objects=("qqq",)), ["cat", "dog"], "run")
    assert (
        str(caught.value) == "run: privacy.objects: unknown class 'qqq' (the model's classes: cat, dog (2))"
    )
    with pytest.raises(ConfigError, match=r"\(the model names no classes\)$"):
        check_privacy_classes(PrivacyConfig(objects=("qqq",)), [], "run")
