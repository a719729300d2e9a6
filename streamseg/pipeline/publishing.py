"""``--publish URL``: a ``Publisher`` per source (``{source}`` in the URL becomes its name), fed by the
source's one encoder; their states for the status and ``/metrics``."""

from __future__ import annotations

import threading
from typing import Any

from streamseg.config import Config
from streamseg.config.publish import publish_url_for
from streamseg.errors import ConfigError
from streamseg.record.publish import Publisher, protocol_missing


def check_protocol(url: str) -> None:
    """``ConfigError`` (one line) when PyAV's FFmpeg cannot speak ``url``'s protocol (SRT, with
    PyAV's wheels); cheap, so it runs before the model loads."""
    scheme = url.split(":", 1)[0].lower()
    if protocol_missing(scheme):
        raise ConfigError(
            f"--publish {scheme}://: the FFmpeg inside PyAV has no {scheme.upper()} protocol (PyAV's "
            "wheels are built without it); publish over rtsp:// or rtmp:// (MediaMTX and go2rtc take "
            "those and serve SRT too), or use a PyAV built against an FFmpeg that has it"
        )


class PublishBook:
    """The publishers of a run, by source."""

    def __init__(self, cfg: Config) -> None:
        if cfg.output.publish is None:
            raise ValueError("PublishBook needs output.publish")
        self.template = cfg.output.publish
        self.transport = cfg.output.publish_transport
        check_protocol(self.template)
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
