"""A cluster's cameras keep their ``privacy`` sections on the way to the groups: through the paths made
absolute (``dataclasses.replace``), the roster, and pickling (Ray sends configs and cameras pickled;
nothing on the way is a dict that could drop a key)."""

from __future__ import annotations

import pickle
from pathlib import Path

from streamseg.cluster.client import load_cluster_config
from streamseg.cluster.roster import Roster
from streamseg.config import PrivacyArea, PrivacyConfig, SourcePrivacy, privacy_for


def test_privacy_survives_the_trip_to_the_groups(tmp_path: Path) -> None:
    config = tmp_path / "cams.yaml"
    config.write_text(
        "privacy: {objects: [person], style: fill}\n"
        "sources:\n"
        "  - uri: clips/a.mp4\n"
        "    privacy: {grow: 9, areas: [{polygon: [[0, 0], [0.5, 0], [0.5, 0.5]]}]}\n"
        "  - rtsp://cam/b\n",
        encoding="utf-8",
    )
    cfg = load_cluster_config(config, base=tmp_path)
    area = PrivacyArea(((0.0, 0.0), (0.5, 0.0), (0.5, 0.5)))
    own = SourcePrivacy(grow=9, areas=(area,))
    assert cfg.privacy == PrivacyConfig(objects=("person",), style="fill")
    assert cfg.sources[0].uri == str(tmp_path / "clips/a.mp4") and cfg.sources[0].privacy == own
    sent = pickle.loads(pickle.dumps(cfg))
    assert sent == cfg and privacy_for(sent.privacy, sent.sources[0].privacy).areas == (area,)
    roster = pickle.loads(pickle.dumps(Roster(list(cfg.sources))))
    assert [c.privacy for c in roster.cameras()] == [own, None]
