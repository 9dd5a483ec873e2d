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


MAX_SECONDS = 100 * 365 * 86400.0  # a century: longer is a typo, and would overflow dates and microseconds
_EXAMPLE = "use a number with a unit (us, ms, s, m, h, d), e.g. 500ms, 2s, 1m (a bare number is seconds)"


def parse_duration(text: str | float | int, what: str = "", positive: bool = False) -> float:
    """Return the number of seconds in a duration such as ``250ms``, ``2s`` or ``1m``.

    A bare number means seconds. ``what`` names the option in messages; ``positive`` refuses zero and
    anything under a microsecond.

    >>> parse_duration("250ms")
    0.25
    >>> parse_duration("1m")
    60.0
    >>> parse_duration(2)
    2.0
    """
    label = f"bad duration {_show(text)}" + (f" for {what}" if what else "")
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise BadDuration(f"{label}: {_EXAMPLE} (a quoted string, or a number of seconds)")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        unit = (match.group(2) or "s").lower() if match else None
        if not match or unit not in _UNITS:
            raise BadDuration(f"{label}: {_EXAMPLE}")
        seconds = float(match.group(1)) * _UNITS[unit]
    if seconds != seconds or seconds < 0:
        raise BadDuration(f"{label}: it must be zero or more")
    if seconds > MAX_SECONDS:
        raise BadDuration(f"{label}: at most {MAX_SECONDS / 86400:.0f}d")
    if positive and seconds < 1e-6:
        # no engine stores a finer time than a microsecond: a shorter window would silently mean zero
        raise BadDuration(f"{label}: it must be at least 1us (e.g. 1ms)" if seconds else
                          f"{label}: it must be more than zero (e.g. 1ms)")
    return seconds


def parse_timeout(text: str | float | int, what: str = "--statement-timeout") -> float:
    """A statement timeout in seconds: engines count it in whole milliseconds, so less than 1 ms (which they
    would read as 0, no timeout at all) is refused, and so is more than PostgreSQL accepts.

    >>> parse_timeout("1.5s")
    1.5
    """
    seconds = parse_duration(text, what, positive=True)
    if seconds < 1e-3:
        raise BadDuration(f"bad duration {_show(text)} for {what}: engines count timeouts in whole milliseconds, "
                          "so it must be at least 1ms (0 would mean no timeout at all)")
    if seconds * 1000 > 2**31 - 1:
        raise BadDuration(f"bad duration {_show(text)} for {what}: at most 2147483647ms (about 24 days)")
    return seconds


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else f"{value!r} ({type(value).__name__})"
    return text if len(text) <= 60 else text[:57] + "..."


def parse_since(text: str, now: datetime | None = None, what: str = "--since") -> datetime:
    """Return the UTC instant a ``--since`` value names: a duration back from now, or a timestamp. ``what``
    names the option in messages (a config file's ``since``).

    >>> parse_since("30m", now=datetime(2026, 11, 3, 3, 0, tzinfo=UTC)).isoformat()
    '2026-11-03T02:30:00+00:00'
    >>> parse_since("2026-11-03T02:00:00Z").isoformat()
    '2026-11-03T02:00:00+00:00'
    """
    now = now or datetime.now(UTC)
    if not isinstance(text, str):
        raise BadDuration(f"bad {what} {_show(text)}: give a duration (30m, 2h, 7d) or an ISO timestamp as a "
                          "quoted string, e.g. \"2026-11-03T02:00:00Z\"")
    try:
        return now - timedelta(seconds=parse_duration(text))
    except (BadDuration, OverflowError):
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        moment.timestamp()  # an instant beyond year 1-9999 in UTC fails here, not in the scan
    except (ValueError, OverflowError):
        raise BadDuration(
            f"bad {what} {text!r}: give a duration (30m, 2h, 7d) or an ISO timestamp (2026-11-03T02:00:00Z)"
        ) from None
    return moment


# the units a duration is said in, each with its size in seconds, the decimals shown and the value at which the
# next unit takes over: "0.0 h" said a row a minute old, "60.0 s" a gap just under a minute, "72.0 h" three days
_SCALES = ((1e-6, "µs", 0, 1000), (1e-3, "ms", 0, 1000), (1.0, "s", 1, 60), (60.0, "min", 1, 60),
           (3600.0, "h", 1, 24))  # then days, without a limit


def format_seconds(seconds: float) -> str:
    """Render a duration for people in the unit that reads naturally at its scale: ``412 ms``, ``3.2 s``,
    ``15 µs``, ``1.2 min``, ``4.8 h``, ``3.0 d``. The unit is chosen after rounding, so a value never shows as
    the next unit's worth of this one (59.97 s is ``1.0 min``, not ``60.0 s``) nor as zero of a large unit.

    >>> format_seconds(0.412), format_seconds(0.000015), format_seconds(75), format_seconds(59.97)
    ('412 ms', '15 µs', '1.2 min', '1.0 min')
    >>> format_seconds(61), format_seconds(17_280), format_seconds(3 * 86400), format_seconds(-2.5)
    ('1.0 min', '4.8 h', '3.0 d', '-2.5 s')
    """
    if seconds < 0:
        return "-" + format_seconds(-seconds)
    for size, unit, digits, next_at in _SCALES:
        shown = f"{seconds / size:.{digits}f}"
        if float(shown) < next_at:
            return f"{shown} {unit}"
    return f"{seconds / 86400:.1f} d"


_MEMORY = re.compile(r"^\s*(\d+)\s*(kB|MB|GB|TB)\s*$", re.IGNORECASE)


_KB = {"kB": 1, "MB": 1024, "GB": 1024 * 1024, "TB": 1024 ** 3}  # PostgreSQL's memory units (TB: 1TB is a work_mem)
WORK_MEM_KB = (64, 2_147_483_647)  # the range PostgreSQL accepts for work_mem (kB, 64-bit servers)


def parse_memory(text: str) -> str:
    """A PostgreSQL memory setting such as ``64MB``, checked so it can be written into SET LOCAL, and within the
    range the server accepts (outside it, the server refused the transaction's start: exit 3, as if the
    database had failed, for what is a bad option).

    >>> parse_memory("256 mb"), parse_memory("1tb")
    ('256MB', '1TB')
    >>> parse_memory("10kB")
    Traceback (most recent call last):
    ...
    dupfinder.errors.BadDuration: bad memory size '10kB': PostgreSQL's work_mem takes 64kB to 2047GB
    """
    match = _MEMORY.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise BadDuration(f"bad memory size {text!r}: use a number and kB, MB, GB or TB, e.g. 64MB")
    unit = next(u for u in _KB if u.lower() == match.group(2).lower())
    if not WORK_MEM_KB[0] <= int(match.group(1)) * _KB[unit] <= WORK_MEM_KB[1]:
        raise BadDuration(f"bad memory size {text!r}: PostgreSQL's work_mem takes 64kB to 2047GB")
    return f"{int(match.group(1))}{unit}"
