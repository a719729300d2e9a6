"""Keep camera passwords out of everything a user, a log collector or a dashboard viewer sees.

RTSP cameras are usually addressed as ``rtsp://user:password@host/...``. The URI itself is needed to
connect, but every name, log line, error, telemetry key and file name must use the redacted form.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
# scheme://user:password@ (the password may itself hold '@': it ends at the last '@' before the path)
_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^/\s]*)@")
_SECRET_QUERY_RE = re.compile(r"(?i)([?&](?:password|passwd|pwd|pass|token|key|auth)=)[^&#\s]*")


def redact_uri(uri: str) -> str:
    """``rtsp://user:***@host/path``: the password (and secret-looking query values) masked."""
    return redact_text(uri)


def redact_text(text: str) -> str:
    """Mask credentials in every URL inside ``text`` (an FFmpeg message may quote the URL)."""
    text = _USERINFO_RE.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{REDACTED}@", text)
    return _SECRET_QUERY_RE.sub(lambda m: m.group(1) + REDACTED, text)


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
