"""``--publish URL``: a ``Publisher`` per source (``{source}`` in the URL becomes its name), fed by the
source's one encoder; their states for the status and ``/metrics``."""

from __future__ import annotations

import threading
from typing import Any

from streamseg.config import Config
from streamseg.config.publish import publish_url_for
from streamseg.record.publish import Publisher


class PublishBook:
    """The publishers of a run, by source."""

    def __init__(self, cfg: Config) -> None:
        if cfg.output.publish is None:
            raise ValueError("PublishBook needs output.publish")
        self.template = cfg.output.publish
        self.transport = cfg.output.publish_transport
        self._publishers: dict[str, Publisher] = {}
        self._lock = threading.Lock()

    def open(self, source: str) -> Publisher:
        publisher = Publisher(publish_url_for(self.template, source), source, self.transport)
        with self._lock:
            self._publishers[source] = publisher
        return publisher

    def close(self, source: str) -> None:
        with self._lock:
            publisher = self._publishers.pop(source, None)
        if publisher is not None:
            publisher.close()

    def status(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            publishers = dict(self._publishers)
        return {name: p.status() for name, p in publishers.items()}
