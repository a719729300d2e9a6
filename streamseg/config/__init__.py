"""Run configuration, one module per job: the sections (``sections``), the whole and its checks
(``schema``), loading YAML and overrides (``load``), names and their one slug space (``names``),
numbers that must be finite and bounded (``numbers``), what is hidden in pictures (``privacy``), which
URIs a source may use (``uris``), where streams added while running may connect (``hosts``) and device
names (``devices``). Every check raises ``ConfigError`` with one line that names the key and what is
allowed."""

from __future__ import annotations

from streamseg.config.load import from_dict, load_yaml, merge, source_from
from streamseg.config.names import default_source_name
from streamseg.config.privacy import (
    STYLES,
    PrivacyArea,
    PrivacyConfig,
    SourcePrivacy,
    check_privacy,
    check_privacy_classes,
    privacy_for,
    privacy_from,
    source_privacy_from,
)
from streamseg.config.scene import TRACKERS, LineConfig, ZoneConfig
from streamseg.config.schema import Config, max_sources, parse_duration, parse_size, tracker_for, validate
from streamseg.config.sections import (
    BACKENDS,
    CUDA_GRAPHS_CHOICES,
    DECODE_CHOICES,
    DEFAULT_MODEL,
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

__all__ = [
    "BACKENDS",
    "CUDA_GRAPHS_CHOICES",
    "DECODE_CHOICES",
    "DEFAULT_MODEL",
    "ENCODER_CHOICES",
    "MAX_NAME_CHARS",
    "MAX_URI_CHARS",
    "PRIORITIES",
    "STYLES",
    "TRACKERS",
    "ApiConfig",
    "ClusterConfig",
    "Config",
    "DashboardConfig",
    "EventsConfig",
    "LatencyConfig",
    "LineConfig",
    "LiveConfig",
    "ModelConfig",
    "OutputConfig",
    "PipelineConfig",
    "PrivacyArea",
    "PrivacyConfig",
    "RenderConfig",
    "SamConfig",
    "SourceConfig",
    "SourcePrivacy",
    "SourceRules",
    "TelemetryConfig",
    "TrackConfig",
    "ZoneConfig",
    "check_privacy",
    "check_privacy_classes",
    "default_source_name",
    "from_dict",
    "load_yaml",
    "max_sources",
    "merge",
    "parse_duration",
    "parse_size",
    "privacy_for",
    "privacy_from",
    "source_from",
    "source_privacy_from",
    "tracker_for",
    "validate",
]
