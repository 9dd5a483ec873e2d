"""Parse the durations people type (``250ms``, ``2s``, ``1m``) and the --since bound."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import BadDuration

_UNITS = {
    "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0,
    "h": 3600.0, "d": 86400.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zµ]+)?\s*$", re.IGNORECASE)


def parse_duration(text: str | float | int) -> float:
    """Return the number of seconds in a duration such as ``250ms``, ``2s`` or ``1m``.

    A bare number means seconds.

    >>> parse_duration("250ms")
    0.25
    >>> parse_duration("1m")
    60.0
    >>> parse_duration(2)
    2.0
    """
    if isinstance(text, bool):
        raise BadDuration(f"bad duration {text!r}: use a number with a unit, e.g. 500ms, 2s, 1m")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        unit = (match.group(2) or "s").lower() if match else None
        if not match or unit not in _UNITS:
            raise BadDuration(
                f"bad duration {text!r}: use a number with a unit (us, ms, s, m, h, d), e.g. 500ms, 2s, 1m"
            )
        seconds = float(match.group(1)) * _UNITS[unit]
    if seconds < 0 or seconds != seconds:
        raise BadDuration(f"bad duration {text!r}: it must be zero or more")
    return seconds


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """Return the UTC instant a ``--since`` value names: a duration back from now, or a timestamp.

    >>> parse_since("30m", now=datetime(2026, 11, 3, 3, 0, tzinfo=UTC)).isoformat()
    '2026-11-03T02:30:00+00:00'
    >>> parse_since("2026-11-03T02:00:00Z").isoformat()
    '2026-11-03T02:00:00+00:00'
    """
    now = now or datetime.now(UTC)
    try:
        return now - timedelta(seconds=parse_duration(text))
    except BadDuration:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadDuration(
            f"bad --since {text!r}: give a duration (30m, 2h, 7d) or an ISO timestamp (2026-11-03T02:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_seconds(seconds: float) -> str:
    """Render a gap for people: ``412 ms``, ``3.2 s``, ``15 µs``.

    >>> format_seconds(0.412)
    '412 ms'
    >>> format_seconds(0.000015)
    '15 µs'
    >>> format_seconds(75)
    '1.2 min'
    """
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


_MEMORY = re.compile(r"^\s*(\d+)\s*(kB|MB|GB)\s*$", re.IGNORECASE)


def parse_memory(text: str) -> str:
    """A PostgreSQL memory setting such as ``64MB``, checked so it can be written into SET LOCAL.

    >>> parse_memory("256 mb")
    '256MB'
    """
    match = _MEMORY.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise BadDuration(f"bad memory size {text!r}: use a number and kB, MB or GB, e.g. 64MB")
    unit = {"kb": "kB", "mb": "MB", "gb": "GB"}[match.group(2).lower()]
    return f"{int(match.group(1))}{unit}"
