"""The ``detect:`` section and a source's ``detect_fps:`` and ``motion:``, as YAML and JSON give them,
merged (a source's keys replace the run's), and every mistake one line that names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.config import (
    Config,
    DetectConfig,
    IgnoreArea,
    MotionConfig,
    SourceConfig,
    SourceDetect,
    check_detect,
    check_detect_rate,
    detect_for,
    detect_from,
    load_yaml,
    merge,
    source_detect_from,
    source_from,
)
from streamseg.config.schema import check_source
from streamseg.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CLOCK = ((0.8, 0.0), (1.0, 0.0), (1.0, 0.1), (0.8, 0.1))
HEDGE = "[[0, 0], [300, 0], [300, 200]]"


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "detect.yaml"
    path.write_text(text, encoding="utf-8")
    return load_yaml(path)


def test_both_sections_and_their_merge(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "detect:\n"
        "  fps: 5\n"
        "  motion: {enabled: true, threshold: 25, min_area: 0.002,"
        " ignore: [{polygon: [[0.8, 0.0], [1.0, 0.0], [1.0, 0.1], [0.8, 0.1]]}]}\n"
        "sources:\n"
        "  - uri: rtsp://cam/a\n"
        "    name: a\n"
        "    detect_fps: 2\n"
        f"    motion: {{threshold: 40, ignore: [{{polygon: {HEDGE}}}]}}\n"
        "  - {uri: rtsp://cam/b, name: b, detect_fps: 12.5}\n"
        "  - {uri: rtsp://cam/c, name: c, motion: false}\n"
        "  - rtsp://cam/d\n",
    )
    run = cfg.detect
    assert run == DetectConfig(fps=5.0, motion=MotionConfig(enabled=True, ignore=(IgnoreArea(CLOCK),)))
    assert run.motion.ignore[0].in_fractions
    a, b, c, d = (detect_for(run, s.detect) for s in cfg.sources)
    hedge = IgnoreArea(((0.0, 0.0), (300.0, 0.0), (300.0, 200.0)))
    assert a == DetectConfig(fps=2.0, motion=MotionConfig(enabled=True, threshold=40, ignore=(hedge,)))
    assert not a.motion.ignore[0].in_fractions  # pixels: the run's clock is not added
    assert b == DetectConfig(fps=12.5, motion=run.motion)
    assert c == DetectConfig(fps=5.0, motion=MotionConfig(enabled=False))
    assert cfg.sources[3].detect is None and d == run


def test_defaults_and_the_short_forms(tmp_path: Path) -> None:
    assert load(tmp_path, "model: {conf: 0.3}\n").detect == DetectConfig()
    assert load(tmp_path, "detect:\n").detect == DetectConfig()
    assert DetectConfig().fps is None and not DetectConfig().motion.enabled  # every frame, no gating
    assert detect_from({"motion": True}, "detect") == DetectConfig(motion=MotionConfig(enabled=True))
    assert detect_from({"motion": {}}, "detect").motion.enabled  # a section given is on ...
    assert not detect_from({"motion": {"enabled": False, "threshold": 9}}, "d").motion.enabled  # ... or not
    assert detect_from({"fps": None}, "detect") == DetectConfig()
    assert source_detect_from(None, None, "s") is None
    assert source_detect_from(3, None, "s") == SourceDetect(fps=3.0)
    assert detect_for(DetectConfig(fps=4), None) == DetectConfig(fps=4)


def test_configs_nvr_yaml_is_what_it_says() -> None:
    cfg = load_yaml(CONFIGS / "nvr.yaml")
    drive, till, yard = (detect_for(cfg.detect, s.detect) for s in cfg.sources)
    assert (cfg.detect.fps, cfg.detect.motion.enabled, len(cfg.detect.motion.ignore)) == (5.0, True, 1)
    assert (drive.fps, drive.motion.threshold, len(drive.motion.ignore)) == (2.0, 40, 2)
    assert (till.fps, till.motion.enabled) == (15.0, False)
    assert yard == cfg.detect


def test_a_posted_source_takes_the_same_keys() -> None:
    body = {"uri": "rtsp://cam/x", "detect_fps": 1, "motion": {"min_area": 0.01, "learn": 1}}
    own = source_from(body, "source").detect
    assert own == SourceDetect(fps=1.0, motion=MotionConfig(enabled=True, min_area=0.01, learn=1.0))
    with pytest.raises(ConfigError, match=r"^source\.detect_fps must be > 0 \(leave it out"):
        source_from({"uri": "rtsp://cam/x", "detect_fps": 0}, "source")
    with pytest.raises(ConfigError, match=r"^source: unknown config key 'detect' \(valid: uri, name, .*"):
        source_from({"uri": "rtsp://cam/x", "detect": {"fps": 2}}, "source")


BAD = [
    ("detect: [5]", "t.yaml: detect must be a mapping with any of: fps, motion"),
    ("detect: {rate: 5}", "t.yaml: detect: unknown key 'rate' (valid: fps, motion)"),
    ("detect: {fps: 0}", "t.yaml: detect.fps must be > 0 (leave it out to infer every frame), got 0"),
    ("detect: {fps: -2.5}", "t.yaml: detect.fps must be > 0 (leave it out to infer every frame), got -2.5"),
    ("detect: {fps: 1001}", "t.yaml: detect.fps must be at most 1000 frames per second, got 1001"),
    ("detect: {fps: 5fps}", "t.yaml: detect.fps must be a number of frames per second, got '5fps'"),
    ("detect: {fps: .nan}", "detect.fps must be a number of frames per second, got nan"),
    ("detect: {fps: true}", "detect.fps must be a number of frames per second, got True"),
    ("detect: {fps: " + "9" * 40 + "}", "detect.fps must be a number of frames per second, got a 40-digit"),
    ("detect: {motion: 3}", "t.yaml: detect.motion must be true, false or a mapping with any of: enabled,"),
    (
        "detect: {motion: {treshold: 3}}",
        "t.yaml: detect.motion: unknown key 'treshold' (valid: enabled, ignore, learn, min_area, threshold, "
        "width)",
    ),
    (
        "detect: {motion: {enabled: yes please}}",
        "detect.motion.enabled must be true or false, got 'yes please'",
    ),
    (
        "detect: {motion: {threshold: 0}}",
        "detect.motion.threshold must be an integer 1..255 (grey levels), got 0",
    ),
    ("detect: {motion: {threshold: 256}}", "detect.motion.threshold must be an integer 1..255 (grey levels)"),
    (
        "detect: {motion: {threshold: 25.5}}",
        "detect.motion.threshold must be an integer 1..255 (grey levels)",
    ),
    (
        "detect: {motion: {min_area: 0}}",
        "detect.motion.min_area must be a share of the frame in (0, 1], e.g.",
    ),
    ("detect: {motion: {min_area: 2}}", "detect.motion.min_area must be a share of the frame in (0, 1]"),
    ("detect: {motion: {min_area: .inf}}", "detect.motion.min_area must be a share of the frame in (0, 1]"),
    ("detect: {motion: {width: 16}}", "detect.motion.width must be an integer 32..1920 (pixels), got 16"),
    ("detect: {motion: {width: 4000}}", "detect.motion.width must be an integer 32..1920 (pixels), got 4000"),
    ("detect: {motion: {learn: 0}}", "detect.motion.learn must be in (0, 1] (the background's learning rate"),
    ("detect: {motion: {learn: 1.5}}", "detect.motion.learn must be in (0, 1]"),
    (
        "detect: {motion: {ignore: clock}}",
        "detect.motion.ignore must be a list of areas ({polygon: [[x, y], ...]})",
    ),
    ("detect: {motion: {ignore: [[[0, 0], [1, 0], [1, 1]]]}}", "detect.motion.ignore[0] must be a mapping"),
    (
        "detect: {motion: {ignore: [{name: x}]}}",
        "detect.motion.ignore[0]: unknown key 'name' (valid: polygon)",
    ),
    ("detect: {motion: {ignore: [{}]}}", "detect.motion.ignore[0].polygon is missing"),
    (
        "detect: {motion: {ignore: [{polygon: [[0, 0], [1, 1]]}]}}",
        "detect.motion.ignore[0].polygon needs at least 3 points, got 2",
    ),
    (
        "detect: {motion: {ignore: [{polygon: [[0, 0], [1, 1], [1, 0], [0, 1]]}]}}",
        "detect.motion.ignore[0].polygon crosses itself (edges (0, 2) intersect)",
    ),
    (
        "sources: [{uri: rtsp://cam/x, detect_fps: 0}]",
        "t.yaml: sources[0].detect_fps must be > 0 (leave it out to infer every frame), got 0",
    ),
    (
        "sources: [{uri: rtsp://cam/x, motion: {threshold: 300}}]",
        "t.yaml: sources[0].motion.threshold must be an integer 1..255 (grey levels), got 300",
    ),
    (
        "sources: [{uri: rtsp://cam/x, motion: fast}]",
        "t.yaml: sources[0].motion must be true, false or a mapping",
    ),
    ("sources: [{uri: rtsp://cam/x, detect: {fps: 2}}]", "t.yaml: sources[0]: unknown config key 'detect'"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_each_mistake_is_one_line_naming_its_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    error = str(caught.value)
    assert message in error.replace(str(tmp_path) + "/", "") and "\n" not in error, error


def test_ignore_area_limits() -> None:
    area = {"polygon": [[0, 0], [1, 0], [1, 1]]}
    assert len(detect_from({"motion": {"ignore": [area] * 32}}, "detect").motion.ignore) == 32
    with pytest.raises(ConfigError, match=r"^detect\.motion\.ignore: at most 32 areas, got 33$"):
        detect_from({"motion": {"ignore": [area] * 33}}, "detect")
    many = [[float(i), float(i * i)] for i in range(257)]
    with pytest.raises(ConfigError, match=r"^d\.motion\.ignore\[0\]\.polygon has more than 256 points$"):
        detect_from({"motion": {"ignore": [{"polygon": many}]}}, "d")


def test_configs_built_in_python_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"^detect\.fps must be > 0 \(leave it out to infer every frame\)"):
        Config(detect=DetectConfig(fps=0)).validated()
    with pytest.raises(ConfigError, match=r"^detect\.motion\.width must be an integer 32\.\.1920"):
        Config(detect=DetectConfig(motion=MotionConfig(width=8))).validated()
    own = SourceDetect(motion=MotionConfig(learn=0))
    with pytest.raises(ConfigError, match=r"^sources\[0\]\.motion\.learn must be in \(0, 1\]"):
        Config(sources=(SourceConfig("a.mp4", detect=own),)).validated()
    with pytest.raises(ConfigError, match=r"^source\.detect_fps must be at most 1000 frames per second"):
        check_source(SourceConfig("a.mp4", detect=SourceDetect(fps=5000)), "source")
    crossed = IgnoreArea(((0, 0), (1, 1), (1, 0), (0, 1)))
    for _ in range(2):  # the second time from the cache, the same line
        with pytest.raises(ConfigError, match=r"^run\.motion\.ignore\[0\]\.polygon crosses itself"):
            check_detect(DetectConfig(motion=MotionConfig(ignore=(crossed,))), "run")
    listed = IgnoreArea([[0, 0], [1, 0]])  # type: ignore[arg-type] # lists, from untyped code
    with pytest.raises(ConfigError, match=r"^run\.motion\.ignore\[0\]\.polygon needs at least 3 points"):
        check_detect(DetectConfig(motion=MotionConfig(ignore=(listed,))), "run")


def test_merge_replaces_keys_of_the_run_section() -> None:
    cfg = Config(detect=DetectConfig(fps=5, motion=MotionConfig(enabled=True, threshold=30)))
    assert merge(cfg, detect={"fps": 2.0, "motion": None}).detect == DetectConfig(
        fps=2.0, motion=cfg.detect.motion
    )
    with pytest.raises(ConfigError, match=r"^detect\.fps must be at most 1000"):
        merge(cfg, detect={"fps": 2000.0})


def test_a_rate_above_the_cameras_is_refused_once_it_is_known() -> None:
    check_detect_rate(None, 30.0, "source door")  # every frame
    check_detect_rate(30.0, 29.97, "source door")  # rounded rates are every frame, not a mistake
    check_detect_rate(60.0, 0.0, "source door")  # rate not known: nothing to check
    with pytest.raises(ConfigError) as caught:
        check_detect_rate(60.0, 30.0, "source door")
    assert str(caught.value) == "source door: detect_fps 60 is above the camera's 30 fps"
