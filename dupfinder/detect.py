"""Detect near-duplicate clusters by SQL pushdown: only the rows of clusters leave the database."""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .config import TableSpec
from .connect import TableInfo, concurrently
from .sqltemplates import ident, literal, quote_table, render_sql, sql_text
from .values import iso_from_us


class Record(tuple):
    """One detected row: a tuple read by name (the table's column names and the statement's _-prefixed ones).

    A tuple, not a dict: 100,000 rows of one key took 110 MB as dicts of 27 entries, 25 MB as tuples.
    ``_committed_us`` is looked up by the row's ``_xmin`` in the class's ``committed`` map (read once for all
    rows, instead of a copy of every row).
    """

    __slots__ = ()
    fields: dict[str, int] = {}   # the statement's own labels (_near, _ts_us, ...) first, then table columns
    columns: dict[str, int] = {}  # the table's columns only: a table may have a column named _near or c0
    committed: dict[str, int] = {}

    def col(self, name: str) -> Any:
        """The value of the table's column ``name`` (never one of the statement's own labels)."""
        return tuple.__getitem__(self, self.columns[name])

    def __getitem__(self, name: str) -> Any:  # type: ignore[override]
        if name == "_committed_us":
            return self.committed.get(self.get("_xmin"))
        return tuple.__getitem__(self, self.fields[name])

    def get(self, name: str, default: Any = None) -> Any:
        if name == "_committed_us":
            return self.committed.get(self.get("_xmin"), default)
        i = self.fields.get(name)
        return default if i is None else tuple.__getitem__(self, i)


MEMBER_IDS_LIMIT = 200_000  # row ids of duplicated keys handed to the coverage statement (about 13 bytes each)
FAR_LIST_LIMIT = 1000  # far-duplicate keys listed; all are counted by the detection statement
FETCH_CHUNK = 10_000
COMMIT_TS_LIMIT = 200_000
XMIN_SAMPLE_ROWS = 100_000  # the xmin share is read from about this many rows (TABLESAMPLE SYSTEM)


@dataclass(frozen=True)
class TableStats:
    rows_scanned: int
    rows_null_key: int
    rows_null_ts: int
    first_ts: Any
    last_ts: Any
    rows_infinite_ts: int = 0  # 'infinity' / '-infinity' timestamps (PostgreSQL, DuckDB): left out like NULLs
    rows_epoch_ts: int = 0  # SQLite: numbers, read as epoch seconds
    rows_unreadable_ts: int = 0  # SQLite: text that is no time, counted in rows_null_ts too

    def notes(self) -> list[str]:
        """What the scan made of timestamps that are no ISO text (SQLite keeps any value in any column)."""
        from .words import count

        epoch, unreadable = self.rows_epoch_ts, self.rows_unreadable_ts
        return ([f"{count(epoch, 'timestamp')} {'is a number' if epoch == 1 else 'are numbers'}: read as epoch "
                 "seconds (UTC)"] if epoch else []) + \
            ([f"{count(unreadable, 'timestamp')} {'is' if unreadable == 1 else 'are'} text that is no time: left "
              "out and counted with the NULL timestamps (rows_null_ts)"] if unreadable else [])


@dataclass(frozen=True)
class FarDuplicate:
    key: dict[str, Any]
    rows: int
    first_ts: Any
    last_ts: Any
    max_gap_seconds: float


@dataclass(frozen=True)
class Members:
    """Every row of a key written more than once that the detection read, by row id (PostgreSQL: a ``tid[]``
    in text; DuckDB: a list; SQLite: a JSON array), and where its reading started (``from_us``, the --since
    bound; None: the whole table).

    The coverage statement (queries/writer_counts.sql.j2) reads these rows by id to tell which keys another
    writer also wrote, instead of sorting every row of its spans by key a second time; only for spans the
    detection covered."""

    ids: str
    from_us: int | None = None

    def covers(self, spans: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> bool:
        """Whether every span lies where the detection looked (a key's rows there are all among the ids)."""
        return self.from_us is None or all(lo >= self.from_us for lo, _ in spans)


@dataclass(frozen=True)
class Cells:
    """Rows per writer per fixed time cell (``cell_us`` long, from the epoch) over the rows with a key and a
    finite timestamp, counted by the statistics statement on its second connection while the detection sorts
    (queries/stats_cells.sql.j2).

    The coverage counts (attribution/written.py) add up whole cells and read only the parts of cells where a
    counting bucket or a span starts or ends, through the index on the timestamp, instead of reading every row
    of the spans a second time after the detection. ``columns``: the writer columns counted; ``counts``: writer
    values -> {cell start: rows}."""

    columns: tuple[str, ...]
    cell_us: int
    counts: dict[tuple, dict[int, int]]


@dataclass(frozen=True)
class Detection:
    """What the database returned for one table."""

    stats: TableStats
    rows: list[Record] | None  # one per member of a near cluster, in key-group, time, id order; None: no rows
    far_duplicates: tuple[FarDuplicate, ...]
    far_total: int
    sql: dict[str, str]
    rows_fetched: int  # every row any statement returned: memory follows this, not the table
    xmin_top_share: float | None = None
    commit_timestamps: str = "not available on this engine"
    members: Members | None = None  # the row ids of every duplicated key's rows (None: not listed)
    cells: Cells | None = None  # rows per writer per time cell (None: not counted)


ROW_ID_EXPR = {"postgresql": "ctid", "sqlite": "rowid", "duckdb": "rowid"}  # present in every row of a table
INTEGER_TYPES = ("SMALLINT", "INTEGER", "BIGINT")  # PostgreSQL's integers: passed by value


def _row_id(conn: Connection, info: TableInfo) -> str | None:
    """What the "rowid" plan keeps the first and last of per key and fetches the rows by: the engine's row id,
    or on PostgreSQL a primary key of one integer column (quoted).

    ctid is passed by reference: min(ctid) and max(ctid) copy a new value into the aggregate's memory at every
    group, about 5M times each for 5M rows, where an integer is compared in place (the key pass, 5M rows, one
    backend, 4 interleaved runs at load 6-11: 4.31 s of CPU with ctid, 3.51 s with the bigint primary key,
    3.09 s counting alone); the rows are then fetched through the key's unique index instead of a Tid Scan."""
    rid = None if info.view else ROW_ID_EXPR.get(conn.dialect.name)
    if rid == "ctid" and len(info.primary_key) == 1:
        column = next(c for c in info.columns if c.name == info.primary_key[0])
        if column.type.upper() in INTEGER_TYPES:
            return ident(conn.dialect, column.name)
    return rid


def _context(conn: Connection, info: TableInfo, spec: TableSpec, index: tuple[str, ...] | None = None,
             plan: str | None = None) -> dict[str, Any]:
    columns = list(info.column_names)
    rid = _row_id(conn, info)
    plan = plan or _default_plan(conn.dialect.name, index, rid)
    return {
        "table": read_from(conn.dialect, info),
        "where": info.where,
        "keys": list(spec.keys),
        "group_keys": list(index or spec.keys),  # the GROUP BY follows the index's column order
        "ts": spec.ts,
        "columns": columns,
        "row_id": [info.row_id] if info.row_id else [],
        "heap": info.heap,
        "plan": plan,
        "rid": rid,
        "key_aliases": [f"c{columns.index(k)}" for k in spec.keys],
        "order_aliases": [f"c{columns.index(c)}" for c in (info.id_columns or info.primary_key)] or ["r0"],
        "since": spec.since is not None,
        "window_us": ":window_us", "offset_us": ":offset_us", "since_bind": ":since",
        "far": False, "far_limit": FAR_LIST_LIMIT,
        "member_ids": False, "member_ids_limit": MEMBER_IDS_LIMIT,
        "materialize": conn.dialect.name == "postgresql" and (conn.dialect.server_version_info or (0,)) >= (12,),
        "c_keys": _bytewise_keys(conn, info, spec) if plan != "index" else [],
    }


def _bytewise_keys(conn: Connection, info: TableInfo, spec: TableSpec) -> list[str]:
    """The key columns the key pass groups by their bytes (COLLATE "C") on PostgreSQL: text under a deterministic
    collation (``TableInfo.bytewise_columns``, read with the table's shape: queries/table_shape_postgresql.sql.j2),
    where equal means byte for byte equal either way, so the groups are the same, and a sort by bytes skips the
    collation's comparisons (1M text keys under ICU "en-x-icu", the detection statement's CPU, medians of 5
    interleaved: 1.15 -> 0.91 s; the key pass alone 0.95 -> 0.68 s;
    benchmarks/plans/postgresql_1000000_text_key_collation.txt). The member rows, a few, are still ordered and
    compared under their own collation. Not with plan "index": the index gives the keys in its own order.

    Read once per table with its shape, not here: this ran a catalog statement at every rendering of the
    detection statements (up to three a table: the detection, the clock-change pairs, verify.sql)."""
    if conn.dialect.name != "postgresql":
        return []
    return [k for k in spec.keys if k in info.bytewise_columns]


def _default_plan(dialect: str, index: tuple[str, ...] | None, rid: str | None) -> str:
    """The engine's best plan. DuckDB groups the key alone and fetches the duplicated keys' rows by key (a hash
    semi-join over a columnar scan): the first and last row id per key of the "rowid" plan made its aggregate
    the costlier part (5M rows: 1.26 s of CPU against 1.63 s, medians of 7 interleaved, DuckDB's own GROUP BY
    0.98 s; the same rows and member ids)."""
    if index and dialect == "postgresql":
        return "index"
    return "rowid" if rid and dialect != "duckdb" else "key"


def read_from(dialect: sa.Dialect, info: TableInfo) -> str:
    """The table as a FROM clause names it: with ONLY for a PostgreSQL table others INHERIT from (their rows are
    not its own; a partitioned table's partitions are, and keep being read)."""
    return ("ONLY " if info.inherited_by else "") + quote_table(dialect, info.name, info.sql_schema)


statement = sql_text  # the detection statements' name for it


INDEXED_ENGINES = ("postgresql", "sqlite", "mysql", "mariadb")  # where an index on the key serves the scan


def key_index(conn: Connection, info: TableInfo, spec: TableSpec) -> tuple[str, ...] | None:
    """The key columns in the order of an index that starts with exactly them (any order), or None.

    Such an index lets the scan read the keys in order instead of sorting the table (the "index" plan on
    PostgreSQL; SQLite's and MySQL's planners use it for the GROUP BY by themselves). Partial and expression
    indexes do not count. DuckDB's indexes do not serve aggregation: None there.
    """
    if conn.dialect.name not in INDEXED_ENGINES:
        return None
    keys = set(spec.keys)
    best: tuple[int, tuple[str, ...]] | None = None
    # a partial index on the scan's own --where (the one discover advises then) serves the scan as well
    on_where = [c for c, w in info.partial_indexes if info.where and same_predicate(w, info.where)]
    for index in [*info.plain_indexes, *on_where]:  # read once by connect.introspect
        names = list(index)
        if set(names[:len(keys)]) != keys:
            continue
        rank = 0 if names[len(keys):len(keys) + 1] == [spec.ts] else 1  # (key, ts) also orders each key's rows
        if best is None or rank < best[0]:
            best = (rank, tuple(names[:len(keys)]))
    return best[1] if best else None


# a cast as PostgreSQL's catalog writes it into a predicate: '2026-01-01'::timestamp without time zone
_CAST = re.compile(r"::\s*(?:(?:timestamp|time)\s+with(?:out)?\s+time\s+zone|character\s+varying|double\s+precision"
                   r"|\"?[a-z_][a-z0-9_]*\"?)(?:\(\d+(?:,\d+)?\))?(?:\[\])?")


def same_predicate(a: str, b: str) -> bool:
    """Whether two predicates read the same once the catalog's spelling is undone: PostgreSQL stores
    ``deleted_at IS NULL`` as ``(deleted_at IS NULL)`` and ``status <> 'void'`` as ``(status <> 'void'::text)``;
    case, blanks, parentheses and casts outside string literals are not compared.

    >>> same_predicate("(status <> 'void'::text)", "STATUS <> 'void'"), same_predicate("a IS NULL", "b IS NULL")
    (True, False)
    >>> same_predicate("(x = 'A B'::character varying)", "x = 'a b'")
    False
    >>> same_predicate("(t > '2026-01-01 00:00:00'::timestamp without time zone)", "t > '2026-01-01 00:00:00'")
    True
    """
    def bare(text: str) -> str:
        parts = re.split(r"('(?:[^']|'')*')", text)  # odd parts: string literals, kept as written
        outside = [re.sub(_CAST, "", p.lower()) if i % 2 == 0 else p for i, p in enumerate(parts)]
        return "".join(re.sub(r"[\s()]", "", p) if i % 2 == 0 else p for i, p in enumerate(outside))

    return bare(a) == bare(b)


def recommended_index_sql(dialect: sa.Dialect, info: TableInfo, spec: TableSpec) -> str:
    """The CREATE INDEX statement on (key..., ts) that lets a scan read keys in order instead of sorting.

    >>> from sqlalchemy.dialects import postgresql
    >>> from dupfinder.connect import TableInfo
    >>> from dupfinder.config import table_spec
    >>> info = TableInfo("orders", None, "postgresql", (), ("id",), None, (), None)
    >>> recommended_index_sql(postgresql.dialect(), info, table_spec(table="orders", keys=["account", "day"], ts="ts"))
    'CREATE INDEX CONCURRENTLY orders_account_day_ts_idx ON orders (account, day, ts)'
    """
    quote = dialect.identifier_preparer.quote
    columns = [*spec.keys, spec.ts]
    name = index_name([info.name, *columns])
    # under --where the scan reads only those rows: an index on them alone (as migration.sql's unique one is)
    # (not where the engine refuses the predicate in an index: connect.where_index_caveat says so)
    partial = (f" WHERE {info.where}" if info.where and dialect.name in ("postgresql", "sqlite")
               and not (info.where_index and info.where_index.refused) else "")
    return (f"CREATE INDEX {concurrently(info)}{quote(name)} ON {quote_table(dialect, info.name, info.sql_schema)} "
            f"({', '.join(quote(c) for c in columns)}){partial}")


def index_name(parts: list[str], limit: int = 63) -> str:
    """A readable index name that ends in ``_idx`` and fits ``limit`` bytes (PostgreSQL's 63) when long: the
    stem is cut, not the suffix (a long name ended in ``..._created_at_id``).

    >>> index_name(["orders", "ts"]), len(index_name(["x" * 70, "created_at"])), index_name(["é" * 40])[-6:]
    ('orders_ts_idx', 63, 'éé_idx')
    """
    stem = "_".join(parts).encode()[:limit - len("_idx")].decode(errors="ignore")
    return f"{stem}_idx"


def ts_bind(info: TableInfo, aware: bool | None, moment: datetime) -> Any:
    """A UTC instant in the form the timestamp column compares with: text on SQLite, naive when naive."""
    moment = moment.astimezone(UTC)
    if info.dialect == "sqlite":
        return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")  # year 1 as 0001
    if info.dialect == "chdb" and aware:
        # ClickHouse converts a bound of a sort-key column strictly and refuses '... +00:00' (and 'Z') text;
        # epoch seconds are an instant it reads whatever the column's zone
        us = _epoch_us(moment)
        return f"{'-' if us < 0 else ''}{abs(us) // 1_000_000}.{abs(us) % 1_000_000:06d}"
    return moment if aware else moment.replace(tzinfo=None)


EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # a bound moved back or read in a zone west of UTC stays in year 1


def since_bind(info: TableInfo, spec: TableSpec, aware: bool | None) -> Any:
    """The --since bound, moved back by one window so a pair straddling it is still caught (never before year 1:
    `--since 0001-01-01` stopped the scan with an OverflowError)."""
    return None if spec.since is None else ts_bind(info, aware, since_start(spec))


def since_start(spec: TableSpec) -> datetime:
    """Where a --since scan starts reading: the bound less one window, never before year 1."""
    bound = max(EARLIEST, spec.since)
    return bound - min(timedelta(seconds=spec.window), bound - EARLIEST)


def column_since(spec: TableSpec, aware: bool | None) -> tuple[TableSpec, str | None]:
    """The --since bound as the timestamp column reads it, and a note saying which bound was used.

    A column without a time zone may hold UTC or local wall time (the --timezone zone, else this machine's): a
    bound read one way excludes rows written in the last hours read the other way (a stranger's New York wall
    times 20 minutes old were left out of --since 2h). The scan starts at the earlier of the two readings (a
    wall time read as UTC), so it never excludes a row either reading includes.
    """
    if spec.since is None or aware:
        return spec, None
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(spec.timezone) if spec.timezone else datetime.now().astimezone().tzinfo
    utc = max(EARLIEST, spec.since)
    local = utc.astimezone(zone).replace(tzinfo=UTC)
    earlier = min(utc, local)
    name = spec.timezone or f"this machine's zone ({datetime.now().astimezone().tzname()})"
    note = (f"--since on a column without time zone: its values may be UTC or {name} wall time, so the scan "
            f"starts at the earlier reading, {earlier:%Y-%m-%d %H:%M:%S} wall time"
            + (" (the bound in UTC)" if earlier == utc else f" (the bound in {name})"))
    return replace(spec, since=earlier), note


BEHIND_HOURS = 14  # the furthest a local wall time lies behind UTC (UTC-12) plus two hours of a check's window


def rows_behind_since(conn: Connection, info: TableInfo, spec: TableSpec) -> str | None:
    """The warning for a --since scan of a column without time zone that read no row: when the newest row lies
    0-14 hours before the bound, the column likely holds local wall time behind a bound read as UTC (a CI machine
    in UTC, no --timezone), and the check passed while reading nothing."""
    from .values import naive_moment

    sql = render_sql("latest_ts.sql.j2", conn.dialect, table=quote_table(conn.dialect, info.name, info.schema),
                     ts=spec.ts, where=info.where)
    latest = naive_moment(conn.execute(sql_text(sql)).scalar())
    bound = spec.since.astimezone(UTC).replace(tzinfo=None)
    if latest is None or not timedelta(0) < bound - latest <= timedelta(hours=BEHIND_HOURS):
        return None
    from .durations import format_seconds

    return (f"no row was written since the bound ({bound:%Y-%m-%d %H:%M:%S} wall time), and the newest row is "
            f"{format_seconds((bound - latest).total_seconds())} before it ({latest:%Y-%m-%d %H:%M:%S}): if the "
            "column holds local wall time, scan with "
            "--timezone ZONE (the writer's zone; `timezone` in the TOML), or this check reads nothing and passes")


def detect_sql(conn: Connection, info: TableInfo, spec: TableSpec, index: tuple[str, ...] | None = None,
               plan: str | None = None) -> dict[str, str]:
    """Return the statements a scan of one table runs, rendered for this connection's dialect.

    ``index``: the key columns in the order of an index on them (see ``key_index``), which PostgreSQL reads
    instead of sorting the table. ``plan`` forces one of "rowid", "index" (PostgreSQL, DuckDB) or "key"
    (every engine); by default the engine's best.
    """
    ctx = _context(conn, info, spec, index, plan)
    member_ids = info.heap or (bool(ctx["rid"]) and (conn.dialect.name == "duckdb" or (
        conn.dialect.name == "sqlite" and ctx["plan"] == "rowid")))
    return {
        "table_stats": render_sql("table_stats.sql.j2", conn.dialect, **ctx),
        "detect_clusters": render_sql("detect_clusters.sql.j2", conn.dialect,
                                      **{**ctx, "far": True, "member_ids": member_ids}),
    }


def detect(conn: Connection, info: TableInfo, spec: TableSpec, aware: bool | None,
           index: tuple[str, ...] | None = None, writer_columns: tuple[str, ...] | None = None) -> Detection:
    """Run the detection statements for one table inside the caller's read-only transaction.

    ``writer_columns``: the statistics count rows per writer per time cell where that is cheap (see Cells and
    ``cells_sql``; None: never)."""
    sql = detect_sql(conn, info, spec, index)
    params: dict[str, Any] = {"window_us": int(round(spec.window * 1_000_000)), "offset_us": 0}
    if spec.since is not None:
        params["since"] = since_bind(info, spec, aware)

    # a separate statement: folding these counts into the detection pass (GROUPING SETS with a grand total)
    # measured slower on PostgreSQL than this second, narrow sequential scan (benchmarks/plans/); on a big
    # PostgreSQL table it runs on a second connection, in the same snapshot, while the detection sorts, except
    # under --since, where it reads the window through the timestamp index (a few ms) and a second connection
    # (a backend started, a snapshot exported, nine settings copied) cost more than it could save
    # the cells with a (key, ts) index too: the detection then walks the index (peers' 5M rows: 1.26 s of backend
    # CPU) and the cells statement, the statistics counted with them, takes about as long (1.22 s; the
    # statistics alone 0.56 s), so a clean table waits little for them, and a table with clusters is spared
    # the coverage's second read of its spans after the detection (1.82 s of a 5.03 s in-process scan)
    # the planner's row estimate, read once: the statistics beside the detection and the xmin share both ask
    # it on a PostgreSQL table with clusters (one catalog statement each, the same answer)
    estimate = functools.cache(lambda: _row_estimate(conn, info))
    alongside = None if spec.since is not None else _stats_alongside(
        conn, info, sql["table_stats"], params, lambda: cells_sql(conn, info, spec, writer_columns), estimate)
    with _sorted_aggregation(conn):
        # streamed per statement: Connection.execution_options() would switch every later statement (the
        # savepoint included) to a server-side cursor
        result = conn.execute(statement(sql["detect_clusters"]), params,
                              execution_options={"stream_results": True, "yield_per": FETCH_CHUNK})
        returned = _records(result, info)
    beside = alongside() if alongside else {}
    stats_row = beside.get("row")
    if stats_row is None:
        stats_row = conn.execute(statement(sql["table_stats"]), params).mappings().one()
    stats = TableStats(
        rows_scanned=int(stats_row["rows_scanned"] or 0),
        rows_null_key=int(stats_row["rows_null_key"] or 0),
        rows_null_ts=int(stats_row["rows_null_ts"] or 0),
        first_ts=stats_row["first_ts"],
        last_ts=stats_row["last_ts"],
        rows_infinite_ts=int(stats_row.get("rows_infinite_ts") or 0),
        rows_epoch_ts=int(stats_row.get("rows_epoch_ts") or 0),
        rows_unreadable_ts=int(stats_row.get("rows_unreadable_ts") or 0),
    )
    commits = ("not read (no clusters)" if info.heap else "not available for a view (no xmin)" if info.view
               else Detection.commit_timestamps)
    if not returned:  # nothing duplicated: the common post-deploy answer
        return Detection(stats=stats, rows=None, far_duplicates=(), far_total=0, sql=sql, rows_fetched=1,
                         commit_timestamps=commits)
    cells = beside.get("cells")
    fetched = 1 + len(returned)
    far_total = int(returned[0]["_far_total"] or 0)
    ids = next((i for i in (row.get("_member_ids") for row in returned) if i is not None), None)
    members = None
    if ids is not None:
        since_us = None if spec.since is None else int(since_start(spec).timestamp() * 1_000_000)
        members = Members(ids, since_us)
    far = tuple(sorted((
        FarDuplicate(
            key={k: row.col(k) for k in spec.keys},
            rows=int(row["_key_rows"]),
            first_ts=row.col(spec.ts),
            last_ts=iso_from_us(int(row["_key_last_us"]), aware),
            max_gap_seconds=float(row["_key_max_gap_us"]) / 1e6,
        )
        for row in returned if row["_far_first"] == 1
    ), key=lambda f: str(f.first_ts)))
    rows = [row for row in returned if row["_near"] == 1]
    del returned
    xmin_share = None
    if info.heap and rows:
        xmin_share = _xmin_top_share(conn, info, stats.rows_scanned, estimate)
        commits = _with_commit_timestamps(conn, rows)
        fetched += 2 + len({r["_xmin"] for r in rows})  # xmin share, the setting, one commit time per xid
    return Detection(stats=stats, rows=rows or None, far_duplicates=far, far_total=far_total, sql=sql,
                     rows_fetched=fetched, xmin_top_share=xmin_share, commit_timestamps=commits, members=members,
                     cells=cells)


ALONGSIDE_ROWS = 1_000_000  # below this (the planner's estimate) a second connection costs more than it saves
# what the scan's transaction set (connect.read_only): the second connection reads values the same way
_COPIED_SETTINGS = ("statement_timeout", "work_mem", "jit", "TimeZone", "DateStyle", "IntervalStyle",
                    "extra_float_digits", "bytea_output", "lc_monetary")
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9A-F]+)?")


CELLS = (32_768, 16_384, 8_192)  # time cells over the table, the most first: the parts of cells a bucket
# bound cuts are read by index (32,768 cells, 4,000 buckets, 5M rows: 153,000 rows), and fewer than twice the
# buckets would leave most rows to those reads
CELL_GROUPS = 40_960  # writers x cells: about 160 bytes a group in the hash table, within the default hash_mem
# (4 MB work_mem x 2): 35,319 groups took 5.6 MB in one batch (5M rows, 2 writers and 50 rows of a third)
CELL_ROWS = 4 * CELL_GROUPS  # the cells statement's output is cut here (statistics older than the rows)


@dataclass(frozen=True)
class CellStatements:
    """What the statistics count cells with (cells_sql): the writer columns, the statement reading the time
    range, the one counting, and how many cells make few enough groups."""

    columns: tuple[str, ...]
    range_sql: str
    counts_sql: str
    cells: int


def cells_sql(conn: Connection, info: TableInfo, spec: TableSpec,
              writer_columns: tuple[str, ...] | None) -> CellStatements | None:
    """The statements of queries/stats_cells.sql.j2 (the time range, the statistics per writer per cell), where
    the coverage can use the cells: PostgreSQL 14+ (date_bin), a table of its own (no ONLY: the coverage reads
    the children of a table others inherit from), an index that starts with the timestamp (the parts of cells
    a bucket or span cuts are read through it), and writers whose rows per cell the planner's statistics put
    at CELL_GROUPS groups or fewer (``cell_count``; a column never analyzed: unknown, no cells). None
    elsewhere."""
    if (writer_columns is None or not info.heap or info.inherited_by
            or (conn.dialect.server_version_info or (0,)) < (14,) or spec.ts not in info.index_leading_columns):
        return None
    found = conn.execute(statement(render_sql("writer_distinct.sql.j2", conn.dialect)), {
        "name": info.name, "schema": info.schema, "columns": list(writer_columns)}).all() if writer_columns else []
    if {name for name, *_ in found} != set(writer_columns):
        return None
    cells = cell_count([(n, nulls, freqs) for _, n, nulls, _, freqs in found],
                       max([rows for *_, rows, _ in found], default=0))
    if cells is None:
        return None
    ctx = {"table": read_from(conn.dialect, info), "keys": list(spec.keys), "ts": spec.ts,
           "groups": list(writer_columns), "where": info.where}
    return CellStatements(tuple(writer_columns), render_sql("stats_cells.sql.j2", conn.dialect, **ctx, range=True),
                          render_sql("stats_cells.sql.j2", conn.dialect, **ctx, range=False), cells)


def cell_count(columns: list[tuple[float, float, list[float]]], rows: float) -> int | None:
    """The most of CELLS whose writer x cell groups stay within CELL_GROUPS by the planner's statistics of the
    writer columns (pg_stats n_distinct, negative a share of ``rows``; the share of NULLs; the shares of the
    most common values), or None. One column: a value (NULL too) holds at most its rows' cells; several: every
    combination, NULL among them, in every cell. Never more groups than rows, and the rows no writer column
    names (a NULL key, no time) are a few more.

    >>> cell_count([(3, 0.0, [0.9989, 0.0005])], 5_000_000)  # the peers' table: 2 hosts and 50 rows of a third
    32768
    >>> cell_count([(-1.0, 0.0, [])], 20_000), cell_count([(-1.0, 0.0, [])], 200_000)  # a value per row
    (32768, None)
    >>> print(cell_count([(4, 0.0, []), (3, 0.1, [])], 1e7))  # 4 x 4 combinations
    None
    """
    def groups(cells: int) -> float:
        if len(columns) == 1:
            n, nulls, freqs = columns[0]
            distinct = n if n >= 0 else -n * rows
            rest = max(0.0, distinct - len(freqs))
            spread = rows * max(0.0, 1 - nulls - sum(freqs)) / rest if rest else 0
            found = sum(min(cells, f * rows) for f in (*freqs, nulls)) + rest * min(cells, max(1.0, spread))
        else:
            found = math.prod(max(1.0, n if n >= 0 else -n * rows) + (nulls > 0) for n, nulls, _ in columns) * cells
        return min(found, rows) + 8

    return next((cells for cells in CELLS if groups(cells) <= CELL_GROUPS), None)


def _row_estimate(conn: Connection, info: TableInfo) -> int | None:
    """PostgreSQL: the planner's estimate of the table's rows (reltuples; None when never analyzed)."""
    found = conn.execute(statement(render_sql("row_estimate.sql.j2", conn.dialect)),
                         {"name": info.name, "schema": info.schema}).scalar()
    return None if found is None else int(found)


def _stats_alongside(conn: Connection, info: TableInfo, sql: str, params: dict[str, Any],
                     cells_for: Callable[[], CellStatements | None] = lambda: None,
                     estimate: Callable[[], int | None] | None = None,
                     ) -> Callable[[], dict[str, Any]] | None:
    """Start the statistics statement on a second connection in this transaction's snapshot (PostgreSQL,
    a table of ALONGSIDE_ROWS or more), so it scans while the detection sorts; where ``cells_for()`` gives the
    statements (cells_sql), the statistics are counted per writer per time cell in the same scan (``_cells``).
    Returns a function that waits and returns {"row": the statistics row, "cells": Cells}, either missing where
    it failed (the caller runs the statistics itself), or None when not started.

    The detection statement runs in one backend (no parallel workers) and so does the statistics statement
    here (one sequential scan, about 0.4-0.5 s at 5M rows, shorter than the detection's sort): on 2 cores the
    two overlap. The second transaction imports the exported snapshot (SET TRANSACTION SNAPSHOT), so both read
    the same rows.
    """
    if conn.dialect.name != "postgresql" or (conn.dialect.server_version_info or (0,)) < (12,):
        return None
    rows = (estimate or (lambda: _row_estimate(conn, info)))()
    if not rows or rows < ALONGSIDE_ROWS:
        return None
    cells = cells_for()
    row = conn.exec_driver_sql("SELECT pg_export_snapshot(), " + ", ".join(
        f"current_setting('{name}')" for name in _COPIED_SETTINGS)).one()
    if not _SNAPSHOT_ID.fullmatch(row[0] or ""):
        return None
    found: dict[str, Any] = {}

    def run() -> None:
        try:
            with conn.engine.connect() as other:
                other.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                other.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{row[0]}'")
                # one backend beside the detection's one: on 2 cores its parallel workers would take the
                # detection's core; the cells grouped by hashing (the planner, blind to how many cells the
                # CASE makes, costs 5M groups and may sort them: an external merge of every row)
                for name, value in (*zip(_COPIED_SETTINGS, row[1:], strict=True),
                                    ("max_parallel_workers_per_gather", "0"), ("enable_sort", "off")):
                    other.execute(sa.text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
                if cells is not None:
                    found.update(_cells(other, cells, params))
                if "row" not in found:
                    found["row"] = dict(other.execute(statement(sql), params).mappings().one())
                other.rollback()
        except Exception:  # noqa: BLE001 -- a pooler, a connection limit: the scan's own connection runs it
            found.clear()

    worker = threading.Thread(target=run, name="dupfinder-table-stats", daemon=True)
    worker.start()

    def wait() -> dict[str, Any]:
        worker.join()
        return found

    return wait


def _cells(conn: Connection, cells: CellStatements, params: dict[str, Any]) -> dict[str, Any]:
    """The statistics row and the Cells from the statements of ``cells_sql``, the time range cut into about
    ``cells.cells`` cells. Empty when the table has no finite timestamp or the cells are too many (``count_cells``):
    the caller counts the statistics alone."""
    first, last = conn.execute(statement(cells.range_sql)).one()
    if first is None:
        return {}
    found = count_cells(conn, cells, (_epoch_us(last) - _epoch_us(first)) // cells.cells + 1, params)
    if found is None:
        return {}
    totals, counted = found
    return {"row": {**totals, "first_ts": first, "last_ts": last}, "cells": counted}


def count_cells(conn: Connection, cells: CellStatements, cell_us: int,
                params: dict[str, Any]) -> tuple[dict[str, int], Cells] | None:
    """Run the cells statement of ``cells_sql`` with cells ``cell_us`` long: the counts of table_stats.sql.j2
    (every group added up) and the Cells. None when the output reached CELL_ROWS (writers many more than
    pg_stats said)."""
    groups = conn.execute(statement(cells.counts_sql), {**params, "cell_us": cell_us, "max_rows": CELL_ROWS}).all()
    if len(groups) >= CELL_ROWS:
        return None
    totals = dict.fromkeys(("rows_scanned", "rows_null_key", "rows_null_ts", "rows_infinite_ts"), 0)
    counts: dict[tuple, dict[int, int]] = {}
    for *who, cell, kind, rows in groups:
        totals["rows_scanned"] += rows
        if cell is not None:
            counts.setdefault(tuple(who), {})[int(cell)] = int(rows)
        for bit, name in ((1, "rows_null_key"), (2, "rows_null_ts"), (4, "rows_infinite_ts")):
            if kind & bit:
                totals[name] += rows
    return totals, Cells(cells.columns, cell_us, counts)


def _epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch of a timestamp as read (one without a zone read as UTC, as epoch_us does)."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@contextmanager
def _sorted_aggregation(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, group the keys by one sort in this backend, rather than hashing, for one statement.

    Measured at 5M rows with the default work_mem (benchmarks/plans/): the hash aggregate over every key
    spills and re-reads its partitions (1.00, the bare GROUP BY) where a sort of the narrow (key, row id)
    tuples and a streaming group aggregate take 0.55-0.6 of it. A parallel plan (Gather Merge over two
    workers' sorts) funnels every row back through the leader, because nearly every key is distinct and a
    partial aggregate removes nothing: on 2 cores it measured level with one sort when idle (1.26-1.37 s
    against 1.4-1.6 s) and slower under load (3.3-3.7 s against 1.8-3.1 s at a load average of 3), so
    parallel workers are off for this statement. The settings are put back afterwards.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    settings = ("enable_hashagg", "max_parallel_workers_per_gather")
    previous = conn.exec_driver_sql(
        "SELECT current_setting('enable_hashagg'), current_setting('max_parallel_workers_per_gather')").one()
    conn.exec_driver_sql("SELECT set_config('enable_hashagg', 'off', true), "
                         "set_config('max_parallel_workers_per_gather', '0', true)")
    yield  # (after a failure the transaction is over anyway: nothing to put back)
    for name, value in zip(settings, previous, strict=True):
        conn.execute(sa.text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})


def _with_commit_timestamps(conn: Connection, rows: list[Record]) -> str:
    """Set ``_committed_us`` on each row, when its inserting transaction committed, where PostgreSQL kept it.

    Needs ``track_commit_timestamp = on`` (on a hot standby, the primary's: the standby keeps what the primary
    logs whatever its own setting says, so there the reading is tried and an error says it is off); never
    required. Returns what happened, in words.
    """
    setting, standby = conn.execute(
        sa.text("SELECT current_setting('track_commit_timestamp'), pg_is_in_recovery()")).one()
    if setting != "on" and not standby:
        return "off (track_commit_timestamp = off on the server)"
    xids = sorted({r["_xmin"] for r in rows if r["_xmin"] is not None})[:COMMIT_TS_LIMIT]
    sql = render_sql("commit_timestamps.sql.j2", conn.dialect)
    committed: dict[str, int] = {}
    try:
        with conn.begin_nested():  # a role without EXECUTE on the function must not end the scan
            for start in range(0, len(xids), FETCH_CHUNK):
                for xid, moment in conn.execute(sa.text(sql), {"xids": xids[start:start + FETCH_CHUNK]}):
                    if moment is not None:
                        committed[xid] = int(moment.timestamp() * 1_000_000)
    except sa.exc.DBAPIError as err:
        reason = str(err.orig).splitlines()[0] if err.orig else str(err)
        return f"not readable: {reason}"
    type(rows[0]).committed = committed
    if not committed:
        return "on, but none of these transactions has a commit timestamp (older than the setting)"
    share = sum(1 for x in xids if x in committed) / len(xids)
    return "usable" if share == 1 else f"usable for {share:.0%} of the transactions"


def _xmin_top_share(conn: Connection, info: TableInfo, rows: int,
                    estimate: Callable[[], int | None] | None = None) -> float | None:
    """The largest share of the table's rows one transaction id inserted, from a sample of a big table.

    ``rows``: the rows the scan read; a --since scan reads a few, so the table's size is the planner's
    estimate when that is larger (a full GROUP BY xmin over a big table cost 0.42 s of a 0.62 s --since scan).
    ``estimate``: that estimate, when the scan read it already.
    """
    table = quote_table(conn.dialect, info.name, info.schema)
    if rows <= XMIN_SAMPLE_ROWS and (conn.dialect.server_version_info or (0,)) >= (12,):
        rows = max(rows, (estimate or (lambda: _row_estimate(conn, info)))() or 0)
    sample = max(1, min(100, round(100 * XMIN_SAMPLE_ROWS / rows))) if rows > XMIN_SAMPLE_ROWS else 0
    sql = render_sql("xmin_share.sql.j2", conn.dialect, table=table, sample_percent=sample, where=info.where)
    row = conn.execute(statement(sql)).mappings().first()
    return float(row["n"]) / float(row["total"]) if row and row["total"] else None


def detect_hour_apart(conn: Connection, info: TableInfo, spec: TableSpec, aware: bool | None,
                      index: tuple[str, ...] | None = None) -> list[Record] | None:
    """Rows of a key written again one hour (± window) later: what a local-time schedule does on the
    night clocks go back, seen in a column that stores instants."""
    sql = render_sql("detect_clusters.sql.j2", conn.dialect, **_context(conn, info, spec, index))
    params: dict[str, Any] = {"window_us": int(round(spec.window * 1_000_000)), "offset_us": 3_600_000_000}
    if spec.since is not None:
        params["since"] = since_bind(info, spec, aware)
    with _sorted_aggregation(conn):
        return _records(conn.execute(statement(sql), params), info) or None


def _records(result: sa.CursorResult, info: TableInfo) -> list[Record]:
    """The rows of a detection result, read by the table's own column names (``c0``... and ``r0`` renamed)
    and the statement's, in chunks. Plain Python: the few duplicate rows need no DataFrame, and a scan
    loads no pandas."""
    names = {f"c{i}": name for i, name in enumerate(info.column_names)}
    if info.row_id:
        names["r0"] = info.row_id
    labels = list(result.keys())
    columns = {names[label]: i for i, label in enumerate(labels) if label in names}
    own = {label: i for i, label in enumerate(labels) if label not in names}
    row_type = type("Record", (Record,), {"__slots__": (), "fields": {**columns, **own}, "columns": columns,
                                          "committed": {}})
    return [row_type(row) for part in result.partitions(FETCH_CHUNK) for row in part]


def verify_sql(conn: Connection, info: TableInfo, spec: TableSpec) -> str:
    """A standalone query returning the near-duplicate rows written since the bound parameter ``:since``, each
    with its table's name (``_table``).

    The window is written into the text, so only ``:since`` is left to bind: paste it into a monitoring
    system or a dbt singular test (which fails when it returns rows).
    """
    ctx = {**_context(conn, info, spec), "since": True,
           "window_us": str(int(round(spec.window * 1_000_000))), "offset_us": "0"}
    inner = render_sql("detect_clusters.sql.j2", conn.dialect, **ctx).strip()
    quote = conn.dialect.identifier_preparer.quote
    named = ",\n    ".join(f"{quote(f'c{i}')} AS {quote(name)}" for i, name in enumerate(info.column_names))
    # the table's name on each row, last (the columns before keep their places): with several tables a row
    # returned said nothing of which table it came from
    table = f"{literal(conn.dialect, info.qualified_name)} AS {quote('_table')}"
    return f"SELECT\n    {named},\n    _ts_us,\n    _cluster_no,\n    {table}\nFROM (\n{inner}\n) AS near_duplicates"
