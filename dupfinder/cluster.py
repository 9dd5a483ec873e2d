"""Turn the detected rows into clusters: payload comparison, gaps and the survivor."""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .connect import TableInfo
from .stored import ValueStore
from .values import iso_timestamp, jsonable, soft_delete_column, survivor_index
from .writers import WriterColumn

if TYPE_CHECKING:
    from .detect import Record


PLAIN = frozenset({str, int, bool, type(None)})  # what jsonable hands back as it is
WHOLE_SECONDS_SHARE = 0.9  # nine in ten timestamps without a fraction: the column keeps whole seconds


def whole_seconds(clusters: Iterable[Cluster]) -> bool:
    """Whether the cluster rows' timestamps are whole seconds (nine in ten or more): the column keeps no
    fraction, so a row's moment is known to a second (the attribution's gap reading, --runs' matching)."""
    stamps = [r.ts_us for c in clusters for r in c.rows]
    return bool(stamps) and sum(1 for t in stamps if t % 1_000_000 == 0) >= WHOLE_SECONDS_SHARE * len(stamps)


@dataclass(frozen=True, slots=True)  # slots: 100,000 rows of one cluster took 60 MB less
class ClusterRow:
    pk: dict[str, Any]
    ts: str
    ts_us: int
    writer: dict[str, Any]
    survivor: bool
    values: Mapping[str, Any]  # a StoredValues as a scan builds them: read from a temporary file when asked
    xmin: str | None = None
    ctid: str | None = None
    committed_us: int | None = None  # when the inserting transaction committed (PostgreSQL, if tracked)
    row_hash: str | None = None  # md5 of the row as scanned (PostgreSQL): cleanup.sql's guard
    runs: tuple[str, ...] = ()  # job runs active when the row was written (--runs; runs.attach)


@dataclass(frozen=True, slots=True)  # slots: 0.5 MB less per 10,000 clusters (tracemalloc)
class Cluster:
    key: dict[str, Any]
    rows: tuple[ClusterRow, ...]
    span_seconds: float
    payload: str
    differing_columns: tuple[str, ...]
    gaps_seconds: tuple[float, ...]
    mechanism: str = "unknown"
    confidence: float = 0.0
    explanation: str = "not attributed"
    incident: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def start_us(self) -> int:
        return self.rows[0].ts_us if self.rows else 0

    @property
    def end_us(self) -> int:
        return max(r.ts_us for r in self.rows) if self.rows else 0

    @property
    def survivor(self) -> ClusterRow:
        return next(r for r in self.rows if r.survivor)

    @property
    def losers(self) -> tuple[ClusterRow, ...]:
        return tuple(r for r in self.rows if not r.survivor)


def bookkeeping_columns(info: TableInfo, keys: Sequence[str], ts: str, writers: Sequence[WriterColumn]) -> set[str]:
    """The columns that say which row, which key, when and who wrote it: the primary key (or ``--id``), the
    business key, the timestamp and the writer columns. Never compared between copies, never summed."""
    return set(info.primary_key) | set(info.id_columns) | set(keys) | {ts} | {w.column for w in writers}


def payload_columns(info: TableInfo, keys: tuple[str, ...], ts: str, writers: tuple[WriterColumn, ...],
                    ignore: tuple[str, ...] = ()) -> list[str]:
    """Every column other than the bookkeeping ones and those the user left out of the comparison
    (``--ignore``)."""
    skip = bookkeeping_columns(info, keys, ts, writers) | set(ignore)
    return [c for c in info.column_names if c not in skip]


def one_column_divergence(clusters: Sequence[Cluster]) -> str | None:
    """A note when (nearly) every cluster is divergent in one and the same column alone, as a per-row request
    id or a second write time (``updated_at DEFAULT now()``) makes them: cleanup.sql then deletes nothing, and
    nothing said why. None when the differences vary or are few.

    >>> c = Cluster(key={}, rows=(), span_seconds=0.0, payload="divergent", differing_columns=("request_id",),
    ...             gaps_seconds=())
    >>> one_column_divergence([c] * 5)[:60]
    "every one of the 5 clusters differs in column 'request_id' a"
    >>> one_column_divergence([c] * 2) is None
    True
    >>> from dataclasses import replace
    >>> one_column_divergence([c] * 9 + [replace(c, differing_columns=("request_id", "deleted_at"))])[:44]
    "9 of the 10 clusters differ in column 'reque"
    >>> same = replace(c, payload="identical", differing_columns=())
    >>> one_column_divergence([c] * 3 + [same] * 30)[:58]
    '3 of the 33 clusters, every divergent one, differ in colum'
    >>> one_column_divergence([c] * 3 + [replace(c, differing_columns=("status",))] + [same] * 30) is None
    True
    """
    alone = Counter(c.differing_columns[0] for c in clusters
                    if c.payload == "divergent" and len(c.differing_columns) == 1)
    if not alone:
        return None
    # (nearly) every cluster: a few copies soft-deleted since (deleted_at set too) still leave the column to name
    column, divergent = alone.most_common(1)[0]
    if divergent < 3:
        return None
    if divergent < 0.9 * len(clusters):
        # a second write time differs only in the copies written either side of its tick, or until a later
        # update gave both copies one value: `updated_at TIMESTAMP ON UPDATE CURRENT_TIMESTAMP` made 751 of a
        # MariaDB double run's 8,472 clusters divergent, and nothing said why (stranger24)
        if divergent < sum(1 for c in clusters if c.payload == "divergent"):
            return None
        return (f"{divergent:,} of the {len(clusters):,} clusters, every divergent one, differ in column {column!r} "
                f"alone, so cleanup.sql deletes none of them and migration.sql holds the table back; if "
                f"{column!r} is a per-row id or a second write time rather than business data, scan again with "
                f"--ignore {column} (the guard still compares whole rows, the backup keeps them)")
    every = "every one of the" if divergent == len(clusters) else f"{divergent} of the"
    verb = "differs" if divergent == len(clusters) else "differ"
    return (f"{every} {len(clusters)} clusters {verb} in column {column!r} alone, so cleanup.sql deletes none "
            f"of them; if {column!r} is a per-row id or a second write time rather than business data, "
            f"scan again with --ignore {column} (the guard still compares whole rows, the backup keeps them)")


def build_clusters(
    records: Iterable[Record] | None,
    info: TableInfo,
    keys: tuple[str, ...],
    ts: str,
    writers: tuple[WriterColumn, ...],
    keep: str,
    ignore: tuple[str, ...] = (),
) -> list[Cluster]:
    """Group detected rows by key group and cluster number, compare payloads and mark one survivor.

    A list of records is emptied as it is read. The key group is the database's number (``_key_no``): keys
    the database calls equal (numeric 1.50 and 1.5, -0.0 and 0.0, jsonb 1 and 1.0) are one group even where
    their Python values differ.
    """
    if not records:
        return []
    names = info.column_names
    payload = payload_columns(info, keys, ts, writers, ignore)
    id_columns = list(info.order_columns)
    deleted = soft_delete_column((c.name, c.type) for c in info.columns)
    clusters: list[Cluster] = []
    if isinstance(records, list):  # consumed as clusters are built: records and clusters are never both whole
        queue = deque(records)
        records.clear()
        queue.append(None)  # the end
        records = iter(queue.popleft, None)
    shared: dict[tuple, dict[str, Any]] = {}  # one dict per distinct writer: thousands of rows share a few
    texts: dict[Any, Any] = {}
    store = ValueStore(names)
    kind: type | None = None  # the records' class, which knows each column's place in a record
    # the query returns rows ordered by key group, time and id, so each cluster is one run of records
    for _, run in itertools.groupby(records, key=lambda r: (r["_key_no"], r["_cluster_no"])):
        key: dict[str, Any] | None = None
        built = []
        first: dict[str, str] | None = None  # the first row's payload, which any other row differs from or not
        differ: set[str] = set()
        for r in run:  # each record is dropped once its row is built, even in a cluster of 100,000 rows
            if type(r) is not kind:  # one statement's records, one kind: read once
                kind, columns = type(r), type(r).columns
                places = [columns[c] for c in names]
            raw = tuple(r)  # a plain tuple: a Record's [] reads by name
            values = {c: same_text(texts, v if type(v) in PLAIN else jsonable(v))
                      for c, v in zip(names, [raw[i] for i in places], strict=True)}
            if first is None:
                key = {k: values[k] for k in keys}  # what jsonable made of them, held once
                first = {c: _comparable(values[c]) for c in payload}
            else:
                differ.update(c for c in payload if c not in differ and _comparable(values[c]) != first[c])
            stamp = raw[columns[ts]]
            iso = values[ts] if type(stamp) is datetime else iso_timestamp(stamp) or ""  # both read isoformat()
            built.append((
                int(r["_ts_us"]),
                {c: values[c] if c in values else jsonable(r.col(c)) for c in id_columns},
                values[ts] if values[ts] == iso else iso,  # one string where both read the same
                share(shared, {w.role: values[w.column] for w in writers}),
                store.put(values),
                same_text(texts, r.get("_xmin")),  # a few transactions wrote many rows
                r.get("_ctid"), r.get("_committed_us"), r.get("_row_md5"),
                deleted is None or values[deleted] is None,  # not soft-deleted: preferred as the survivor
            ))
        built.sort(key=lambda row: (row[0], tuple(_sortable(row[1][c]) for c in id_columns)))
        survivor = survivor_index([row[-1] for row in built], keep)
        rows = tuple(ClusterRow(pk=pk, ts=iso, ts_us=us, writer=writer, survivor=n == survivor, values=stored,
                                xmin=xmin, ctid=ctid, committed_us=committed, row_hash=row_hash)
                     for n, (us, pk, iso, writer, stored, xmin, ctid, committed, row_hash, _) in enumerate(built))
        del built
        differing = tuple(c for c in payload if c in differ)
        clusters.append(Cluster(
            key=key or {},
            rows=rows,
            span_seconds=(rows[-1].ts_us - rows[0].ts_us) / 1e6,
            payload="divergent" if differing else "identical",
            differing_columns=differing,
            gaps_seconds=tuple((b.ts_us - a.ts_us) / 1e6 for a, b in zip(rows, rows[1:], strict=False)),
        ))
    clusters.sort(key=lambda c: (c.start_us, str(c.key)))
    return clusters


TEXTS_SHARED = 10_000


def same_text(seen: dict[Any, Any], value: Any) -> Any:
    """The one string equal to ``value`` seen before: a key, host or payload text repeated by 100,000 rows, or
    an explanation repeated by the clusters of one incident, is held once (the first TEXTS_SHARED distinct
    texts are remembered; unique ones stop filling the map)."""
    if type(value) is not str:
        return value
    found = seen.get(value)
    if found is not None:
        return found
    if len(seen) < TEXTS_SHARED:
        seen[value] = value
    return value


def share(seen: dict[Any, Any], value: dict[str, Any]) -> dict[str, Any]:
    """The one dict equal to ``value`` already built (never changed afterwards), else ``value``: writers, and
    the attribution's readings, which thousands of clusters of one incident repeat (remembered like texts)."""
    try:
        key = tuple(value.items())
        found = seen.get(key)
    except TypeError:  # an unhashable value (a JSON column as writer): kept as is
        return value
    if found is not None:
        return found
    if len(seen) < TEXTS_SHARED:
        seen[key] = value
    return value


def ctid_parts(value: Any) -> tuple[int, int] | None:
    """A PostgreSQL ``ctid`` read as text, as (heap block, offset); None for anything else.

    >>> ctid_parts("(12,5)"), ctid_parts(7)
    ((12, 5), None)
    """
    if isinstance(value, str) and value.startswith("(") and "," in value:
        block, _, offset = value.strip("()").partition(",")
        return int(block), int(offset)
    return None


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)):
        return (0, value)
    parts = ctid_parts(value)
    return (0, parts) if parts is not None else (1, str(value))


def _comparable(value: Any) -> str:
    return repr(value)
