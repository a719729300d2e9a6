"""Keep camera passwords out of everything a user, a log collector or a dashboard viewer sees.

Cameras carry secrets in three places: ``rtsp://user:password@host/...`` (userinfo), in the path on
cheap DVRs (``/user=admin_password=XmEyePw9_channel=1_stream=0.ts``), and in query keys
(``?token=...``, ``api_key=``, ``X-Amz-Signature=``). The URI itself is needed to connect, but every
name, log line, error, telemetry key and file name uses the redacted form.

Everything here runs in linear time: it also sees text an attacker chose (a URI posted to the API),
and a backtracking pattern over a long run of letters once held the GIL for seconds. The patterns are
bounded (keys of at most 64 characters, schemes of at most 32) and scanned once, left to right; a test
times them on adversarial strings of a megabyte.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"

# Query and path keys whose values are secrets (compared lower-case, '-' and '.' read as '_') ...
SECRET_KEYS = frozenset(
    {
        "password", "passwd", "passphrase", "pass", "pwd", "pw", "token", "access_token", "api_key",
        "apikey", "key", "secret", "client_secret", "signature", "sig", "auth", "authorization",
        "credential", "credentials", "x_amz_signature", "x_amz_credential", "x_amz_security_token",
        "x_goog_signature", "x_goog_credential", "private_key", "session", "sessionid",
    }
)  # fmt: skip
# ... and keys that end like one (refresh_token, admin_password, X-Amz-Security-Token, aws_secret ...).
SECRET_SUFFIXES = (
    "password", "passwd", "passphrase", "_pass", "_pwd", "token", "secret", "signature", "_key", "apikey",
    "credential", "credentials",
)  # fmt: skip

# key=value: keys of 1-64 key characters (bounded, so a long run of letters costs 64 steps per position,
# not a rescan to its end). A value ends at a separator, or before "_name=" (DVR paths chain pairs with
# '_': user=admin_password=X_channel=1).
_PAIR_RE = re.compile(
    r"(?<![A-Za-z0-9.\-])(?P<key>[A-Za-z0-9_.\-]{1,64}+)="
    r"(?P<value>(?:[^\s&#;\"'<>,\\?_]++|_(?![A-Za-z][A-Za-z0-9]{0,63}+=))*+)"
)
_AUTHORITY_END_RE = re.compile(r"[/?#\s\"'<>\\]")
_SCHEME_REVERSED_RE = re.compile(r"[A-Za-z0-9+.\-]{0,31}[A-Za-z]")
_NAME_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def is_secret_key(key: str) -> bool:
    """Whether a query or path key names a secret (``password``, ``access_token``, ``X-Amz-Signature``)."""
    k = key.lower().replace("-", "_").replace(".", "_").lstrip("_")
    return k in SECRET_KEYS or k.endswith(SECRET_SUFFIXES)


def redact_uri(uri: str) -> str:
    """``rtsp://user:***@host/path?token=***``: every secret masked, the rest kept for recognition."""
    return redact_text(uri)


def redact_text(text: str) -> str:
    """Mask credentials in every URL inside ``text`` (an FFmpeg message may quote the URL), and the value
    of every ``key=value`` whose key names a secret, wherever it stands."""
    return _mask_pairs(_mask_userinfo(text))


def has_credentials(uri: str) -> bool:
    return redact_uri(uri) != uri


def uri_without_credentials(uri: str) -> str:
    """The URI with user and password removed entirely (for names derived from it)."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def without_secret_pairs(text: str) -> str:
    """``text`` with every secret ``key=value`` removed outright, key included (for names: a name must not
    even say that there was a password, nor keep a masked gap)."""
    return _PAIR_RE.sub(lambda m: "" if is_secret_key(m.group("key")) else m.group(0), text)


def safe_name(text: str) -> str:
    """Characters safe in a file name; each run of anything else becomes one '_'."""
    return _NAME_UNSAFE_RE.sub("_", text)


def _mask_pairs(text: str) -> str:
    if "=" not in text:
        return text

    def mask(m: re.Match[str]) -> str:
        if not m.group("value") or not is_secret_key(m.group("key")):
            return m.group(0)
        return f"{m.group('key')}={REDACTED}"

    return _PAIR_RE.sub(mask, text)


def _mask_userinfo(text: str) -> str:
    """``scheme://user:password@`` -> ``scheme://user:***@``: the password may hold '@' (the userinfo
    ends at the last '@' before the path). One pass: each authority is scanned once."""
    out: list[str] = []
    done = 0
    at = text.find("://")
    while at != -1:
        start = at + 3
        end_match = _AUTHORITY_END_RE.search(text, start)
        end = end_match.start() if end_match else len(text)
        if _has_scheme(text, at):
            userinfo_end = text.rfind("@", start, end)
            colon = text.find(":", start, userinfo_end) if userinfo_end != -1 else -1
            if colon != -1:
                out.append(text[done : colon + 1])
                out.append(REDACTED)
                done = userinfo_end
        at = text.find("://", max(end, start))
    out.append(text[done:])
    return "".join(out)


def _has_scheme(text: str, colon: int) -> bool:
    """A URL scheme (a letter, then letters, digits, '+', '.', '-'; at most 32) ends at ``colon``."""
    before = text[max(0, colon - 32) : colon][::-1]
    return _SCHEME_REVERSED_RE.match(before) is not None


class RedactingFormatter(logging.Formatter):
    """Formats like ``inner`` (the handler's formatter), then masks secrets in the whole line, traceback
    included: the last net under every library's own log messages."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(self._inner.format(record))
