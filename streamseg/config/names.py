"""Names of sources and zones: one slug space for their files and their MQTT topics, checked where a
name is given (YAML, the command line, ``POST /api/sources``), and default source names (short, safe
in a file name, never made from a secret).

A name's slug (``safe_name``) names its folders under ``--snapshots`` and ``--clips``, its recording
(``out_<slug>.mp4``), its topic level and its ``--publish`` path. So a name is refused when it is not
a string, empty, ``.`` or ``..``, or when its slug is another name's (``a b`` and ``a_b``, ``Door``
and ``door``: the same folder on a case-insensitive disk); distinct names in any script keep distinct
slugs (``кухня``, ``двор``). Every file written under a name is checked to stay in its folder
(``file_in``), symlinks included, whatever a caller handed in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streamseg.errors import ConfigError, OutputError
from streamseg.redact import safe_name, without_secret_pairs

MAX_SLUG_BYTES = 200  # a file name holds 255 bytes; room for out_, -2, _000 and .mp4 around the slug


def check_name(name: Any, where: str, max_chars: int, forbidden: str = "") -> str:
    """``name`` when it can name files and topics; else ``ConfigError`` with one line (``where``:
    "sources[0].name")."""
    if not isinstance(name, str):
        raise ConfigError(f"{where} must be a string, got {_kind(name)}")
    if not name.strip():
        raise ConfigError(f"{where} must not be empty")
    if name in (".", ".."):
        raise ConfigError(f"{where} must not be {name!r} (it would name a folder's parent or the folder)")
    bad = sorted(set(name) & set(forbidden))
    if len(name) > max_chars or not name.isprintable() or bad:
        without = f" without {', '.join(repr(c) for c in forbidden)}" if forbidden else ""
        raise ConfigError(f"{where} must be 1-{max_chars} printable characters{without}, got {_shown(name)}")
    if len(safe_name(name).encode("utf-8")) > MAX_SLUG_BYTES:
        raise ConfigError(f"{where} is too long for a file name (at most {MAX_SLUG_BYTES} bytes in UTF-8)")
    return name


def name_key(name: str) -> str:
    """What two names must not share: the slug, case folded."""
    return safe_name(name).casefold()


def clash(name: str, taken: Iterable[str]) -> str | None:
    """The name among ``taken`` whose files and topics ``name`` would share (itself included), or None."""
    key = name_key(name)
    return next((other for other in taken if name_key(other) == key), None)


def check_distinct(names: Iterable[str], where: str) -> None:
    """``ConfigError`` (one line) when two of ``names`` are the same or share a slug."""
    seen: list[str] = []
    for name in names:
        other = clash(name, seen)
        if other == name:
            raise ConfigError(f"{where}: the name {_shown(name)} is used twice (names must be unique)")
        if other is not None:
            raise ConfigError(f"{where}: {clash_message(name, other)}")
        seen.append(name)


def taken_message(name: str, other: str, where: str) -> str:
    """Why ``name`` cannot join beside ``other`` (``clash``'s answer): the same name, or the same slug."""
    if other == name:
        return f"a source named {_shown(name)} is already {where} (names must be unique)"
    return clash_message(name, other)


def clash_message(name: str, other: str) -> str:
    return (
        f"the names {_shown(other)} and {_shown(name)} would share files and MQTT topics "
        f"('{safe_name(name)}'): rename one"
    )


def file_in(folder: Path, *parts: str) -> Path:
    """``folder/part/...`` checked to stay inside ``folder``: each part one plain name (no separator,
    not ``.`` or ``..``), and the whole, symlinks resolved, under the resolved folder; ``OutputError``
    else."""
    path = folder
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\x00" in part or (os.altsep and os.altsep in part):
            raise OutputError(f"refusing to write {_shown(part)} under {folder}: not a plain file name")
        path = path / part
    if not path.resolve().is_relative_to(folder.resolve()):
        raise OutputError(f"refusing to write {path}: it leads out of {folder} (through a symlink)")
    return path


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


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut at 64 characters."""
    return repr(text[:64] + "...") if len(text) > 64 else repr(text)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
