"""What an unset ``model.conf`` means, as in Ultralytics: 0.25 for what is shown (``predict``'s default)
and 0.1 for what a tracker is fed (``Model.track`` sets ``conf=0.1`` when none is given: ByteTrack's
second association matches tracks to the low-scoring detections). A run with tracked sources runs the
network at the lower one; its untracked sources are then filtered back to the shown one, and a tracked
source shows what its tracker keeps (any score) and, without a track id, what scores at least that."""

from __future__ import annotations

from streamseg.config.schema import Config, events_wanted, tracker_for
from streamseg.config.sections import ModelConfig

PREDICT_CONF = 0.25  # Ultralytics' predict default
TRACK_CONF = 0.1  # Ultralytics' track default


def shown_conf(model: ModelConfig) -> float:
    """The lowest score an instance without a track id is reported with."""
    return PREDICT_CONF if model.conf is None else model.conf


def network_conf(cfg: Config) -> float:
    """The network's own threshold: the user's, else the lowest any source of the run needs."""
    if cfg.model.conf is not None:
        return cfg.model.conf
    return TRACK_CONF if tracks_any(cfg) else PREDICT_CONF


def tracks_any(cfg: Config) -> bool:
    """Whether a source of the run is (or, added while it runs, would be by default) tracked."""
    return bool(cfg.track.tracker) or events_wanted(cfg) or any(tracker_for(cfg, s) for s in cfg.sources)
