"""Numbers as config files, JSON bodies and the command line give them: a finite float, or an integer
of at most 18 digits, or one ``ConfigError`` line.

Python's integers have no size: a 400-digit ``fps`` once reached ``math.isfinite`` and ``float()`` and
raised ``OverflowError`` (a 500 from the API, a traceback from a config file), and a 400-digit
``width`` was taken. Every number a user gives goes through here first, and messages quote a huge
number by its length, not its digits.
"""

from __future__ import annotations

import math
from typing import Any

from streamseg.errors import ConfigError

MAX_INT = 10**18 - 1  # 18 digits: more than any count, size or duration needs, and exact in an int64


def finite(value: Any, where: str) -> float:
    """``value`` as a float when it is a finite number (an int of at most 18 digits, or a finite float;
    never a bool)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, int):
        ok = abs(value) <= MAX_INT
    if not ok or not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {shown(value)}")
    return float(value)


def is_number(value: Any) -> bool:
    """Whether ``value`` is what ``finite`` takes, without raising (for checks with messages of their own)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return ok and (not isinstance(value, int) or abs(value) <= MAX_INT) and math.isfinite(value)


def int_in(value: Any, where: str, low: int, high: int, unit: str) -> int:
    """``value`` when it is an int (never a bool) in ``low..high``; ``unit`` names what it counts."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{where} must be an integer {low}..{high} ({unit}), got {shown(value)}")
    return value


def bounded_int(value: Any, where: str) -> int:
    """``value`` when it is an int of at most 18 digits (never a bool)."""
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_INT:
        raise ConfigError(f"{where} must be an integer of at most 18 digits, got {shown(value)}")
    return value


def shown(value: Any) -> str:
    """``value`` for a one-line message: a huge integer by its number of digits, anything else by its
    ``repr`` cut at 64 characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return f"a {_digits(value)}-digit number"
    try:
        text = repr(value)
    except ValueError:  # a container holding an integer past Python's 4300-digit str limit
        return f"a {type(value).__name__} too large to show"
    text = " ".join(text.split())
    return text if len(text) <= 64 else text[:64] + "..."


def _digits(value: int) -> int:
    try:
        return len(str(abs(value)))
    except ValueError:  # past Python's int-to-str limit: counted from its bits
        return int(abs(value).bit_length() * math.log10(2)) + 1
