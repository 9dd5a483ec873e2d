"""What to scan: one TableSpec per table, from command-line options or a dupfinder.toml."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .durations import parse_duration, parse_since
from .errors import UsageError
from .textfiles import read_text

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
    ids: tuple[str, ...] = ()  # --id: the columns that identify a row where there is no primary key or row id
    runs: tuple[str, ...] = ()  # this table's own job-run files (a TOML [[table]]'s runs): instead of the global ones
    runs_pattern: str | None = None
    # --ignore: columns left out of the comparison between copies (a per-row request id, a second write time):
    # copies differing only there are exact duplicates; the guard still compares whole rows
    ignore: tuple[str, ...] = ()
    # --where: the rows that count (a soft delete, one tenant): one SQL predicate every statement reading the
    # table applies, and cleanup.sql's guard checks again
    where: str | None = None

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
        if self.ts in self.keys:
            raise UsageError(f"table {self.table!r}: {self.ts!r} is both a --key column and the --ts column; copies "
                             "written moments apart differ in their timestamps, so no two rows would share a key")
        for role, column in self.writers:
            if role not in ROLES:
                raise UsageError(f"unknown writer role {role!r}: use one of {', '.join(ROLES)}")
            if column in self.keys or column == self.ts:
                what = "a --key column" if column in self.keys else "the --ts column"
                raise UsageError(f"table {self.table!r}: --writer {role}={column} names {what}; a writer column "
                                 "tells the copies of one key apart by who wrote them")
        for column in self.ignore:
            if column in self.keys or column == self.ts:
                what = "a --key column" if column in self.keys else "the --ts column"
                raise UsageError(f"table {self.table!r}: --ignore {column} names {what}, which the copies are "
                                 "matched on already")
        if self.timezone is not None:  # an empty --timezone '' is a mistake, not "no zone"
            _check_timezone(self.timezone)
        if len(set(self.ids)) != len(self.ids):
            raise UsageError(f"table {self.table!r}: an --id column is named twice")
        if self.ids and set(self.ids) <= set(self.keys):
            raise UsageError(f"table {self.table!r}: --id must name columns that tell the rows of one key apart, "
                             "not only key columns")


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


# what may not appear in a --where predicate, which is pasted into statements and into files psql, sqlite3 and
# mysql run: a second statement (';'), a comment that hides the rest of a line ('--', '/*', MySQL's '#'), the end of a
# dollar-quoted block ('$'), a psql meta-command ('\\'), a bind parameter SQLAlchemy would read (':name'), and
# control or invisible characters (a line break, a bidirectional mark that reorders what a reviewer reads)
_PREDICATE_REFUSED = re.compile(r"[;$#\\\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f"
                                r"\u2028-\u202e\u2060-\u206f\ufeff]|--|/\*|(?<![:\w]):\w")
_PREDICATE_TOKENS = re.compile(r"""'[^']*'|"[^"]*"|`[^`]*`|[()]|['"`]""")


def check_predicate(where: str | None) -> str | None:
    """A --where predicate is one boolean expression the user writes; refuse what could end it early or run
    anything besides it: the characters above, and quotes or parentheses that do not pair up (``a = 1) OR (1 = 1``
    reads as one expression alone, and as another inside ``AND (...)``). The database checks the rest.

    >>> check_predicate(" status = 'active' ")
    "status = 'active'"
    >>> check_predicate("deleted_at::date IS NULL AND note <> 'a;b'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dupfinder.errors.UsageError: --where must be one boolean expression on one line, without ';', ...; found ';'
    """
    if where is None:
        return None
    where = where.strip()
    if not where:
        raise UsageError("--where is empty: give a boolean expression such as \"deleted_at IS NULL\"")
    if found := _PREDICATE_REFUSED.search(where):
        raise UsageError("--where must be one boolean expression on one line, without ';', comments, '#', '$', "
                         f"\\, a ':name' or control characters; found {found.group()!r}")
    depth = 0
    for token in _PREDICATE_TOKENS.findall(where):
        depth += {"(": 1, ")": -1}.get(token, 0)
        if depth < 0 or token in ("'", '"', "`"):
            what = "a ')' before its '('" if depth < 0 else f"a {token} that is never closed"
            raise UsageError(f"--where {where!r} is not one expression: {what}")
    if depth:
        raise UsageError(f"--where {where!r} is not one expression: a '(' that is never closed")
    return where


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
    ids: list[str] | tuple[str, ...] | str = (),
    runs: tuple[str, ...] = (),
    runs_pattern: str | None = None,
    ignore: list[str] | tuple[str, ...] | str = (),
    where: str | None = None,
    named: Mapping[str, str] | None = None,
) -> TableSpec:
    """Build a TableSpec from the loose values a command line or a TOML table gives. ``named``: how the
    source names a field in messages, where not as its option (a TOML file's ``window``, not ``--window``)."""

    def label(field: str) -> str:
        return (named or {}).get(field, f"--{field.replace('_', '-')}")

    return TableSpec(
        table=table,
        keys=tuple(keys),
        ts=ts,
        window=DEFAULT_WINDOW if window is None else parse_duration(window, label("window"), positive=True),
        writers=parse_writers(writers),
        infer_writers=infer_writers,
        keep=keep,
        since=parse_since(since, what=label("since")) if since is not None else None,
        timezone=timezone,
        incident_gap=DEFAULT_INCIDENT_GAP if incident_gap is None else parse_duration(incident_gap,
                                                                                     label("incident_gap")),
        ids=(ids,) if isinstance(ids, str) else tuple(ids or ()),
        runs=tuple(runs),
        runs_pattern=runs_pattern,
        ignore=(ignore,) if isinstance(ignore, str) else tuple(ignore or ()),
        where=check_predicate(where),
    )


# what a dupfinder.toml may hold, and the TOML type each value must have (checked before anything is read)
_TEXT, _DURATION, _FLAG, _KEYS, _WRITERS = "a string", "a duration", "true or false", "keys", "writers"
_DEFAULT_FIELDS = {"window": _DURATION, "keep": _TEXT, "since": _TEXT, "timezone": _TEXT,
                   "infer_writers": _FLAG, "incident_gap": _DURATION}
# runs / runs_pattern: job-run logs, at the top for every table or in a [[table]] for its own (_run_paths checks them)
_TOP_FIELDS = {"database": _TEXT, "table": "tables", "tables": "tables", "runs": "runs", "runs_pattern": "runs",
               **_DEFAULT_FIELDS}
_TABLE_FIELDS = {"name": _TEXT, "table": _TEXT, "key": _KEYS, "keys": _KEYS, "ts": _TEXT, "writers": _WRITERS,
                 "id": _KEYS, "ids": _KEYS, "ignore": _KEYS, "runs": "runs", "runs_pattern": "runs", "where": _TEXT,
                 **_DEFAULT_FIELDS}


def _kind(value: Any) -> str:
    from datetime import date, time

    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (datetime, date, time)):
        return "a TOML date/time (quote it to make it a string)"
    kind = {int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}.get(
        type(value), type(value).__name__)
    if isinstance(value, (str, list, dict)) and not value:
        return "an empty " + kind.split(" ", 1)[1]  # keys = [] read "must be ... an array, not an array"
    inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    bad = next((v for v in inner if not (isinstance(v, str) and v)), None)
    return f"{kind} holding {_kind(bad)}" if bad is not None else kind


def _check_value(where: str, name: str, value: Any) -> None:
    """Raise UsageError unless ``value`` has the TOML type field ``name`` needs."""
    expected = {**_TOP_FIELDS, **_TABLE_FIELDS}[name]
    ok = {
        _TEXT: isinstance(value, str) and value != "",
        _DURATION: isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)),
        _FLAG: isinstance(value, bool),
        _KEYS: (isinstance(value, str) and value != "") or (
            isinstance(value, list) and value and all(isinstance(k, str) and k for k in value)),
        _WRITERS: isinstance(value, dict) and all(isinstance(c, str) and c for c in value.values()),
    }.get(expected, True)
    if not ok:
        need = {_TEXT: "a non-empty string", _DURATION: 'a duration such as "2s" (or a number of seconds)',
                _FLAG: "true or false", _KEYS: 'a column name or an array of column names, e.g. ["a", "b"]',
                _WRITERS: 'a table of role = "column", e.g. { host = "hostname" }'}[expected]
        raise UsageError(f"{where}: {name} must be {need}, not {_kind(value)}")


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[str | None, list[TableSpec]]:
    """Read a dupfinder.toml: returns its database URL (if any) and one TableSpec per ``[[table]]``.

    Top-level ``window``, ``keep``, ``since``, ``timezone`` and ``infer_writers`` are defaults that each
    table may override; ``overrides`` (from the command line) win over both. Unknown fields and values of
    the wrong type are refused with the field's name.
    """
    import tomllib  # only a scan with --config reads TOML

    path = Path(path)
    where = f"config file {str(path)!r}"
    text = read_text(path, "config file", UsageError)
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise UsageError(f"{where} is not valid TOML: {exc}") from None
    unknown = set(doc) - set(_TOP_FIELDS)
    if unknown:
        raise UsageError(f"{where}: unknown top-level field(s) {', '.join(sorted(map(repr, unknown)))}; known: "
                         f"{', '.join(sorted(_TOP_FIELDS))} and [[table]] entries")
    if "table" in doc and "tables" in doc:
        raise UsageError(f"{where}: give the tables as [[table]] or as [[tables]], not both")
    for name, value in doc.items():
        if name not in ("table", "tables"):
            _check_value(where, name, value)
    tables = doc.get("table") if "table" in doc else doc.get("tables")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{where} has no [[table]] entries")
    defaults = {k: doc[k] for k in _DEFAULT_FIELDS if k in doc}
    specs = []
    for number, entry in enumerate(tables, 1):
        here = f"{where}, [[table]] #{number}"
        unknown = set(entry) - set(_TABLE_FIELDS)
        if unknown:
            raise UsageError(f"{here}: unknown field(s) {', '.join(sorted(unknown))}")
        for name, value in entry.items():
            _check_value(here, name, value)
        merged = {**defaults, **entry, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        runs, runs_pattern = _run_paths(here, entry, path.parent)
        keys = merged.get("keys", merged.get("key"))
        if isinstance(keys, str):
            keys = [keys]
        # a value from the file is named as the file names it, not as an option
        from_file = {name: name for name in ("window", "incident_gap", "since")
                     if name in {**defaults, **entry} and (overrides or {}).get(name) is None}
        try:
            specs.append(_spec_of(merged, keys, runs, runs_pattern, from_file))
        except UsageError as err:
            raise UsageError(f"{here}: {err}" if from_file else str(err)) from None
    return doc.get("database"), specs


def _spec_of(merged: dict[str, Any], keys, runs: tuple[str, ...], runs_pattern: str | None,
             named: dict[str, str]) -> TableSpec:
    return table_spec(
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
        ids=merged.get("ids", merged.get("id", ())),
        runs=runs,
        runs_pattern=runs_pattern,
        ignore=merged.get("ignore", ()),
        where=merged.get("where"),
        named=named,
    )


def run_logs(path: str | Path) -> tuple[tuple[str, ...], str | None]:
    """The job-run files (``runs``, a path or a list, relative to the config file) and ``runs_pattern``
    of a dupfinder.toml."""
    import tomllib

    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return (), None  # load_config reports what is wrong with the file
    return _run_paths(f"config file {str(path)!r}", doc, path.parent)


def _run_paths(where: str, doc: dict[str, Any], folder: Path) -> tuple[tuple[str, ...], str | None]:
    """``runs`` (a path or a list, relative to ``folder``) and ``runs_pattern`` of a TOML table, checked."""
    runs = doc.get("runs", [])
    runs = [runs] if isinstance(runs, str) else runs
    pattern = doc.get("runs_pattern")
    if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs) or (
            pattern is not None and not isinstance(pattern, str)):
        raise UsageError(f"{where}: runs must be a path or a list of paths, runs_pattern a string")
    return tuple(str(folder / r) for r in runs), pattern


def prepare_out_dir(out: str | Path) -> list[Path]:
    """Create the ``--out`` folder before anything is scanned and check a file can be written in it, or raise
    UsageError saying why (a file in the way, no permission, a read-only disk). Returns the folders it
    created, for ``remove_created`` to take back when the scan fails (a failed scan leaves nothing behind)."""
    import tempfile

    path = Path(out)
    missing = []
    probe = path
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"--out {str(out)!r} cannot be created: {str(probe)!r} is a file, not a folder")
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        remove_created(created)
        raise UsageError(f"--out {str(out)!r} cannot be created or written: {err.strerror or err}") from None
    return created


def remove_created(created: list[Path]) -> None:
    """Remove the folders ``prepare_out_dir`` created, deepest first, if they are still empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break


def writable_file(output: str | Path, option: str = "-o") -> Path:
    """Check that a file can be written at ``output`` (its folder exists) before any work is done."""
    path = Path(output)
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"{option} {str(output)!r} is a folder; name a file")
    if not folder.is_dir():
        raise UsageError(f"{option} {str(output)!r}: folder {str(folder)!r} does not exist (create it first)")
    return path
