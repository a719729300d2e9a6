"""``Config``: one of each section, and the checks that reject values that cannot mean anything (one line
each, naming the key and what is allowed), sources included."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamseg.config.detect import DetectConfig, check_detect, check_source_detect
from streamseg.config.devices import is_device_name
from streamseg.config.hosts import check_source_schemes, parse_host_rules
from streamseg.config.names import check_distinct, check_name
from streamseg.config.numbers import bounded_int, finite, shown
from streamseg.config.privacy import PrivacyConfig, check_privacy, privacy_for
from streamseg.config.publish import check_publish_url
from streamseg.config.scene import MATCHES, TRACKERS, check_tracker
from streamseg.config.sections import (
    BACKENDS,
    CUDA_GRAPHS_CHOICES,
    DECODE_CHOICES,
    ENCODER_CHOICES,
    MAX_NAME_CHARS,
    MAX_URI_CHARS,
    PRIORITIES,
    ApiConfig,
    ClusterConfig,
    DashboardConfig,
    EventsConfig,
    LatencyConfig,
    LiveConfig,
    ModelConfig,
    OutputConfig,
    PipelineConfig,
    RenderConfig,
    SamConfig,
    SourceConfig,
    SourceRules,
    TelemetryConfig,
    TrackConfig,
)
from streamseg.config.uris import check_client_uri
from streamseg.errors import ConfigError

MAX_SIDE = 16_384  # a webcam mode's width or height: 16K and below
MAX_FPS = 1000.0


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
    track: TrackConfig = field(default_factory=TrackConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)  # every source's; each may add its own
    detect: DetectConfig = field(default_factory=DetectConfig)  # every source's; each may replace it

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
    "track": TrackConfig,
    "events": EventsConfig,
}


def validate(cfg: Config) -> None:
    """Reject values that cannot mean anything; one line each, naming the key."""
    m, r, o, p = cfg.model, cfg.render, cfg.output, cfg.pipeline
    _check(m.batch >= 1, f"model.batch must be >= 1, got {m.batch}")
    _check(m.batch <= 256, f"model.batch must be <= 256, got {m.batch}")
    _check(m.conf is None or 0.0 <= m.conf <= 1.0, f"model.conf must be between 0 and 1, got {m.conf}")
    _check(0.0 <= m.iou <= 1.0, f"model.iou must be between 0 and 1, got {m.iou}")
    _check(m.max_det >= 1, f"model.max_det must be >= 1, got {m.max_det}")
    _check(
        m.imgsz is None or (32 <= m.imgsz <= 4096 and m.imgsz % 32 == 0),
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
    _check(
        m.cuda_graphs in CUDA_GRAPHS_CHOICES,
        f"model.cuda_graphs (--cuda-graphs) must be auto, on or off, got {m.cuda_graphs!r}",
    )
    if p.gpu_memory != "auto":
        parse_size(p.gpu_memory, "pipeline.gpu_memory (--gpu-memory)")
    _check(o.encoder in ENCODER_CHOICES, f"output.encoder must be auto, x264 or nvenc, got {o.encoder!r}")
    _validate_live(cfg.live, cfg.output)
    _validate_dashboard(cfg.dashboard)
    _validate_cluster(cfg.cluster)
    _validate_overload(cfg.latency, cfg.telemetry)
    _check(not cfg.sam.refine or bool(cfg.sam.model), "sam.refine needs sam.model, a SAM checkpoint")
    _check(1 <= cfg.sam.max_prompts <= 64, f"sam.max_prompts must be 1..64, got {cfg.sam.max_prompts}")
    _validate_scene(cfg.track, cfg.events)
    check_privacy(cfg.privacy, "privacy")
    check_detect(cfg.detect, "detect")
    _check(
        not (o.retain or o.retain_size) or bool(o.record or cfg.events.snapshots or o.clips),
        "--retain and --retain-size apply to recordings, clips and snapshots: give one of them too",
    )
    _validate_sources(cfg)


def _validate_scene(t: TrackConfig, e: EventsConfig) -> None:
    _check(
        t.tracker is None or t.tracker in TRACKERS,
        f"track.tracker (--track): unknown tracker {t.tracker!r} (use {', '.join(TRACKERS)})",
    )
    _check(t.match in MATCHES, f"track.match must be box or mask, got {t.match!r}")
    _check(0.05 <= t.lost_s <= 600, f"track.lost_s must be 0.05..600 seconds, got {t.lost_s}")
    _check(1 <= e.queue <= 1_000_000, f"events.queue must be 1..1000000, got {e.queue}")
    _check(1 <= e.snapshots_max <= 10_000_000, f"events.snapshots_max must be >= 1, got {e.snapshots_max}")


def tracker_for(cfg: Config, source: SourceConfig) -> str | None:
    """The tracker a source runs, or None: its own ``track``, else the run's. Zones, lines and events
    are about identities, so a source with zones or lines, or a run with an event sink, gets ByteTrack
    unless tracking is turned off for it."""
    own = source.track
    if own == "off":
        return None
    if own:
        return own
    if cfg.track.tracker:
        return cfg.track.tracker
    return "bytetrack" if source.zones or source.lines or events_wanted(cfg) else None


def events_wanted(cfg: Config) -> bool:
    e = cfg.events
    return bool(e.file or e.mqtt or e.webhooks or e.snapshots or cfg.output.clips)


def _validate_sources(cfg: Config) -> None:
    rules = cfg.source_rules
    _check(rules.max >= 0, f"sources.max must be >= 0 (0: sized from the machine), got {rules.max}")
    _check(0 <= rules.min_fps <= 240, f"sources.min_fps must be 0..240, got {rules.min_fps}")
    limit = max_sources(rules)
    _check(
        len(cfg.sources) <= limit,
        f"{len(cfg.sources)} sources given, more than sources.max = {limit} (--max-sources raises it)",
    )
    for i, s in enumerate(cfg.sources):
        check_name(s.display_name(), f"sources[{i}].name", MAX_NAME_CHARS, "/")
        _check_priority(s, f"source {s.display_name()}")
        check_client_uri(s.uri, rules.allow_listen)
        if s.privacy is not None:  # what the source runs with: its keys over the run's, both areas
            check_privacy(privacy_for(cfg.privacy, s.privacy), f"sources[{i}].privacy")
        if s.detect is not None:  # its own keys replace the run's: nothing to check together
            check_source_detect(s.detect, f"sources[{i}]")
    check_distinct((s.display_name() for s in cfg.sources), "sources (set 'name')")
    for root in cfg.api.file_roots:
        _check(Path(root).expanduser().is_dir(), f"api.file_roots: {root} is not a folder")
    parse_host_rules(cfg.api.source_hosts)
    check_source_schemes(cfg.api.source_schemes)
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
    if o.clips is not None:
        pre, post = parse_duration(o.pre_roll, "--pre-roll"), parse_duration(o.post_roll, "--post-roll")
        _check(
            pre <= MAX_PRE_ROLL_S,
            f"--pre-roll {o.pre_roll} is longer than the buffer allows ({MAX_PRE_ROLL_S:g} s)",
        )
        _check(post <= MAX_POST_ROLL_S, f"--post-roll {o.post_roll} is longer than {MAX_POST_ROLL_S:g} s")
    if o.publish is not None:
        check_publish_url(o.publish, o.publish_transport)
    if o.retain is not None:
        parse_duration(o.retain, "output.retain (--retain)")
    if o.retain_size is not None:
        parse_size(o.retain_size, "output.retain_size (--retain-size)")


MAX_PRE_ROLL_S = 60.0  # a clip's pre-roll is held as encoded packets per source: about 60 s x bitrate
MAX_POST_ROLL_S = 600.0
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$")


def parse_duration(text: str, key: str = "duration") -> float:
    """``"10m"`` -> 600.0; ``"30s"``, ``"1h"``, ``"7d"``, or plain seconds. At least one second."""
    match = _DURATION_RE.match(str(text).lower())
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)] if match else 0.0
    _check(seconds >= 1, f"{key} must be a duration like 30s, 10m, 1h or 7d, got {text!r}")
    return seconds


def parse_size(text: str, key: str = "size") -> int:
    """``"50GB"`` -> 50 * 10**9 bytes (``GiB``: 2**30); ``MB``, ``TB``, ``KiB`` ... or plain bytes. At
    least one megabyte: less cannot hold a single recording fragment."""
    match = _SIZE_RE.match(str(text).lower())
    size = 0.0
    if match:
        unit = match.group(2).removesuffix("b")  # "", "k", "ki", "m", "mi" ...
        prefix = unit.removesuffix("i")
        if prefix or unit == "":
            power = "kmgt".index(prefix) + 1 if prefix else 0
            size = float(match.group(1)) * (1024 if unit.endswith("i") else 1000) ** power
    _check(size >= 10**6, f"{key} must be a size like 500MB, 50GB or 2TiB (at least 1MB), got {text!r}")
    return int(size)


def _validate_dashboard(d: DashboardConfig) -> None:
    _check(0 < d.preview_fps <= 30, f"dashboard.preview_fps must be in (0, 30], got {d.preview_fps}")
    _check(64 <= d.preview_width <= 3840, f"dashboard.preview_width must be 64..3840, got {d.preview_width}")
    _check(10 <= d.history_s <= 3600, f"dashboard.history_s must be 10..3600, got {d.history_s}")
    _check(0 <= d.live_viewers <= 256, f"dashboard.live_viewers must be 0..256, got {d.live_viewers}")
    per_source = d.live_viewers_per_source
    _check(1 <= per_source <= 256, f"dashboard.live_viewers_per_source must be 1..256, got {per_source}")
    _check(
        8 <= d.max_connections <= 65536,
        f"dashboard.max_connections must be 8..65536, got {d.max_connections}",
    )
    _check(
        1 <= d.header_timeout_s <= 300,
        f"dashboard.header_timeout_s must be 1..300 seconds, got {d.header_timeout_s}",
    )


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


def check_source(sc: SourceConfig, where: str) -> SourceConfig:
    _check(bool(sc.uri.strip()), f"{where}: 'uri' must not be empty")
    # Before anything else reads it: redaction and URL parsing then only ever see a bounded string.
    _check(len(sc.uri) <= MAX_URI_CHARS, f"{where}: 'uri' is longer than {MAX_URI_CHARS} characters")
    _check(len(sc.name) <= MAX_NAME_CHARS, f"{where}: 'name' is longer than {MAX_NAME_CHARS} characters")
    for key in ("width", "height"):
        value = bounded_int(getattr(sc, key), f"{where}: {key}")
        _check(0 <= value <= MAX_SIDE, f"{where}: {key} must be >= 0 and at most {MAX_SIDE}, got {value}")
    fps = finite(sc.fps, f"{where}: fps")
    _check(0 <= fps <= MAX_FPS, f"{where}: fps must be >= 0 and at most {MAX_FPS:g}, got {fps:g}")
    _check_priority(sc, where)
    check_tracker(sc.track, f"{where}: track")
    if sc.privacy is not None:  # its own keys; the run's are checked with the run
        check_privacy(privacy_for(PrivacyConfig(), sc.privacy), f"{where}.privacy")
    if sc.detect is not None:
        check_source_detect(sc.detect, where)
    check_name(sc.display_name(), f"{where}: name", MAX_NAME_CHARS, "/")
    return sc


def _check_priority(sc: SourceConfig, where: str) -> None:
    _check(
        sc.priority in PRIORITIES, f"{where}: priority must be low, normal or high, got {shown(sc.priority)}"
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
