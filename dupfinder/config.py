"""What to scan: one TableSpec per table, from command-line options or a dupfinder.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .durations import parse_duration, parse_since
from .errors import UsageError

ROLES = ("host", "process", "run", "version", "app")
KEEP = ("earliest", "latest")
DEFAULT_WINDOW = 2.0
DEFAULT_INCIDENT_GAP = 600.0


@dataclass(frozen=True)
class TableSpec:
    """One table to scan and how to read it."""

    table: str
    keys: tuple[str, ...]
    ts: str
    window: float = DEFAULT_WINDOW
    writers: tuple[tuple[str, str], ...] = ()
    infer_writers: bool = True
    keep: str = "earliest"
    since: datetime | None = None
    timezone: str | None = None
    incident_gap: float = DEFAULT_INCIDENT_GAP

    def __post_init__(self) -> None:
        if not self.table:
            raise UsageError("a table name is required (--table)")
        if not self.keys:
            raise UsageError(f"table {self.table!r}: at least one --key column is required")
        if len(set(self.keys)) != len(self.keys):
            raise UsageError(f"table {self.table!r}: a --key column is named twice")
        if not self.ts:
            raise UsageError(f"table {self.table!r}: the timestamp column is required (--ts)")
        if self.keep not in KEEP:
            raise UsageError(f"--keep must be one of {', '.join(KEEP)}, not {self.keep!r}")
        for role, _column in self.writers:
            if role not in ROLES:
                raise UsageError(f"unknown writer role {role!r}: use one of {', '.join(ROLES)}")
        if self.timezone:
            _check_timezone(self.timezone)


@dataclass(frozen=True)
class ScanOptions:
    """Everything one scan needs, independent of where it came from."""

    url: str
    tables: tuple[TableSpec, ...]
    statement_timeout: float | None = None
    work_mem: str | None = None  # PostgreSQL, e.g. "64MB": SET LOCAL for the scan's transaction
    runs: tuple[str, ...] = ()  # job-run files (CSV, JSON lines, logs): evidence from outside the table
    runs_pattern: str | None = None  # regex with named groups that reads runs from plain log lines
    extra: dict[str, Any] = field(default_factory=dict)


def parse_writers(pairs: list[str] | tuple[str, ...] | dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Turn ``ROLE=COLUMN`` strings (or a mapping) into ordered (role, column) pairs.

    >>> parse_writers(["host=hostname", "process=pid"])
    (('host', 'hostname'), ('process', 'pid'))
    """
    items = pairs.items() if isinstance(pairs, dict) else (_split_writer(p) for p in pairs)
    result: list[tuple[str, str]] = []
    for role, column in items:
        role = role.strip().lower()
        if role not in ROLES:
            raise UsageError(f"unknown writer role {role!r}: use one of {', '.join(ROLES)}")
        if any(r == role for r, _ in result):
            raise UsageError(f"writer role {role!r} given twice")
        result.append((role, column))
    return tuple(result)


def _split_writer(text: str) -> tuple[str, str]:
    role, sep, column = text.partition("=")
    if not sep or not role.strip() or not column:
        raise UsageError(f"bad --writer {text!r}: write it as ROLE=COLUMN, e.g. --writer host=hostname")
    return role, column


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from None


def table_spec(
    *,
    table: str,
    keys: list[str] | tuple[str, ...],
    ts: str,
    window: str | float | None = None,
    writers: list[str] | tuple[str, ...] | dict[str, str] = (),
    infer_writers: bool = True,
    keep: str = "earliest",
    since: str | None = None,
    timezone: str | None = None,
    incident_gap: str | float | None = None,
) -> TableSpec:
    """Build a TableSpec from the loose values a command line or a TOML table gives."""
    return TableSpec(
        table=table,
        keys=tuple(keys),
        ts=ts,
        window=DEFAULT_WINDOW if window is None else parse_duration(window),
        writers=parse_writers(writers),
        infer_writers=infer_writers,
        keep=keep,
        since=parse_since(since) if since else None,
        timezone=timezone,
        incident_gap=DEFAULT_INCIDENT_GAP if incident_gap is None else parse_duration(incident_gap),
    )


_TABLE_FIELDS = {"name", "table", "key", "keys", "ts", "window", "writers", "infer_writers", "keep",
                 "since", "timezone", "incident_gap"}


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[str | None, list[TableSpec]]:
    """Read a dupfinder.toml: returns its database URL (if any) and one TableSpec per ``[[table]]``.

    Top-level ``window``, ``keep``, ``since``, ``timezone`` and ``infer_writers`` are defaults that each
    table may override; ``overrides`` (from the command line) win over both.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {str(path)!r} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    tables = doc.get("table") or doc.get("tables")
    if not isinstance(tables, list) or not tables:
        raise UsageError(f"config file {str(path)!r} has no [[table]] entries")
    defaults = {k: doc[k] for k in ("window", "keep", "since", "timezone", "infer_writers", "incident_gap")
                if k in doc}
    specs = []
    for entry in tables:
        unknown = set(entry) - _TABLE_FIELDS
        if unknown:
            raise UsageError(f"config file {str(path)!r}: unknown field(s) {', '.join(sorted(unknown))}")
        merged = {**defaults, **entry, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        keys = merged.get("keys", merged.get("key"))
        if isinstance(keys, str):
            keys = [keys]
        specs.append(table_spec(
            table=merged.get("name") or merged.get("table") or "",
            keys=keys or [],
            ts=merged.get("ts", ""),
            window=merged.get("window"),
            writers=merged.get("writers", {}),
            infer_writers=merged.get("infer_writers", True),
            keep=merged.get("keep", "earliest"),
            since=merged.get("since"),
            timezone=merged.get("timezone"),
            incident_gap=merged.get("incident_gap"),
        ))
    return doc.get("database"), specs


def run_logs(path: str | Path) -> tuple[tuple[str, ...], str | None]:
    """The job-run files (``runs``, a path or a list, relative to the config file) and ``runs_pattern``
    of a dupfinder.toml."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return (), None  # load_config reports what is wrong with the file
    runs = doc.get("runs", [])
    runs = [runs] if isinstance(runs, str) else runs
    pattern = doc.get("runs_pattern")
    if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs) or (
            pattern is not None and not isinstance(pattern, str)):
        raise UsageError(f"config file {str(path)!r}: runs must be a path or a list of paths, runs_pattern a string")
    return tuple(str(path.parent / r) for r in runs), pattern
