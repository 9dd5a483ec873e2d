"""Turn database values into JSON-safe values and ISO timestamps, the same way everywhere."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

# the column a soft-delete library marks a deleted row with (Rails paranoia/acts_as_paranoid and discard, Laravel
# SoftDeletes): such an application never removes rows, and its uniqueness holds among the rows not deleted
SOFT_DELETE = re.compile(r"^(deleted|discarded)_(at|on)$", re.IGNORECASE)


def soft_delete_column(columns: Iterable[tuple[str, str | None]]) -> str | None:
    """The soft-delete column among (name, declared type) pairs: a date or time named ``deleted_at``,
    ``discarded_at``, ..., NULL while the row is live.

    >>> soft_delete_column([("id", "BIGINT"), ("deleted_at", "TIMESTAMP")])
    'deleted_at'
    >>> soft_delete_column([("deleted_at", "BOOLEAN")]) is None
    True
    """
    return next((name for name, kind in columns
                 if SOFT_DELETE.match(str(name)) and re.search("DATE|TIME", str(kind or "").upper())), None)


def survivor_index(live: Sequence[bool], keep: str) -> int:
    """Which of a cluster's rows (in time order) survives a cleanup: the earliest (or latest) row the
    application has not soft-deleted, else the earliest (latest) of all. Keeping a soft-deleted copy and
    deleting the live one would remove the row from the application.

    >>> survivor_index([False, True], "earliest"), survivor_index([True, True], "latest")
    (1, 1)
    >>> survivor_index([False, False], "earliest")
    0
    """
    order = range(len(live)) if keep == "earliest" else range(len(live) - 1, -1, -1)
    return next((n for n in order if live[n]), order[0])


def jsonable(value: Any) -> Any:
    """Return a JSON-safe form of a value read from the database.

    Numbers stay JSON numbers whatever the engine hands back (int, float or Decimal), so a numeric column's
    keys have one type in the findings: a decimal is an integer when it is whole, else a float when a double
    holds it exactly (PostgreSQL's numeric 1.50 and SQLite's 1.5 both read 1.5); only a fraction a double
    cannot hold (beyond 15-17 significant digits) or NaN is kept as its exact text.

    >>> jsonable(Decimal("17.00")), jsonable(Decimal("1.50")), jsonable(Decimal("0.1000000000000000000001"))
    (17, 1.5, '0.1000000000000000000001')
    >>> jsonable(datetime(2026, 11, 3, 2, 30, 0, 412000))
    '2026-11-03T02:30:00.412000'
    >>> jsonable(b"\\x01\\xff")
    '\\\\x01ff'

    An array, a JSON document or a DuckDB list/struct is its JSON text, which the engines cast back (DuckDB
    read Python's ``['x', None]`` as the text 'None', so cleanup.sql's guard aborted on every such row):

    >>> jsonable(["x", None, Decimal("1.50")]), jsonable({"a": None})
    ('["x", null, 1.5]', '{"a": null}')
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(_nested(value), ensure_ascii=False)
    if hasattr(value, "item"):  # numpy scalars that pandas may hand back
        return jsonable(value.item())
    return str(value)


def _nested(value: Any) -> Any:
    """A list or dict with every value inside it made JSON-safe, the structure kept."""
    if isinstance(value, list):
        return [_nested(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _nested(v) for k, v in value.items()}
    return jsonable(value)


def _decimal(value: Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value)


def iso_timestamp(value: Any) -> str | None:
    """ISO-8601 text for a timestamp as the driver returned it (SQLite hands back text, or the number it keeps).

    A number is what SQLite keeps in an INTEGER or REAL column of times: the scan reads it as epoch seconds
    in UTC, so the findings, report and runs read it the same way instead of as text no parser takes.

    >>> iso_timestamp("2026-11-03 02:30:00.412000")
    '2026-11-03T02:30:00.412000'
    >>> iso_timestamp(1762137000), iso_timestamp(1762137000.25)
    ('2025-11-03T02:30:00', '2025-11-03T02:30:00.250000')
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC).replace(tzinfo=None).isoformat()
    text = str(value)
    return text[:10] + "T" + text[11:] if len(text) > 10 and text[10] == " " else text


def naive_moment(value: Any) -> datetime | None:
    """A timestamp as the driver returned it as a naive datetime (wall time as stored; an aware one in UTC), or
    None for what reads as no time.

    >>> naive_moment("2026-11-03 02:30:00.412"), naive_moment("no time")
    (datetime.datetime(2026, 11, 3, 2, 30, 0, 412000), None)
    """
    text = iso_timestamp(value)
    try:
        moment = datetime.fromisoformat(text) if text is not None else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def iso_from_us(us: int, aware: bool | None = True) -> str:
    """ISO-8601 text for integer microseconds since the epoch (UTC; no offset for a naive column).

    >>> iso_from_us(1_793_327_400_412_000)
    '2026-10-30T02:30:00.412000+00:00'
    """
    moment = datetime.fromtimestamp(us / 1e6, tz=UTC)
    return moment.isoformat() if aware else moment.replace(tzinfo=None).isoformat()


def null_identity(pk: Any) -> bool:
    """Whether a row's identity (its ``pk`` in the findings) holds a NULL: no ``WHERE id = ...`` finds that row,
    so cleanup can neither guard, back up, delete nor restore it (a legacy row of an ``--id`` column, a SQLite
    primary key that is not an INTEGER PRIMARY KEY).

    >>> null_identity({"event_id": None}), null_identity({"event_id": "e1"}), null_identity(None)
    (True, False, False)
    """
    return isinstance(pk, dict) and any(v is None for v in pk.values())


def unnamed(pks: Iterable[Any]) -> bool:
    """Whether a cluster's rows (their identities, ``pks``) hold one with a NULL (null_identity): cleanup.sql
    leaves such a cluster to a person, and nothing counts it as rows to delete.

    >>> unnamed([{"id": 1}, {"id": None}]), unnamed([{"id": 1}, {"id": 2}])
    (True, False)
    """
    return any(null_identity(pk) for pk in pks)


def identity_label(id_columns: Sequence[str], primary_key: Sequence[str]) -> str:
    """What identifies a table's rows, as a person would name it: ``--id event_id`` or ``primary key id``.

    >>> identity_label(["event_id"], []), identity_label([], ["id"]), identity_label([], [])
    ('--id event_id', 'primary key id', 'row id')
    """
    if id_columns:
        return f"--id {', '.join(id_columns)}"
    return f"primary key {', '.join(primary_key)}" if primary_key else "row id"


def since_shown(table: dict[str, Any]) -> str | None:
    """A findings table's --since bound as the scan compared it with the column. On a column without time zone
    the bound is a wall time (the earlier of its UTC and local readings) that findings.json keeps with a UTC
    offset: shown as such, a New York scan's 18:46 read as 18:46 UTC, five hours before the rows it did read.

    >>> since_shown({"since": "2026-11-23T18:46:47+00:00", "ts_timezone_aware": False})
    '2026-11-23T18:46:47 (wall time, as the column holds it)'
    >>> since_shown({"since": "2026-11-23T18:46:47+00:00", "ts_timezone_aware": True})
    '2026-11-23T18:46:47+00:00'
    """
    since = table.get("since")
    if not since or table.get("ts_timezone_aware") is not False:
        return since
    return f"{since.removesuffix('+00:00')} (wall time, as the column holds it)"
