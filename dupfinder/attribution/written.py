"""What each writer wrote around the clusters, counted by the database in one statement per table.

The counts are rows per writer per time bucket inside the spans around the clusters' episodes
(queries/writer_counts.sql.j2). Without writer columns on PostgreSQL the writers are the inserting
transactions of the cluster rows (a second statement, restricted to those transactions). Where the statistics
counted rows per writer per time cell beside the detection (PostgreSQL, detect.Cells), the rows per bucket are
added up from the cells, with only the parts of cells a bucket or span bound cuts read through the timestamp's
index and the shared counts from the member rows: the spans are not read a second time.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from sqlalchemy.engine import Connection

from ..config import TableSpec
from ..connect import TableInfo
from ..detect import EARLIEST, Cells, Members, ts_bind
from ..sqltemplates import quote_table, render_sql, sql_text
from ..writers import WriterColumn
from .writercols import Writer, named

MAX_SPANS = 200        # OR-ed ranges in one statement; closer spans are merged beyond this
MAX_APART = 20_000     # spans kept apart past MAX_SPANS (bound as arrays or JSON: _spans_apart); merged beyond this
BUCKETS = 4000         # time buckets over all spans: bounds the rows the statement returns per writer
MIN_BUCKET_US = 100_000
EDGE_SHARE = 0.25      # the cells cut by a bucket or span bound may hold at most twice this share of the spans' rows


@dataclass
class Written:
    """Rows per writer per bucket; ``rows(writer, lo, hi)`` sums the buckets inside [lo, hi]."""

    bucket_us: int
    per_writer: dict[Writer, tuple[list[int], list[int], list[int]]] = field(default_factory=dict)
    # bucket starts, cumulative rows, and rows whose key was written more than once (by anybody: one writer's
    # two runs too, which the per-writer series, counting keys another writer also wrote, cannot show)
    total: tuple[list[int], list[int], list[int]] | None = None
    statements: int = 0

    def rows(self, writer: Writer | None, lo: int, hi: int) -> int | None:
        found = self.rows_shared(writer, lo, hi)
        return None if found is None else found[0]

    def rows_shared(self, writer: Writer | None, lo: int, hi: int) -> tuple[int, int] | None:
        """Rows the writer (None: anybody) wrote in [lo, hi], and how many of their keys another writer
        (None: anybody, the same writer too: a second row) also wrote in the spans."""
        series = self.total if writer is None else self.per_writer.get(writer)
        if series is None:
            return None if writer is None else (0, 0)
        starts, rows, shared = series
        a = bisect.bisect_left(starts, lo - self.bucket_us + 1)
        b = bisect.bisect_right(starts, hi)
        return rows[b] - rows[a], shared[b] - shared[a]


def _series(points: dict[int, list[int]]) -> tuple[list[int], list[int], list[int]]:
    starts = sorted(points)
    rows, shared = [0], [0]
    for s in starts:
        rows.append(rows[-1] + points[s][0])
        shared.append(shared[-1] + points[s][1])
    return starts, rows, shared


def merge_spans(spans: Sequence[tuple[int, int]], limit: int = MAX_SPANS) -> list[tuple[int, int]]:
    """Merge overlapping spans, then the closest neighbours until at most ``limit`` remain.

    >>> merge_spans([(0, 10), (5, 20), (100, 110), (30, 40)], limit=2)
    [(0, 40), (100, 110)]
    """
    merged: list[list[int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    # merging two neighbours leaves every other gap as it was, so closing the closest gap again and again (the
    # leftmost of equal ones) closes the len - limit smallest gaps, ties from the left: one sort, not a scan
    # of every gap per merge (quadratic: 0.09 s of a profiled 1M-row scan, about 500 spans)
    gaps = sorted(range(len(merged) - 1), key=lambda k: (merged[k + 1][0] - merged[k][1], k))
    closed = set(gaps[:max(0, len(merged) - limit)])
    out: list[tuple[int, int]] = []
    for k, (lo, hi) in enumerate(merged):
        if k - 1 in closed:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


JULIAN_EPOCH = 2440587.5  # the Julian day of 1970-01-01 00:00 UTC (SQLite's julianday)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def span_binds(info: TableInfo, aware: bool | None, spans: Sequence[tuple[int, int]]) -> dict[str, object]:
    """The bind values :lo0/:hi0 ... of the spans (microseconds), as the timestamp column compares with them:
    what the ``in_spans`` macro of queries/_dialect.sql.j2 reads."""
    params: dict[str, object] = {}
    for n, (lo, hi) in enumerate(spans):
        params[f"lo{n}"] = ts_bind(info, aware, datetime.fromtimestamp(lo / 1e6, UTC))
        params[f"hi{n}"] = ts_bind(info, aware, datetime.fromtimestamp(hi / 1e6, UTC))
        if info.dialect == "sqlite":  # the other forms SQLite keeps a timestamp in: 'T' text, epoch seconds,
            # and (text with an offset) Julian days, a millisecond wider: julianday keeps milliseconds
            params[f"tlo{n}"], params[f"thi{n}"] = (params[f"{e}{n}"].replace(" ", "T") for e in ("lo", "hi"))
            params[f"nlo{n}"], params[f"nhi{n}"] = lo / 1e6, hi / 1e6
            params[f"jlo{n}"], params[f"jhi{n}"] = (JULIAN_EPOCH + (us / 1e6 + pad) / 86400
                                                    for us, pad in ((lo, -0.001), (hi, 0.001)))
    if info.dialect == "sqlite" and spans:  # the range an index serves, every form inside (offsets: a day)
        first, last = (min(max(s / 1e6 + pad, EARLIEST.timestamp()), LATEST.timestamp())
                       for s, pad in ((spans[0][0], -86400), (spans[-1][1], 86400)))
        params["clo"] = ts_bind(info, aware, datetime.fromtimestamp(first, UTC))
        params["chi"] = ts_bind(info, aware, datetime.fromtimestamp(last, UTC)).replace(" ", "T")
    return params


def count(conn: Connection, info: TableInfo, spec: TableSpec, aware: bool | None,
          writers: tuple[WriterColumn, ...], spans: Sequence[tuple[int, int]],
          xids: Sequence[str] = (), members: Members | None = None, cells: Cells | None = None) -> Written:
    """Count rows per writer (per transaction among ``xids`` when there are no writer columns) in ``spans``.

    ``members``: the detection's row ids of every duplicated key's rows, read instead of sorting the spans
    by key when they cover the spans. ``cells``: rows per writer per time cell the statistics counted; with the
    members, the rows per bucket are added up from whole cells and the parts of cells read by index
    (``_rows_by_cells``), and the spans are not read again."""
    columns = [w.column for w in writers]
    merged = merge_spans(spans)
    apart = _spans_apart(conn, info, spec, spans, merged) if columns else None
    if apart is not None:
        merged = apart
    length = sum(hi - lo for lo, hi in merged) or 1
    bucket = max(MIN_BUCKET_US, length // BUCKETS)
    written = Written(bucket_us=bucket)
    if not merged:
        return written
    params: dict = {"bucket_us": bucket, **(span_arrays(info, aware, merged) if apart is not None
                                           else span_binds(info, aware, merged))}
    by_id = members is not None and members.covers(merged)
    if by_id:
        params["members"] = members.ids
    base = {"table": quote_table(conn.dialect, info.name, info.schema), "keys": list(spec.keys), "ts": spec.ts,
            "spans": len(merged), "members": by_id, "where": info.where,
            "span_array": None if apart is None else _alias_beside(info.name),
            "span_index": spec.ts in info.index_leading_columns,
            "span_bound": _bounds_beside(info.column_names)}
    roles = [w.role for w in writers]
    counted = None
    if by_id and cells is not None and cells.columns == tuple(columns):
        counted = _rows_by_cells(conn, spec, aware, cells, merged, bucket, params, base)
    if counted is None:
        sql = render_sql("writer_counts.sql.j2", conn.dialect, **base, groups=columns, by_xmin=False,
                         shared_by=[f"w{n}" for n in range(len(columns))])
        counted = conn.execute(sql_text(sql), params)
    per: dict[Writer, dict[int, list[int]]] = {}
    totals: dict[int, list[int]] = {}
    for row in counted:
        values, bucket_start, rows = row[:len(columns)], int(row[-4]), int(row[-3])
        shared, repeated = int(row[-2] or 0), int(row[-1] or 0)
        who = tuple(sorted((role, str(v)) for role, v in zip(roles, values, strict=True) if named(v)))
        if columns:
            point = per.setdefault(who, {}).setdefault(bucket_start, [0, 0])
            point[0] += rows
            point[1] += shared
        point = totals.setdefault(bucket_start, [0, 0])
        point[0] += rows
        point[1] += repeated
    written.statements = 1
    if not columns and xids and info.heap:
        sql = render_sql("writer_counts.sql.j2", conn.dialect, **base, groups=[], by_xmin=True, shared_by=["_xmin"])
        for xmin, bucket_start, rows, shared, _ in conn.execute(sql_text(sql), {**params, "xids": sorted(set(xids))}):
            per.setdefault((("xmin", str(xmin)),), {})[int(bucket_start)] = [int(rows), int(shared or 0)]
        written.statements += 1
    written.per_writer = {who: _series(points) for who, points in per.items()}
    written.total = _series(totals)
    return written


def _spans_apart(conn: Connection, info: TableInfo, spec: TableSpec, spans: Sequence[tuple[int, int]],
                 merged: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """The spans merged only where they overlap (up to MAX_APART), where writer_counts.sql.j2 reads them apart
    (``span_array``), once they are more than MAX_SPANS OR-ed ranges could hold: PostgreSQL; DuckDB (an ASOF
    join); MySQL 8.0.4+ and
    MariaDB 10.6+ (JSON_TABLE) with an index that starts with the timestamp (without one the join would compare
    every row with every span). None: read the OR-ed ranges."""
    if len(merged) < MAX_SPANS:
        return None
    if info.dialect in ("mysql", "mariadb"):
        version = tuple(conn.dialect.server_version_info or ())
        mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
        if spec.ts not in info.index_leading_columns or version < ((10, 6) if mariadb else (8, 0, 4)):
            return None
    elif info.dialect not in ("postgresql", "duckdb"):
        return None
    return merge_spans(spans, limit=MAX_APART)


def span_arrays(info: TableInfo, aware: bool | None, spans: Sequence[tuple[int, int]]) -> dict[str, object]:
    """The binds of writer_counts.sql.j2's ``span_array``: each span's start and end (:span_lo, :span_hi, as the
    timestamp column compares with them), and :span_bounds, each start and the microsecond after each end in
    order, for width_bucket (a row is inside a span where its bucket is odd; spans never touch: merge_spans
    joins them)."""
    def at(us: int):  # exact to the microsecond (us / 1e6 as a float is not, past 2**53 / 1e6 s)
        return ts_bind(info, aware, UNIX_EPOCH + timedelta(microseconds=us))

    lo, hi = [at(a) for a, _ in spans], [at(b) for _, b in spans]
    if info.dialect in ("mysql", "mariadb"):  # JSON_TABLE's DATETIME(6) columns read 'YYYY-MM-DD HH:MM:SS.ffffff'
        def text(moment: datetime) -> str:
            return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return {"span_json": json.dumps([[text(a), text(b)] for a, b in zip(lo, hi, strict=True)])}
    return {"span_lo": lo, "span_hi": hi, "span_bounds": [x for a, b in spans for x in (at(a), at(b + 1))]}


def _bounds_beside(columns: Sequence[str]) -> tuple[str, str]:
    """Names for the spans' start and end columns (MySQL's JSON_TABLE) that no column of the table takes, in any
    case (MySQL compares column names without it)."""
    taken = {c.lower() for c in columns}
    return next((lo, hi) for lo, hi in (("lo", "hi"), *((f"_lo{n}", f"_hi{n}") for n in range(len(taken) + 1)))
                if lo not in taken and hi not in taken)


def _alias_beside(table: str) -> str:
    """A name for the spans' row source that the table's own name cannot hide (in any case: MySQL may fold it)."""
    return "_spans" if table.lower() != "_spans" else "_spans_"


def _rows_by_cells(conn: Connection, spec: TableSpec, aware: bool | None, cells: Cells,
                   merged: list[tuple[int, int]], bucket: int, params: dict, base: dict) -> list[tuple] | None:
    """The rows writer_counts.sql.j2 returns (writer values, bucket start, rows, shared, repeated), the rows per bucket
    added up from the cells: a writer's rows in a bucket's part of a span, [a, b), are its rows before b less
    its rows before a, and its rows before a point x are the whole cells before x's cell plus the rows of that
    cell before x (``_cut_rows``); the shared counts come from the member rows. None when the cells the points
    cut would hold more than EDGE_SHARE of the spans' rows (buckets finer than the cells): the caller reads the
    spans."""
    size = cells.cell_us
    pieces = _pieces(merged, bucket)
    cut = sorted({x for _, a, b in pieces for x in (a, b) if x % size})
    everyone: Counter[int] = Counter()
    for points in cells.counts.values():
        everyone.update(points)
    total = _cumulative(everyone)
    spanned = sum(_between(total, a, b) for _, a, b in pieces)
    if sum(_between(total, x - x % size, x - x % size + size) for x in cut) > 2 * EDGE_SHARE * max(1, spanned):
        return None
    inside = _cut_rows(conn, spec, aware, cells, cut, base["table"])
    points = sorted({x for _, a, b in pieces for x in (a, b)})
    rows: dict[tuple, list[int]] = {}
    for who, counts in cells.counts.items():
        starts, sums = _cumulative(counts)
        until = {}  # the writer's rows before each point
        for x in points:
            first = x - x % size
            until[x] = sums[bisect.bisect_left(starts, first)] + inside.get((who, x), 0)
        for start, a, b in pieces:
            n = until[b] - until[a]
            if n:
                rows.setdefault((*who, start), [0, 0, 0])[0] += n
    sql = render_sql("writer_counts.sql.j2", conn.dialect, **base, groups=list(cells.columns), by_xmin=False,
                     shared_by=[f"w{n}" for n in range(len(cells.columns))], shared_only=True)
    for row in conn.execute(sql_text(sql), params):
        point = rows.setdefault(tuple(row[:-3]), [0, 0, 0])
        point[1] += int(row[-2] or 0)
        point[2] += int(row[-1] or 0)
    return [(*point, *counts) for point, counts in rows.items()]


def _pieces(merged: list[tuple[int, int]], bucket: int) -> list[tuple[int, int, int]]:
    """(bucket start, a, b): each bucket's part [a, b) of a span (spans include their end; timestamps are whole
    microseconds), where writer_counts.sql.j2 counts a row of the span in that bucket.

    >>> _pieces([(5, 24), (40, 41)], 10)
    [(0, 5, 10), (10, 10, 20), (20, 20, 25), (40, 40, 42)]
    """
    pieces = []
    for lo, hi in merged:
        start = lo - lo % bucket
        while start <= hi:
            if max(lo, start) < min(hi + 1, start + bucket):  # (a span ending before it starts holds nothing)
                pieces.append((start, max(lo, start), min(hi + 1, start + bucket)))
            start += bucket
    return pieces


def _cut_rows(conn: Connection, spec: TableSpec, aware: bool | None, cells: Cells, cut: list[int],
              table: str) -> dict[tuple[tuple, int], int]:
    """Per writer and point x inside a cell, the rows of x's cell before x, read through the timestamp's index
    (queries/writer_edges.sql.j2): from the cell's start to x or, the shorter read, from x to the cell's end
    (then taken from the cell's count)."""
    size = cells.cell_us
    early = [x % size <= size // 2 for x in cut]
    parts = [(x - x % size, x) if e else (x, x - x % size + size) for x, e in zip(cut, early, strict=True)]
    inside: dict[tuple[tuple, int], int] = {}
    if not cut:
        return inside
    for who, counts in cells.counts.items():  # a writer with nothing read after x has its whole cell before x
        for x, e in zip(cut, early, strict=True):
            if not e and counts.get(x - x % size):
                inside[(who, x)] = counts[x - x % size]
    sql = render_sql("writer_edges.sql.j2", conn.dialect, table=table, keys=list(spec.keys), ts=spec.ts,
                     groups=list(cells.columns), aware=bool(aware), where=spec.where)
    for row in conn.execute(sql_text(sql), {"starts": [a for a, _ in parts], "ends": [b for _, b in parts]}):
        n = int(row[-2]) - 1
        key = (tuple(row[:-2]), cut[n])
        inside[key] = inside.get(key, 0) + (int(row[-1]) if early[n] else -int(row[-1]))
    return inside


def _cumulative(points: dict[int, int]) -> tuple[list[int], list[int]]:
    starts = sorted(points)
    return starts, [0, *accumulate(points[s] for s in starts)]


def _between(cumulative: tuple[list[int], list[int]], first: int, last: int) -> int:
    """Rows in the cells starting in [first, last)."""
    starts, sums = cumulative
    return sums[bisect.bisect_left(starts, last)] - sums[bisect.bisect_left(starts, first)]


def counter(conn: Connection, info: TableInfo, spec: TableSpec, aware: bool | None,
            writers: tuple[WriterColumn, ...], members: Members | None = None, cells: Cells | None = None):
    """``count`` bound to one table: what attribute_table calls with its spans and transaction ids."""
    return lambda spans, xids: count(conn, info, spec, aware, writers, spans, xids, members, cells)
