"""Keep camera passwords out of everything a user, a log collector or a dashboard viewer sees.

Cameras carry secrets in three places: ``rtsp://user:password@host/...`` (userinfo), in the path on
cheap DVRs (``/user=admin_password=XmEyePw9_channel=1_stream=0.ts``), and in query keys
(``?token=...``, ``api_key=``, ``X-Amz-Signature=``). The URI itself is needed to connect, but every
name, log line, error, telemetry key and file name uses the redacted form.

Everything here runs in linear time: it also sees text an attacker chose (a URI posted to the API),
and a backtracking pattern over a long run of letters once held the GIL for seconds. The patterns are
bounded (keys of at most 64 characters, schemes of at most 32) and scanned once, left to right; a test
times them on adversarial strings of a megabyte.

Event sinks and publishing targets carry secrets in more places still: a webhook id or a Slack hook in
the path (``/api/webhook/<id>``, ``/services/T000/B000/<secret>``), a token as the MQTT user name,
a stream key as the last segment. ``redact_url`` shows such a URL with all of that masked; the text
filter masks what it can recognise in any URL (segments after a hook word, random-looking segments,
a user name that looks like a token) as the last net.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
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
_NAME_UNSAFE_RE = re.compile(r"[^\w.\-]+")  # \w: letters and digits of every script, and '_'
_LEADING_DOTS_RE = re.compile(r"^\.+")
# Path words after which every segment is a secret: Home Assistant's /api/webhook/<id>, Slack's
# /services/T/B/<secret>, Discord's /api/webhooks/<id>/<token>, Teams' /webhookb2/..., n8n, Zapier's
# /hooks/catch/..., Slack's workflow /triggers/..., YouTube's rtmp://.../live2/<key>.
HOOK_WORDS = frozenset(
    {"webhook", "webhooks", "webhook-test", "webhookb2", "hook", "hooks", "services", "triggers", "live2"}
)
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-.~+%:]{16,}={0,2}")
_HEX_RE = re.compile(r"[0-9A-Fa-f\-]+")
_KEY_GROUPS_RE = re.compile(r"[A-Za-z0-9]{4,8}(?:-[A-Za-z0-9]{4,8}){3,}")  # xxxx-xxxx-xxxx-xxxx-xxxx
_URL_END_RE = re.compile(r"[\s\"'<>\\]")
_PATH_END_RE = re.compile(r"[\s\"'<>\\?#]")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}")


def is_secret_key(key: str) -> bool:
    """Whether a query or path key names a secret (``password``, ``access_token``, ``X-Amz-Signature``)."""
    k = key.lower().replace("-", "_").replace(".", "_").lstrip("_")
    return k in SECRET_KEYS or k.endswith(SECRET_SUFFIXES)


def redact_uri(uri: str) -> str:
    """``rtsp://user:***@host/path?token=***``: every secret masked, the rest kept for recognition."""
    return redact_text(uri)


def redact_text(text: str) -> str:
    """Mask credentials in every URL inside ``text`` (an FFmpeg message may quote the URL), and the value
    of every ``key=value`` whose key names a secret, wherever it stands. In each URL's path, segments
    after a hook word (``/api/webhook/<id>``) or a secret's name (``/key/<k>``) and random-looking
    segments are masked too, and so is a user name without a password that looks like a token."""
    return _mask_pairs(_mask_urls(text))


def redact_url(url: str) -> str:
    """A sink's or a publisher's URL as it may be shown: scheme, host, port and the path's plain words.
    Stricter than ``redact_text``, as these URLs are made to carry secrets: a user name without a
    password is a token (MQTT brokers, webhooks), every query value and the fragment are masked too.
    A URL whose host cannot be told from its password (see ``url_shape_problem``) shows only its scheme."""
    head, sep, rest = url.partition("://")
    if not sep or not _SCHEME_RE.fullmatch(head):
        return REDACTED
    if url_shape_problem(url) is not None:
        return f"{head}://{REDACTED}"
    end = _first_of(rest, "/?#")
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        shown_user = user if colon and user and not looks_random(user) else REDACTED
        authority = f"{shown_user}:{REDACTED}@{hostport}" if colon else f"{REDACTED}@{hostport}"
    rest_end = _first_of(tail, "?#")
    path, after = tail[:rest_end], tail[rest_end:]
    query, hash_, fragment = after[1:].partition("#") if after.startswith("?") else ("", after[:1], after[1:])
    shown = f"{head}://{authority}{_mask_pairs(_mask_path(path))}"
    if after.startswith("?"):
        shown += "?" + "&".join(_masked_query_item(item) for item in query.split("&"))
    if hash_ and fragment:
        shown += f"#{REDACTED}"
    return shown


def url_shape_problem(url: str) -> str | None:
    """Why the parts of ``url`` cannot be told apart (so a password could be taken for the host, the
    port or the path, and shown as one), with the fix; None when they can. A password holding an
    unencoded '/', '?', '#' or a space ends the authority early: ``mqtt://user:pa#ss@host``."""
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return "the URL holds a space or a control character: percent-encode it (a space is %20)"
    _, sep, rest = url.partition("://")
    if sep and "@" in rest[_first_of(rest, "/?#") :]:
        return (
            "an '@' comes after a '/', '?' or '#': in a user name or password, percent-encode "
            "'/' as %2F, '?' as %3F, '#' as %23 and '@' as %40 (and an '@' in a path or query as %40)"
        )
    return None


def looks_random(text: str) -> bool:
    """Whether ``text`` (a path segment, a user name) looks like a generated secret: 16 or more token
    characters that are hex with letters and digits, key groups (``xxxx-xxxx-xxxx-xxxx``), or letters
    and digits that change class (lower, upper, digit) at least every third character or so. Words,
    dates and ``cam2_1920x1080_30fps`` do not; nine random tokens in ten of 16 characters do, and
    nearly every longer one (a test measures it)."""
    if len(text) < 16 or _TOKEN_RE.fullmatch(text) is None:
        return False
    chars = [c for c in text if c.isalnum()]
    digits, letters = any(c.isdigit() for c in chars), any(c.isalpha() for c in chars)
    if len(chars) < 12 or not letters:
        return False
    if digits and (_HEX_RE.fullmatch(text) or _KEY_GROUPS_RE.fullmatch(text)):
        return True
    changes = sum(_char_class(a) != _char_class(b) for a, b in itertools.pairwise(chars))
    ratio = changes / (len(chars) - 1)
    return (digits and ratio >= 0.3) or (len(chars) >= 32 and ratio >= 0.45)


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
    """The one slug of a name, for its files and its MQTT topics: letters, marks and digits of every
    script (``кухня`` stays ``кухня``), '_', '.' and '-' kept (NFC first); each run of anything else
    becomes one '_', and leading dots become '_' too, so no name is ``.``, ``..`` or a hidden file."""
    text = unicodedata.normalize("NFC", text)
    slug = _NAME_UNSAFE_RE.sub(_unsafe_run, text)
    return _LEADING_DOTS_RE.sub(lambda m: "_" * len(m.group(0)), slug)


def _unsafe_run(m: re.Match[str]) -> str:
    """Combining marks (a Devanagari vowel sign, an accent) stay: they are part of a letter."""
    run = m.group(0)
    return run if all(unicodedata.category(c).startswith("M") for c in run) else "_"


def _mask_pairs(text: str) -> str:
    if "=" not in text:
        return text

    def mask(m: re.Match[str]) -> str:
        if not m.group("value") or not is_secret_key(m.group("key")):
            return m.group(0)
        return f"{m.group('key')}={REDACTED}"

    return _PAIR_RE.sub(mask, text)


def _mask_urls(text: str) -> str:
    """``scheme://user:password@`` -> ``scheme://user:***@`` (the password may hold '@': the userinfo
    ends at the last '@' before the path), a token-like lone user name masked, and the path's secret
    segments (``_mask_path``). One pass: each URL is scanned up to the next one, once."""
    out: list[str] = []
    done = 0
    at = text.find("://")
    while at != -1:
        start = at + 3
        following = text.find("://", start)
        limit = len(text) if following == -1 else following
        end_match = _AUTHORITY_END_RE.search(text, start, limit)
        end = end_match.start() if end_match else limit
        if _has_scheme(text, at):
            userinfo_end = text.rfind("@", start, end)
            if userinfo_end == -1:  # a password with an unencoded '/', '?' or '#': user:pa#ss@host
                userinfo_end, end = _late_userinfo(text, start, end, limit)
            colon = text.find(":", start, userinfo_end) if userinfo_end != -1 else -1
            if colon != -1:
                out.append(text[done : colon + 1])
                out.append(REDACTED)
                done = userinfo_end
            elif userinfo_end != -1 and looks_random(text[start:userinfo_end]):
                out.append(text[done:start])
                out.append(REDACTED)
                done = userinfo_end
            path_match = _PATH_END_RE.search(text, end, limit)
            path_end = path_match.start() if path_match else limit
            path = text[end:path_end]
            masked = _mask_path(path)
            if masked != path:
                out.append(text[done:end])
                out.append(masked)
                done = path_end
        at = following
    out.append(text[done:])
    return "".join(out)


def _late_userinfo(text: str, start: int, end: int, limit: int) -> tuple[int, int]:
    """(the '@' that ends the userinfo, the authority's end) when the authority ``text[start:end]``
    reads as ``user:<not a port>`` and an '@' follows in the same URL; else (-1, ``end``)."""
    colon = text.find(":", start, end)
    if colon == -1 or text[colon + 1 : end].isdigit():
        return -1, end
    url_end = _URL_END_RE.search(text, end, limit)
    at = text.find("@", end, url_end.start() if url_end else limit)
    if at == -1:
        return -1, end
    after = _AUTHORITY_END_RE.search(text, at + 1, limit)
    return at, after.start() if after else limit


def _mask_path(path: str) -> str:
    """Each segment after a hook word or a secret's name (``/key/<k>``), and each random-looking one."""
    segments = path.split("/")
    hook = after_secret = False
    for i, segment in enumerate(segments):
        if not segment:
            continue
        if hook or after_secret or looks_random(segment):
            segments[i] = REDACTED
        after_secret = len(segment) <= 64 and is_secret_key(segment)
        hook = hook or segment.lower() in HOOK_WORDS
    return "/".join(segments)


def _masked_query_item(item: str) -> str:
    key, eq, value = item.partition("=")
    if not eq:
        return REDACTED if item else item
    return f"{key}={REDACTED}" if value else item


def _first_of(text: str, chars: str) -> int:
    """The index of the first of ``chars`` in ``text``, or its length."""
    found = [i for i in (text.find(c) for c in chars) if i != -1]
    return min(found, default=len(text))


def _char_class(c: str) -> int:
    return 0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3


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
