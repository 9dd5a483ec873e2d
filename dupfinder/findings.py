"""The findings document (design.md's contract) built from plain scan results, and read back."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .cluster import Cluster
from .config import TableSpec
from .connect import TableInfo
from .detect import FarDuplicate, TableStats
from .errors import BadFindings
from .stored import StoredValues
from .textfiles import read_text
from .values import iso_from_us, iso_timestamp, jsonable, unnamed
from .writers import WriterColumn


@dataclass(frozen=True)
class Incident:
    id: str
    mechanism: str
    start: str
    end: str
    clusters: int
    rows: int
    writers: tuple[dict[str, Any], ...]
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TableResult:
    """Everything one table's scan found, ready to be written out."""

    spec: TableSpec
    info: TableInfo
    stats: TableStats
    writers: tuple[WriterColumn, ...]
    clusters: tuple[Cluster, ...]
    incidents: tuple[Incident, ...]
    far_duplicates: tuple[FarDuplicate, ...]
    far_total: int
    ts_timezone_aware: bool | None
    ts_read_in_utc: bool = False  # a column without a zone whose values are instants read in UTC (MySQL TIMESTAMP)
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # what may make a passing check wrong: printed on stderr whatever the format
    rows_fetched: int = 0
    xmin_top_share: float | None = None
    commit_timestamps: str = "not available on this engine"
    verify_sql: str = ""
    signals: dict[str, Any] = field(default_factory=dict)
    scan_seconds: float | None = None  # wall time of this table's scan, start to attribution (JUnit's time)

    @property
    def rows_in_clusters(self) -> int:
        return sum(len(c.rows) for c in self.clusters)

    @property
    def rows_to_delete(self) -> int:
        if self.info.view:  # cleanup.sql deletes nothing from a view
            return 0
        # a cluster holding a row whose identity is NULL is left to a person: no statement can name that row
        return sum(len(c.rows) - 1 for c in self.clusters
                   if c.payload == "identical" and not unnamed(r.pk for r in c.rows))


@dataclass(frozen=True)
class ScanResult:
    database: str
    scanned_at: str
    tables: tuple[TableResult, ...]
    standby: dict[str, Any] | None = None  # read on a PostgreSQL hot standby: connect.standby_state

    @property
    def cluster_count(self) -> int:
        return sum(len(t.clusters) for t in self.tables)


KEPT_ROWS = 20_000  # cluster rows whose dicts --out keeps between its passes, a table (about 660 bytes a row)
KEPT_INCIDENTS = 10_000  # and incidents


class OnDemand(Sequence):
    """A read-only list whose items are built when they are read and kept by no one but the last: findings.json,
    the SQL files and the report read a table's clusters one at a time, so their dicts never all exist at once
    (50,000 cluster dicts held 36 MiB beside the scan result they repeat). The item read last is kept: the
    outputs read one cluster of 100,000 rows about eight times in turn, and built its dict each time.

    Items are also kept, in the order first read, while their ``weight`` (a cluster's rows) adds up to at most
    ``budget``: the outputs read every cluster about eight times, one pass after another, and rebuilding the
    dicts each time was 0.28 s of the 0.6 s that writing 2,500 clusters' outputs took (5M-row peers table,
    cProfile); with a budget the memory still follows what is kept, not what was found."""

    __slots__ = ("_items", "_build", "_last", "_kept", "_weight", "_room")

    def __init__(self, items: Sequence[Any], build: Callable[[Any], Any],
                 weight: Callable[[Any], int] = lambda _: 1, budget: int = 0) -> None:
        self._items, self._build = items, build
        self._last: tuple[int, Any] = (-1, None)
        self._kept: dict[int, Any] = {}
        self._weight, self._room = weight, budget

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]  # a negative index counts from the end; out of range raises IndexError
        if index in self._kept:
            return self._kept[index]
        if self._last[0] != index:
            self._last = (-1, None)  # let go of the last before building the next
            item = self._items[index]
            built = self._build(item)
            weight = self._weight(item)
            if weight <= self._room:
                self._room -= weight
                self._kept[index] = built
                return built
            self._last = (index, built)
        return self._last[1]

    def __iter__(self) -> Iterator[Any]:
        return map(self.__getitem__, range(len(self)))

    def __repr__(self) -> str:
        return f"OnDemand({len(self)} items)"


def cluster_dict(cluster: Cluster, stored: bool = False) -> dict[str, Any]:
    """One cluster of the findings document. ``stored``: each row's values stay a StoredValues, read from the
    scan's temporary file by whoever reads them (the outputs read a cluster about eight times, its values two or
    three; ``plain`` encodes them), else a dict."""
    return {
        "key": cluster.key,
        "span_seconds": round(cluster.span_seconds, 6),
        "payload": cluster.payload,
        "differing_columns": list(cluster.differing_columns),
        "mechanism": cluster.mechanism,
        "confidence": round(cluster.confidence, 3),
        "explanation": cluster.explanation,
        **({"candidates": cluster.evidence.get("candidates", []), "signal": cluster.evidence.get("signal")}
           if cluster.mechanism == "unknown" and "candidates" in cluster.evidence else {}),
        "incident": cluster.incident,
        "gaps_seconds": [round(g, 6) for g in cluster.gaps_seconds],
        "evidence": cluster.evidence,
        "rows": [
            {
                "pk": r.pk, "ts": r.ts, "writer": r.writer, "survivor": r.survivor,
                "values": r.values.as_dict() if not stored and isinstance(r.values, StoredValues) else r.values,
                **({"xmin": r.xmin} if r.xmin is not None else {}),
                **({"ctid": r.ctid} if r.ctid is not None else {}),
                **({"committed": iso_from_us(r.committed_us)} if r.committed_us is not None else {}),
                **({"hash": r.row_hash} if r.row_hash is not None else {}),
                **({"run": list(r.runs)} if r.runs else {}),
            }
            for r in cluster.rows
        ],
    }


def _stored_cluster(cluster: Cluster) -> dict[str, Any]:
    return cluster_dict(cluster, stored=True)


def plain(value: Any) -> Any:
    """A JSON encoder's form of what a findings document holds beyond JSON's types: a row's values read from the
    scan's temporary file as a dict, anything else as jsonable makes it."""
    return value.as_dict() if isinstance(value, StoredValues) else jsonable(value)


def incident_dict(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id, "mechanism": incident.mechanism, "start": incident.start, "end": incident.end,
        "clusters": incident.clusters, "rows": incident.rows, "writers": list(incident.writers),
        "summary": incident.summary, **incident.details,
    }


def table_dict(t: TableResult, on_demand: bool = False, kept_rows: int = 0) -> dict[str, Any]:
    """One table of the findings document; ``on_demand``: its clusters and incidents built as they are read, and
    kept while their rows add up to ``kept_rows`` (``OnDemand``: for readers that pass over them several times)."""
    spec, info = t.spec, t.info
    return {
        "table": info.qualified_name,
        "schema": info.sql_schema,
        **({"inherited_by": list(info.inherited_by)} if info.inherited_by else {}),
        **({"partitioned": True, "partition_key": list(info.partition_key)} if info.partitioned else {}),
        "name": info.name,
        "keys": list(spec.keys),
        "ts_column": spec.ts,
        "window_seconds": spec.window,
        "rows_scanned": t.stats.rows_scanned,
        "rows_null_key": t.stats.rows_null_key,
        "rows_null_ts": t.stats.rows_null_ts,
        "rows_infinite_ts": t.stats.rows_infinite_ts,
        "far_duplicates": t.far_total,
        "clusters": OnDemand(t.clusters, _stored_cluster, lambda c: len(c.rows), kept_rows) if on_demand
        else [cluster_dict(c) for c in t.clusters],
        "incidents": OnDemand(t.incidents, incident_dict, budget=kept_rows and KEPT_INCIDENTS) if on_demand
        else [incident_dict(i) for i in t.incidents],
        "primary_key": list(info.primary_key),
        "row_id": info.row_id,
        "id_columns": list(info.id_columns),  # --id: identify rows by these instead of the primary key
        "storage": info.storage,  # Spark: the table provider (delta, parquet, ...), which decides the cleanup
        **({"view": True} if info.view else {}),  # cleanup.sql and migration.sql change nothing in a view
        "referenced_by": [
            {"table": k.table, "name": k.name, "columns": list(k.columns), "referred_columns": list(k.referred_columns),
             "ondelete": k.ondelete, "child_primary_key": list(k.child_primary_key),
             "schema": k.table_schema, "name_only": k.table_name}
            for k in info.referenced_by
        ],
        "columns": [{"name": c.name, "type": c.type, **({"generated": True} if c.generated else {})}
                    for c in info.columns],
        **({"id_columns": list(info.id_columns)} if getattr(info, "id_columns", ()) else {}),
        "dialect": info.dialect,
        "ts_timezone_aware": t.ts_timezone_aware,
        **({"ts_read_in_utc": True} if t.ts_read_in_utc else {}),
        "keep": spec.keep,
        **({"ignored_columns": list(spec.ignore)} if spec.ignore else {}),  # --ignore: left out of the comparison
        "since": _since_text(spec, t.ts_timezone_aware),
        **({"where": spec.where} if spec.where else {}),  # --where: only the rows matching it were read
        # what the engine said when it refused --where as an index predicate: migration.sql holds the table back
        **({"where_not_indexable": info.where_index.reason} if info.where_index and info.where_index.refused
           else {}),
        **({"scan_seconds": round(t.scan_seconds, 3)} if t.scan_seconds is not None else {}),
        "time_range": {"first": iso_timestamp(t.stats.first_ts), "last": iso_timestamp(t.stats.last_ts)},
        "writer_columns": [{"role": w.role, "column": w.column, "reason": w.reason, "trusted": w.trusted}
                           for w in t.writers],
        "rows_in_clusters": t.rows_in_clusters,
        "rows_fetched": t.rows_fetched,
        "rows_to_delete": t.rows_to_delete,
        "divergent_clusters": sum(1 for c in t.clusters if c.payload == "divergent"),
        "extra_copy_totals": _totals(t),
        "far_duplicate_keys": [
            {"key": {k: jsonable(v) for k, v in f.key.items()}, "rows": f.rows,
             "first_ts": iso_timestamp(f.first_ts), "last_ts": iso_timestamp(f.last_ts),
             "max_gap_seconds": f.max_gap_seconds}
            for f in t.far_duplicates
        ],
        "far_duplicate_keys_listed": len(t.far_duplicates),
        "signals": t.signals,
        "notes": list(t.notes),
        **({"warnings": list(t.warnings)} if t.warnings else {}),
    }


def _since_text(spec: TableSpec, aware: bool | None) -> str | None:
    """The --since bound the scan used, as the timestamp column reads it: an instant for an aware column, wall
    time without an offset for a naive one (column_since's bound is wall time; it was labelled +00:00).

    >>> from datetime import UTC, datetime
    >>> from dupfinder.config import table_spec
    >>> spec = table_spec(table="t", keys=["k"], ts="ts", since="2026-11-03T02:00:00Z")
    >>> _since_text(spec, True), _since_text(spec, False)
    ('2026-11-03T02:00:00+00:00', '2026-11-03T02:00:00')
    """
    if spec.since is None:
        return None
    return spec.since.isoformat() if aware else spec.since.replace(tzinfo=None).isoformat()


def _totals(t: TableResult) -> list[dict[str, Any]]:
    """The sums of the table's amount columns over the copies beyond each survivor (``extra_copy_totals``); an
    amount the user left out of the comparison (``--ignore``) was still paid twice, so it is summed."""
    from .cluster import bookkeeping_columns
    from .totals import amount_columns, currency_column, extra_copy_totals

    excluded = bookkeeping_columns(t.info, t.spec.keys, t.spec.ts, t.writers)
    columns = [(c.name, c.type) for c in t.info.columns]
    # a currency in the key (a merchant paid in EUR and in USD in one batch) still splits the sums: left out with
    # the key, EUR, USD and GBP copies were added up into one figure (tests/test_stranger23_payout_redelivery.py)
    currency = currency_column(columns, excluded - set(t.spec.keys))
    return extra_copy_totals(t.clusters, amount_columns(columns, excluded), currency, deletes=not t.info.view)


def findings_dict(result: ScanResult, on_demand: bool = False, kept_rows: int = 0) -> dict[str, Any]:
    """The findings.json document for a scan; ``on_demand``: each table's clusters and incidents are built as
    they are read (``OnDemand``), what ``--out`` writes from (keeping up to ``kept_rows`` rows' clusters a table
    between its passes: ``KEPT_ROWS``)."""
    return {
        "dupfinder_version": __version__,
        "scanned_at": result.scanned_at,
        "database": result.database,
        "clusters_total": result.cluster_count,
        **({"standby": result.standby} if result.standby else {}),
        "tables": [table_dict(t, on_demand, kept_rows) for t in result.tables],
    }


def standby_note(doc: dict[str, Any]) -> str | None:
    """What a scan of a hot standby saw of the primary, in one sentence (None for any other scan): the text
    summary, the report and the SQL files' headers say it, since rows the primary committed after the standby's
    replay point are in none of them, and the SQL files must run on the primary.

    >>> standby_note({"standby": {"last_replayed_commit": "2026-11-24T08:05:20+00:00", "read_at": "x",
    ...                           "seconds_since_last_replayed_commit": 2.84, "replay_paused": True}})
    "read on a hot standby: it held the primary's transactions committed up to 2026-11-24T08:05:20+00:00, 2.8 s \
before the scan's snapshot (replay paused); rows committed on the primary after that are not in this scan. Run \
cleanup.sql and migration.sql on the primary (a standby refuses writes)"
    >>> standby_note({"standby": {"last_replayed_commit": None, "read_at": "x"}})[:109]
    'read on a hot standby: it had replayed no transaction since it started, so how far it lagged is unknown; rows'
    >>> standby_note({"database": "sqlite:///a.db"}) is None
    True
    """
    standby = doc.get("standby")
    if not standby:
        return None
    replayed, age = standby.get("last_replayed_commit"), standby.get("seconds_since_last_replayed_commit")
    held = (f"it held the primary's transactions committed up to {replayed}"
            + (f", {age:,.1f} s before the scan's snapshot" if age is not None else "") if replayed
            else "it had replayed no transaction since it started, so how far it lagged is unknown")
    paused = " (replay paused)" if standby.get("replay_paused") else ""
    return (f"read on a hot standby: {held}{paused}; rows committed on the primary after that are not in this "
            "scan. Run cleanup.sql and migration.sql on the primary (a standby refuses writes)")


def write_findings(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=plain) + "\n", encoding="utf-8")


def stream_findings(doc: dict[str, Any], path: Path) -> None:
    """Write findings.json to ``path`` as ``write_findings_to`` writes it."""
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        write_findings_to(doc, out)


SCALARS = frozenset({str, int, float, bool, type(None)})  # written by ``scalar``, never a list or a dict
WRITE_PIECES = 4096  # pieces joined into one write: a few hundred kB of findings text at most


def write_findings_to(doc: dict[str, Any], out: TextIO) -> None:
    """Write the findings document to a text stream piece by piece, indented like ``write_findings`` except that
    each cluster row is one line (findings.json, and ``scan --format json``'s standard output). json.dumps with
    an indent joins every piece of the document into one string first (hundreds of MB of small strings for
    100,000 rows) and encodes in pure Python; rows here go through the C encoder one at a time, and the clusters
    of an ``OnDemand`` list are built, written and let go of one by one.

    The pieces reach ``out`` joined, some ``WRITE_PIECES`` at a time: click's standard output is line buffered,
    and a write per piece flushed a line at a time (186,000 writes, 1.3 s of a 5M-row DuckDB scan's 5 s for 2,500
    clusters)."""
    compact = json.JSONEncoder(ensure_ascii=False, default=plain, separators=(", ", ": ")).encode
    quoted = json.encoder.encode_basestring  # what ``compact`` writes for a str, without its pass through encode()
    pending: list[str] = []
    emit = pending.append

    def flush() -> None:
        out.write("".join(pending))
        pending.clear()

    names: dict[str, str] = {}  # each key's text, encoded once: the clusters repeat the same few dozen keys
    literal = {None: "null", True: "true", False: "false"}

    def scalar(value: Any) -> str:
        """What ``compact`` writes for a value, without an encoder's pass for the plain ones (most of them)."""
        kind = type(value)
        if kind is str:
            return quoted(value)
        if kind is int:
            return int.__repr__(value)
        if kind is float and value - value == 0:  # finite (NaN and the infinities as the encoder spells them)
            return float.__repr__(value)
        if value is None or kind is bool:
            return literal[value]
        return compact(list(value) if isinstance(value, OnDemand) else value)

    def write(value: Any, level: int, rows: bool = False) -> None:
        if type(value) in SCALARS:  # most values: not checked against the abstract Sequence (90,000, 2,500 clusters)
            emit(scalar(value))
            return
        pad = "\n" + "  " * (level + 1)
        if isinstance(value, dict) and value:
            emit("{")
            for n, (k, v) in enumerate(value.items()):
                name = names.get(k) if type(k) is str else None
                if name is None:
                    name = compact(str(k)) + ": "
                    if type(k) is str:
                        names[k] = name
                if type(v) in SCALARS:  # written in place: no call, one piece
                    emit(("," if n else "") + pad + name + (quoted(v) if type(v) is str else scalar(v)))
                    continue
                emit(("," if n else "") + pad + name)
                write(v, level + 1, rows=k == "rows")
            emit("\n" + "  " * level + "}")
        elif isinstance(value, (list, tuple, OnDemand)) and value:
            emit("[")
            for n, item in enumerate(value):
                if rows:
                    emit(("," if n else "") + pad + compact(item))
                elif type(item) in SCALARS:
                    emit(("," if n else "") + pad + scalar(item))
                else:
                    emit(("," if n else "") + pad)
                    write(item, level + 1)
                if len(pending) >= WRITE_PIECES:  # a list is what grows: clusters, their rows
                    flush()
            emit("\n" + "  " * level + "]")
        else:
            emit(scalar(value))

    write(doc, 0)
    emit("\n")
    flush()


SCHEMA_PATH = Path(__file__).resolve().parent / "findings.schema.json"


@cache
def findings_schema() -> dict[str, Any]:
    """The published JSON Schema of findings.json (draft 2020-12)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _location(path: Iterable[Any]) -> str:
    """A JSON path such as ``tables[0].clusters[3].rows`` for a validation error."""
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def validate_findings(doc: Any, source: str = "findings") -> None:
    """Check ``doc`` against findings.schema.json; raise BadFindings naming the first failing field."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import best_match

    # the document --out writes from holds its clusters and incidents as OnDemand lists (arrays all the same)
    # and a row's values as a StoredValues mapping: an object all the same
    checker = Draft202012Validator.TYPE_CHECKER.redefine_many({
        "array": lambda _, value: isinstance(value, (list, OnDemand)),
        "object": lambda _, value: isinstance(value, (dict, StoredValues))})
    validator = validators.extend(Draft202012Validator, type_checker=checker)
    error = best_match(validator(findings_schema()).iter_errors(doc))
    if error is None:
        return
    message, shown = error.message, repr(error.instance)
    if error.validator in ("contains", "minContains", "maxContains"):
        message = "a cluster must mark exactly one row as its survivor"
    elif message.startswith(shown):  # the value itself can be a whole table: show its start only
        message = _one_line(shown, 40) + message[len(shown):]
    raise BadFindings(f"{source!r} is not a valid findings.json: at {_location(error.absolute_path)}: "
                      f"{_one_line(message)}")


def read_findings(path: str | Path, lazy: bool = False) -> dict[str, Any]:
    """Load a findings.json written by a scan and validate it against the schema; raise BadFindings when it is
    not one (one line naming the file and the failing field). ``lazy``: each table's clusters are decoded from
    the file's text when they are read (``OnDemand``), not all held as dicts (``dupfinder cleanup``)."""
    text = read_text(path, "findings file", BadFindings)
    try:
        doc = _lazy_document(text) if lazy else json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise BadFindings(f"{str(path)!r} is not a findings.json: {_one_line(str(err))}") from None
    validate_findings(doc, str(path))
    return doc


_SPACE = re.compile(r"[ \t\n\r]*")


def _lazy_document(text: str) -> dict[str, Any]:
    """The findings document of ``text`` with each table's clusters left in the text: they are found (each
    decoded once to find its end) and decoded again when read. Not a findings document: json.loads's error."""
    decode = json.JSONDecoder().raw_decode

    def skip(at: int) -> int:
        return _SPACE.match(text, at).end()

    def members(at: int, close: str, one: Callable[[int], int]) -> int:
        """Read the members of an object or array opened just before ``at``; return where it ends."""
        at = skip(at)
        if text.startswith(close, at):
            return at + 1
        while True:
            at = skip(one(at))
            if text.startswith(",", at):
                at = skip(at + 1)
            elif text.startswith(close, at):
                return at + 1
            else:
                raise ValueError

    def value(at: int, parts: dict[str, Callable[[int], tuple[Any, int]]] | None = None) -> tuple[Any, int]:
        at = skip(at)
        if parts is None or not text.startswith("{", at):
            return decode(text, at)
        found = {}

        def member(at: int) -> int:
            name, at = decode(text, at)
            at = skip(at)
            if not isinstance(name, str) or not text.startswith(":", at):
                raise ValueError
            read = parts.get(name)
            found[name], at = read(at + 1) if read else value(at + 1)
            return at

        return found, members(at + 1, "}", member)

    def items(at: int, each: Callable[[int], tuple[Any, int]]) -> tuple[list[Any], int]:
        at = skip(at)
        if not text.startswith("[", at):
            raise ValueError
        found = []

        def item(at: int) -> int:
            read, at = each(at)
            found.append(read)
            return at

        return found, members(at + 1, "]", item)

    def clusters(at: int) -> tuple[OnDemand, int]:
        starts, end = items(at, lambda start: (start, decode(text, start)[1]))
        return OnDemand(starts, lambda start: decode(text, start)[0]), end

    tables = {"clusters": clusters}
    try:
        doc, end = value(0, {"tables": lambda at: items(at, lambda start: value(start, tables))})
        if skip(end) != len(text):
            raise ValueError
    except (ValueError, IndexError):  # json.loads says what is wrong, in its words, where it is
        return json.loads(text)
    return doc
