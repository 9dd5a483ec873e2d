"""Turn database values into JSON-safe values and ISO timestamps, the same way everywhere."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """Return a JSON-safe form of a value read from the database.

    >>> jsonable(Decimal("17"))
    17
    >>> jsonable(datetime(2026, 11, 3, 2, 30, 0, 412000))
    '2026-11-03T02:30:00.412000'
    >>> jsonable(b"\\x01\\xff")
    '\\\\x01ff'
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars that pandas may hand back
        return jsonable(value.item())
    return str(value)


def iso_timestamp(value: Any) -> str | None:
    """ISO-8601 text for a timestamp as the driver returned it (SQLite hands back text).

    >>> iso_timestamp("2026-11-03 02:30:00.412000")
    '2026-11-03T02:30:00.412000'
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return text[:10] + "T" + text[11:] if len(text) > 10 and text[10] == " " else text


def iso_from_us(us: int, aware: bool | None = True) -> str:
    """ISO-8601 text for integer microseconds since the epoch (UTC; no offset for a naive column).

    >>> iso_from_us(1_793_327_400_412_000)
    '2026-10-30T02:30:00.412000+00:00'
    """
    moment = datetime.fromtimestamp(us / 1e6, tz=UTC)
    return moment.isoformat() if aware else moment.replace(tzinfo=None).isoformat()
