"""Default source names: short, safe in a file name, and never made from a secret."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from streamseg.redact import safe_name, without_secret_pairs


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
