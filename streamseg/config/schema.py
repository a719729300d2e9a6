"""Run configuration: frozen dataclasses, YAML loading that rejects unknown keys, and value checks.

Precedence: built-in defaults < YAML file (``--config``) < command-line flags. Every check raises
``ConfigError`` with one line that names the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from streamseg.config.devices import is_device_name
from streamseg.config.uris import check_client_uri
from streamseg.errors import ConfigError
from streamseg.redact import safe_name, without_secret_pairs

DEFAULT_MODEL = "yolov8n-seg.pt"
BACKENDS = ("auto", "onnxruntime", "torch", "tensorrt")
DECODE_CHOICES = ("auto", "cpu", "gpu")
ENCODER_CHOICES = ("auto", "x264", "nvenc")
PRIORITIES = ("low", "normal", "high")  # live sources under a latency budget: low ones degrade first
MAX_URI_CHARS = 4096  # longer is refused before any work: no camera URL comes near it
MAX_NAME_CHARS = 128


@dataclass(frozen=True)
class SourceConfig:
    """One input: a file path, a webcam index / ``/dev/videoN``, or (later) a stream URL."""

    uri: str
    name: str = ""
    # Webcams only: the mode to ask for (0 = the camera's default); the log says what the camera gives.
    width: int = 0
    height: int = 0
    fps: float = 0.0
    # Under --latency-budget: low-priority cameras are strided first, high-priority ones last.
    priority: str = "normal"

    def display_name(self) -> str:
        return self.name or default_source_name(self.uri)


@dataclass(frozen=True)
class SourceRules:
    """Which sources a run takes and how many: ``sources:`` written as a mapping in YAML
    (``{max: 32, allow_listen: false, list: [...]}``); the plain list form keeps these defaults."""

    max: int = 0  # most sources at once; 0 = sized from the machine (8 per CPU core, 16 to 64)
    allow_listen: bool = False  # let a source bind a port (listen=1, udp://@:port, srt listener): off
    min_fps: float = 1.0  # refuse a runtime add that would leave each source fewer processed frames/s


@dataclass(frozen=True)
class ModelConfig:
    path: str = DEFAULT_MODEL  # Ultralytics -seg .pt or .onnx
    imgsz: int = 640  # longest side of the network input; the other side is the smallest stride multiple
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    batch: int = 4  # most frames per inference call
    batch_timeout_ms: float = 5.0  # how long the batcher waits to fill a batch once it has one frame
    backend: str = "auto"  # with --device cpu: ONNX Runtime; on CUDA: TensorRT, else PyTorch
    device: str = "cpu"
    threads: int = 0  # intra-op threads for ONNX Runtime; 0 = its default (all cores)
    engines_dir: str = "engines"  # where exported ONNX files are cached


@dataclass(frozen=True)
class RenderConfig:
    masks: bool = True
    boxes: bool = True
    labels: bool = True
    hud: bool = True
    alpha: float = 0.45  # mask opacity
    line_width: int = 2


@dataclass(frozen=True)
class OutputConfig:
    record: str | None = None  # annotated H.264 mp4; out.mp4 -> out_<name>.mp4 for several sources
    save_results: str | None = None  # JSON lines, one per frame
    save_images: str | None = None  # folder for annotated copies of still-image sources
    telemetry: str | None = None  # JSON lines, one snapshot per second
    crf: int = 23
    preset: str = "veryfast"
    segment: str | None = None  # start a new recording file every so long ("10m", "30s", "1h")
    encoder: str = "auto"  # auto | x264 | nvenc; auto: NVENC when the model is on a GPU that has one


@dataclass(frozen=True)
class PipelineConfig:
    queue_size: int = 8  # frames buffered per source, and results buffered before render
    stage_timeout_s: float = 0.1  # every blocking put/get waits at most this long before re-checking stop
    source_timeout_s: float = 5.0  # a network source silent this long: reconnect (live) or error (file URL)
    loop: bool = False  # play file sources again from the start when they end (demos, soak tests)
    decode: str = "auto"  # auto | cpu | gpu; auto: NVDEC when the model's device path is on CUDA


@dataclass(frozen=True)
class LiveConfig:
    """Cameras and streams (RTSP, live HTTP/HLS, webcams): transport, reconnection, frame policy."""

    rtsp_transport: str = "tcp"  # tcp | udp
    buffer: int = 1  # newest frames kept per live source; older ones are dropped (and counted)
    stall_s: float = 2.0  # no frame for this long while connected: health "stalled"
    reconnect_initial_s: float = 0.5  # first wait after a failure; doubles per failure
    reconnect_max_s: float = 10.0  # the wait never exceeds this
    reconnect_jitter: float = 0.2  # each wait is randomised by +-20 % so cameras do not retry in step
    max_retries: int = -1  # failed attempts in a row before the source fails; -1 = retry forever
    decoder_threads: int = 1  # per RTSP/RTMP/SRT stream; 0 = FFmpeg's choice (frame threads: +1 frame each)


@dataclass(frozen=True)
class DashboardConfig:
    """``--dashboard``: live page, Prometheus /metrics and health probes served from the run."""

    listen: str | None = None  # [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080; None = no dashboard
    token: str | None = None  # required off loopback (or set STREAMSEG_DASHBOARD_TOKEN)
    allowed_hosts: tuple[str, ...] = ()  # names it is reached by besides loopback and its own address
    preview_fps: float = 2.0  # most preview JPEGs per second per source (made only while watched)
    preview_width: int = 640  # previews are downscaled to at most this width
    history_s: int = 300  # seconds of chart history kept


@dataclass(frozen=True)
class ApiConfig:
    """What ``POST /api/sources`` (the dashboard's, or the cluster's) may start."""

    file_roots: tuple[str, ...] = ()  # folders whose video files may be added; none: no local files


@dataclass(frozen=True)
class ClusterConfig:
    """``streamseg cluster``: how cameras are grouped and placed on the machines of a Ray cluster."""

    cameras_per_group: int = 0  # cameras per group actor; 0 = one group per GPU (per node without GPUs)
    cpus_per_group: float = 1.0  # Ray CPUs each group reserves on its node
    gpus_per_group: float = 1.0  # Ray GPUs each group reserves when model.device is cuda
    probe_s: float = 0.5  # how often the controller asks every group how it is


@dataclass(frozen=True)
class SamConfig:
    """Segment Anything in a run: refine the detector's masks, segment what is clicked on the dashboard."""

    model: str | None = None  # SAM checkpoint: sam_b.pt, mobile_sam.pt, sam2_t.pt, sam_vit_b_01ec64.pth ...
    refine: bool = False  # each frame's detections become box prompts; SAM's masks replace the detector's
    max_prompts: int = 8  # dashboard clicks kept per source (the oldest goes first)


@dataclass(frozen=True)
class LatencyConfig:
    """``--latency-budget``: what live sources give up, one rung at a time, when inference falls behind."""

    budget_ms: float | None = None  # p95 frame age of live sources to hold; None = off (files never degrade)
    min_imgsz: int = 256  # the network input never shrinks below this (nor grows above model.imgsz)
    max_stride: int = 4  # at worst every camera is processed every 4th frame; 1 = never stride
    shed_decoding: bool = True  # then decode less: no non-reference frames, then keyframes only


@dataclass(frozen=True)
class TelemetryConfig:
    """The leak watchdog: memory growth over a sliding window, and one warning when it stays high."""

    leak_warn_mib_per_hour: float = 20.0  # warn when RSS (or GPU memory) grows faster; 0 = never warn
    leak_window_s: float = 1800.0  # the slope is taken over this long (and warned on only once it is full)


@dataclass(frozen=True)
class Config:
    sources: tuple[SourceConfig, ...] = ()
    source_rules: SourceRules = field(default_factory=SourceRules)
    model: ModelConfig = field(default_factory=ModelConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    sam: SamConfig = field(default_factory=SamConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)

    def validated(self) -> Config:
        validate(self)
        return self


_SECTIONS: dict[str, type[Any]] = {
    "model": ModelConfig,
    "render": RenderConfig,
    "output": OutputConfig,
    "pipeline": PipelineConfig,
    "live": LiveConfig,
    "dashboard": DashboardConfig,
    "api": ApiConfig,
    "cluster": ClusterConfig,
    "sam": SamConfig,
    "latency": LatencyConfig,
    "telemetry": TelemetryConfig,
}


def default_source_name(uri: str) -> str:
    """A short name safe for file names: the file stem, ``cam0`` for webcam 0, ``video2`` for /dev/video2."""
    if uri.isdigit():
        return f"cam{uri}"
    if "://" in uri:  # a URL: never from its user:password@ part, its query, nor a secret in its path
        try:
            parts = urlsplit(uri)
            hostname = parts.hostname
        except ValueError:  # a malformed authority ([::1 without its bracket, a bad port)
            return "source"
        return _name_from(Path(parts.path.rstrip("/")).stem, hostname or "source")
    if any(ch in uri for ch in "*?["):  # an image glob: the deepest folder before the wildcard
        fixed = uri[: min(uri.find(ch) for ch in "*?[" if ch in uri)]
        return _name_from(Path(fixed[: fixed.rfind("/") + 1].rstrip("/")).name, "images")
    return _name_from(Path(uri.split("?", maxsplit=1)[0].rstrip("/")).stem, "source")


def _name_from(stem: str, fallback: str) -> str:
    """``stem`` made safe for file names, every ``password=...`` pair (key and value) left out first: DVR
    paths such as ``user=admin_password=X_channel=1`` would otherwise name the source after a secret."""
    cleaned = without_secret_pairs(stem)
    name = safe_name(cleaned)
    if cleaned != stem:
        name = re.sub(r"_{2,}", "_", name).strip("_")
    return name or safe_name(fallback) or "source"


def load_yaml(path: str | Path) -> Config:
    """Read a config file; unknown keys and wrong types are errors, not warnings."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise ConfigError(f"invalid YAML in {p}{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file is not UTF-8 text: {p}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections, got {type(data).__name__}")
    return from_dict(data, origin=str(p))


def from_dict(data: dict[str, Any], origin: str = "config") -> Config:
    allowed = {"sources", *_SECTIONS}
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{origin}: unknown config key '{key}' (valid: {', '.join(sorted(allowed))})")
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{origin}: '{name}' must be a mapping, got {type(raw).__name__}")
        sections[name] = _build(cls, raw, f"{origin}: {name}")
    sources, rules = _parse_sources(data.get("sources") or [], origin)
    return Config(sources=sources, source_rules=rules, **sections).validated()


def _parse_sources(raw: Any, origin: str) -> tuple[tuple[SourceConfig, ...], SourceRules]:
    """``sources:`` is a list of sources, or a mapping of the rules (``max``, ``allow_listen``,
    ``min_fps``) with the sources under ``list``."""
    items: Any = raw
    rules = SourceRules()
    if isinstance(raw, dict):
        items = raw.get("list") or []
        rules = _build(SourceRules, {k: v for k, v in raw.items() if k != "list"}, f"{origin}: sources")
    if not isinstance(items, list):
        raise ConfigError(f"{origin}: 'sources' must be a list (or a mapping with the sources under 'list')")
    sources = tuple(source_from(item, f"{origin}: sources[{i}]") for i, item in enumerate(items))
    return sources, rules


def source_from(item: Any, where: str = "source") -> SourceConfig:
    """One source as written in YAML (or posted as JSON): a path/URL, or a mapping of SourceConfig fields."""
    if isinstance(item, (str, int)) and not isinstance(item, bool):
        return _checked_source(SourceConfig(uri=str(item)), where)
    if isinstance(item, dict):
        if "uri" not in item:
            raise ConfigError(f"{where}: 'uri' is missing")
        values = {k: str(v) if k in ("uri", "name") else v for k, v in item.items()}
        return _checked_source(_build(SourceConfig, values, where), where)
    raise ConfigError(f"{where} must be a path/URL or a mapping with 'uri' and 'name'")


def _checked_source(sc: SourceConfig, where: str) -> SourceConfig:
    _check(bool(sc.uri.strip()), f"{where}: 'uri' must not be empty")
    # Before anything else reads it: redaction and URL parsing then only ever see a bounded string.
    _check(len(sc.uri) <= MAX_URI_CHARS, f"{where}: 'uri' is longer than {MAX_URI_CHARS} characters")
    _check(len(sc.name) <= MAX_NAME_CHARS, f"{where}: 'name' is longer than {MAX_NAME_CHARS} characters")
    _check(sc.width >= 0 and sc.height >= 0, f"{where}: width and height must be >= 0")
    _check(sc.fps >= 0, f"{where}: fps must be >= 0, got {sc.fps}")
    _check_priority(sc, where)
    name = sc.display_name()
    _check(
        0 < len(name) <= MAX_NAME_CHARS and name.isprintable() and "/" not in name,
        f"{where}: name must be 1-{MAX_NAME_CHARS} printable characters without '/', got {name!r}",
    )
    return sc


def _check_priority(sc: SourceConfig, where: str) -> None:
    _check(sc.priority in PRIORITIES, f"{where}: priority must be low, normal or high, got {sc.priority!r}")


def _build(cls: type[Any], raw: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}: unknown config key '{key}' (valid: {', '.join(known)})")
    values = {}
    for key, value in raw.items():
        values[key] = _coerce(value, known[key], f"{where}.{key}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(value: Any, f: dataclasses.Field[Any], where: str) -> Any:
    kind = str(f.type)
    if value is None and "None" in kind:
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if kind.startswith("float"):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    if kind.startswith("tuple[str"):
        items = [value] if isinstance(value, str) else value
        if isinstance(items, (list, tuple)) and all(isinstance(v, str) and v for v in items):
            return tuple(items)
        raise ConfigError(f"{where} must be a list of strings, got {value!r}")
    if kind.startswith("str"):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def merge(base: Config, **overrides: dict[str, Any]) -> Config:
    """Apply non-None CLI overrides per section, e.g. ``merge(cfg, model={"conf": 0.5})``."""
    changes: dict[str, Any] = {}
    for section, values in overrides.items():
        current = getattr(base, section)
        kept = {k: v for k, v in values.items() if v is not None}
        if kept:
            changes[section] = dataclasses.replace(current, **kept)
    return dataclasses.replace(base, **changes).validated()


def validate(cfg: Config) -> None:
    """Reject values that cannot mean anything; one line each, naming the key."""
    m, r, o, p = cfg.model, cfg.render, cfg.output, cfg.pipeline
    _check(m.batch >= 1, f"model.batch must be >= 1, got {m.batch}")
    _check(m.batch <= 256, f"model.batch must be <= 256, got {m.batch}")
    _check(0.0 <= m.conf <= 1.0, f"model.conf must be between 0 and 1, got {m.conf}")
    _check(0.0 <= m.iou <= 1.0, f"model.iou must be between 0 and 1, got {m.iou}")
    _check(m.max_det >= 1, f"model.max_det must be >= 1, got {m.max_det}")
    _check(
        32 <= m.imgsz <= 4096 and m.imgsz % 32 == 0,
        f"model.imgsz must be a multiple of 32 between 32 and 4096, got {m.imgsz}",
    )
    _check(m.batch_timeout_ms >= 0, f"model.batch_timeout_ms must be >= 0, got {m.batch_timeout_ms}")
    _check(m.backend in BACKENDS, f"model.backend must be one of {', '.join(BACKENDS)}, got {m.backend!r}")
    _check(
        m.device == "cpu" or is_device_name(m.device),
        f"model.device must be 'cpu' or 'cuda:N', got {m.device!r}",
    )
    _check(m.threads >= 0, f"model.threads must be >= 0, got {m.threads}")
    _check(bool(m.path), "model.path must not be empty")
    _check(0.0 <= r.alpha <= 1.0, f"render.alpha must be between 0 and 1, got {r.alpha}")
    _check(1 <= r.line_width <= 20, f"render.line_width must be between 1 and 20, got {r.line_width}")
    _check(0 <= o.crf <= 51, f"output.crf must be between 0 and 51, got {o.crf}")
    _check(p.queue_size >= 1, f"pipeline.queue_size must be >= 1, got {p.queue_size}")
    _check(p.stage_timeout_s > 0, f"pipeline.stage_timeout_s must be > 0, got {p.stage_timeout_s}")
    _check(p.source_timeout_s > 0, f"pipeline.source_timeout_s must be > 0, got {p.source_timeout_s}")
    _check(p.decode in DECODE_CHOICES, f"pipeline.decode must be auto, cpu or gpu, got {p.decode!r}")
    _check(o.encoder in ENCODER_CHOICES, f"output.encoder must be auto, x264 or nvenc, got {o.encoder!r}")
    _validate_live(cfg.live, cfg.output)
    _validate_dashboard(cfg.dashboard)
    _validate_cluster(cfg.cluster)
    _validate_overload(cfg.latency, cfg.telemetry)
    _check(not cfg.sam.refine or bool(cfg.sam.model), "sam.refine needs sam.model, a SAM checkpoint")
    _check(1 <= cfg.sam.max_prompts <= 64, f"sam.max_prompts must be 1..64, got {cfg.sam.max_prompts}")
    _validate_sources(cfg)


def _validate_sources(cfg: Config) -> None:
    rules = cfg.source_rules
    _check(rules.max >= 0, f"sources.max must be >= 0 (0: sized from the machine), got {rules.max}")
    _check(0 <= rules.min_fps <= 240, f"sources.min_fps must be 0..240, got {rules.min_fps}")
    limit = max_sources(rules)
    _check(
        len(cfg.sources) <= limit,
        f"{len(cfg.sources)} sources given, more than sources.max = {limit} (--max-sources raises it)",
    )
    for s in cfg.sources:
        _check_priority(s, f"source {s.display_name()}")
        check_client_uri(s.uri, rules.allow_listen)
    names = [s.display_name() for s in cfg.sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    _check(not dupes, f"source names must be unique, '{', '.join(dupes)}' used more than once (set 'name')")
    for root in cfg.api.file_roots:
        _check(Path(root).expanduser().is_dir(), f"api.file_roots: {root} is not a folder")
    for host in cfg.dashboard.allowed_hosts:
        _check(
            re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,253}", host) is not None,
            f"dashboard.allowed_hosts: {host!r} is not a host name or address",
        )


def max_sources(rules: SourceRules) -> int:
    """``sources.max``, or when 0 the default for this machine: 8 per CPU core, at least 16, at most 64
    (each source is a decoding thread and an encoder; 100 on two cores starved the first ones to 0 fps)."""
    return rules.max or min(64, max(16, 8 * (os.cpu_count() or 1)))


def _validate_live(lv: LiveConfig, o: OutputConfig) -> None:
    _check(
        lv.rtsp_transport in ("tcp", "udp"),
        f"live.rtsp_transport must be tcp or udp, got {lv.rtsp_transport!r}",
    )
    _check(1 <= lv.buffer <= 64, f"live.buffer must be between 1 and 64, got {lv.buffer}")
    _check(lv.stall_s > 0, f"live.stall_s must be > 0, got {lv.stall_s}")
    _check(lv.reconnect_initial_s > 0, f"live.reconnect_initial_s must be > 0, got {lv.reconnect_initial_s}")
    _check(
        lv.reconnect_max_s >= lv.reconnect_initial_s,
        f"live.reconnect_max_s must be >= reconnect_initial_s, got {lv.reconnect_max_s}",
    )
    _check(
        0 <= lv.reconnect_jitter < 1, f"live.reconnect_jitter must be in [0, 1), got {lv.reconnect_jitter}"
    )
    _check(lv.max_retries >= -1, f"live.max_retries must be -1 (forever) or >= 0, got {lv.max_retries}")
    _check(
        0 <= lv.decoder_threads <= 64,
        f"live.decoder_threads must be between 0 (FFmpeg's choice) and 64, got {lv.decoder_threads}",
    )
    if o.segment is not None:
        parse_duration(o.segment, "output.segment")


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|)\s*$")


def parse_duration(text: str, key: str = "duration") -> float:
    """``"10m"`` -> 600.0; ``"30s"``, ``"1h"``, or plain seconds. At least one second."""
    match = _DURATION_RE.match(str(text).lower())
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)] if match else 0.0
    _check(seconds >= 1, f"{key} must be a duration like 30s, 10m or 1h, got {text!r}")
    return seconds


def _validate_dashboard(d: DashboardConfig) -> None:
    _check(0 < d.preview_fps <= 30, f"dashboard.preview_fps must be in (0, 30], got {d.preview_fps}")
    _check(64 <= d.preview_width <= 3840, f"dashboard.preview_width must be 64..3840, got {d.preview_width}")
    _check(10 <= d.history_s <= 3600, f"dashboard.history_s must be 10..3600, got {d.history_s}")


def _validate_cluster(c: ClusterConfig) -> None:
    _check(c.cameras_per_group >= 0, f"cluster.cameras_per_group must be >= 0, got {c.cameras_per_group}")
    _check(c.cpus_per_group >= 0, f"cluster.cpus_per_group must be >= 0, got {c.cpus_per_group}")
    _check(c.gpus_per_group > 0, f"cluster.gpus_per_group must be > 0, got {c.gpus_per_group}")
    _check(0 < c.probe_s <= 10, f"cluster.probe_s must be in (0, 10], got {c.probe_s}")


def _validate_overload(lat: LatencyConfig, tel: TelemetryConfig) -> None:
    budget = lat.budget_ms
    _check(
        budget is None or 10 <= budget <= 60_000,
        f"latency.budget_ms (--latency-budget) must be 10..60000 ms, got {budget}",
    )
    _check(
        32 <= lat.min_imgsz <= 4096 and lat.min_imgsz % 32 == 0,
        f"latency.min_imgsz must be a multiple of 32 between 32 and 4096, got {lat.min_imgsz}",
    )
    _check(1 <= lat.max_stride <= 30, f"latency.max_stride must be 1..30, got {lat.max_stride}")
    _check(
        tel.leak_warn_mib_per_hour >= 0,
        f"telemetry.leak_warn_mib_per_hour must be >= 0 (0: never warn), got {tel.leak_warn_mib_per_hour}",
    )
    _check(
        5 <= tel.leak_window_s <= 7 * 86_400,
        f"telemetry.leak_window_s must be 5 s .. 7 days, got {tel.leak_window_s}",
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
