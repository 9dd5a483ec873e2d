"""Detect near-duplicate clusters by SQL pushdown: only the rows of clusters leave the database."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .config import TableSpec
from .connect import TableInfo
from .sqltemplates import quote_table, render_sql
from .values import iso_from_us

if TYPE_CHECKING:
    import pandas as pd

FAR_LIST_LIMIT = 1000
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


@dataclass(frozen=True)
class FarDuplicate:
    key: dict[str, Any]
    rows: int
    first_ts: Any
    last_ts: Any
    max_gap_seconds: float


@dataclass(frozen=True)
class Detection:
    """What the database returned for one table."""

    stats: TableStats
    rows: pd.DataFrame | None  # one row per member of a near cluster, named as in the table; None: no rows
    far_duplicates: tuple[FarDuplicate, ...]
    far_total: int
    sql: dict[str, str]
    rows_fetched: int  # every row any statement returned: memory follows this, not the table
    xmin_top_share: float | None = None
    commit_timestamps: str = "not available on this engine"


def _context(conn: Connection, info: TableInfo, spec: TableSpec) -> dict[str, Any]:
    columns = list(info.column_names)
    return {
        "table": quote_table(conn.dialect, info.name, info.schema),
        "keys": list(spec.keys),
        "ts": spec.ts,
        "columns": columns,
        "row_id": [info.row_id] if info.row_id and not (info.id_columns or info.primary_key) else [],
        "key_aliases": [f"c{columns.index(k)}" for k in spec.keys],
        "order_aliases": [f"c{columns.index(c)}" for c in (info.id_columns or info.primary_key)] or ["r0"],
        "since": spec.since is not None,
        "window_us": ":window_us", "offset_us": ":offset_us", "since_bind": ":since",
        "far": False, "far_limit": FAR_LIST_LIMIT,
        "materialize": conn.dialect.name == "postgresql" and (conn.dialect.server_version_info or (0,)) >= (12,),
    }


def ts_bind(info: TableInfo, aware: bool | None, moment: datetime) -> Any:
    """A UTC instant in the form the timestamp column compares with: text on SQLite, naive when naive."""
    moment = moment.astimezone(UTC)
    if info.dialect == "sqlite":
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment if aware else moment.replace(tzinfo=None)


def since_bind(info: TableInfo, spec: TableSpec, aware: bool | None) -> Any:
    """The --since bound, moved back by one window so a pair straddling it is still caught."""
    if spec.since is None:
        return None
    return ts_bind(info, aware, spec.since - timedelta(seconds=spec.window))


def key_counter(conn: Connection, info: TableInfo, spec: TableSpec, aware: bool | None):
    """A function counting the distinct keys written between two instants (µs), for coverage."""
    sql = render_sql("count_keys.sql.j2", conn.dialect, **_context(conn, info, spec))
    margin = max(30.0, 10 * spec.window)

    def count(start_us: int, end_us: int) -> int | None:
        lo = datetime.fromtimestamp(start_us / 1e6, UTC) - timedelta(seconds=margin)
        hi = datetime.fromtimestamp(end_us / 1e6, UTC) + timedelta(seconds=margin)
        params = {"lo": ts_bind(info, aware, lo), "hi": ts_bind(info, aware, hi)}
        return int(conn.execute(sa.text(sql), params).scalar_one())

    count.margin_us = int(margin * 1e6)  # type: ignore[attr-defined]  (attribute reads it for sampling)
    return count


def detect_sql(conn: Connection, info: TableInfo, spec: TableSpec) -> dict[str, str]:
    """Return the three statements a scan of one table runs, rendered for this connection's dialect."""
    ctx = _context(conn, info, spec)
    far_ctx = {**ctx, "key_aliases": [f"k{i}" for i in range(len(spec.keys))]}
    return {
        "table_stats": render_sql("table_stats.sql.j2", conn.dialect, **ctx),
        "detect_clusters": render_sql("detect_clusters.sql.j2", conn.dialect, **{**ctx, "far": True}),
        "far_duplicates": render_sql("far_duplicates.sql.j2", conn.dialect, **far_ctx),
    }


def detect(conn: Connection, info: TableInfo, spec: TableSpec, aware: bool | None) -> Detection:
    """Run the detection statements for one table inside the caller's read-only transaction."""
    sql = detect_sql(conn, info, spec)
    params: dict[str, Any] = {"window_us": int(round(spec.window * 1_000_000)), "offset_us": 0}
    if spec.since is not None:
        params["since"] = since_bind(info, spec, aware)

    stats_row = conn.execute(sa.text(sql["table_stats"]), params).mappings().one()
    stats = TableStats(
        rows_scanned=int(stats_row["rows_scanned"] or 0),
        rows_null_key=int(stats_row["rows_null_key"] or 0),
        rows_null_ts=int(stats_row["rows_null_ts"] or 0),
        first_ts=stats_row["first_ts"],
        last_ts=stats_row["last_ts"],
    )

    # streamed per statement: Connection.execution_options() would switch every later statement (the
    # savepoint included) to a server-side cursor
    result = conn.execute(sa.text(sql["detect_clusters"]), params,
                          execution_options={"stream_results": True, "yield_per": FETCH_CHUNK})
    returned = _frame(result, info)
    commits = "not read (no clusters)" if info.dialect == "postgresql" else Detection.commit_timestamps
    if returned is None:  # nothing duplicated: the common post-deploy answer, without loading pandas
        return Detection(stats=stats, rows=None, far_duplicates=(), far_total=0, sql=sql, rows_fetched=1,
                         commit_timestamps=commits)
    far_rows = returned[returned["_far_first"] == 1]
    frame = returned[returned["_near"] == 1].reset_index(drop=True)
    far = tuple(sorted((
        FarDuplicate(
            key={k: row[k] for k in spec.keys},
            rows=int(row["_key_rows"]),
            first_ts=row[spec.ts],
            last_ts=iso_from_us(int(row["_key_last_us"]), aware),
            max_gap_seconds=float(row["_key_max_gap_us"]) / 1e6,
        )
        for row in far_rows.to_dict("records")
    ), key=lambda f: str(f.first_ts)))
    far_total = len(far)
    fetched = 1 + len(returned)
    if far_total >= FAR_LIST_LIMIT:  # the list was capped: count them all (rare; one more pass)
        far_total = int(conn.execute(sa.text(sql["far_duplicates"]), params).mappings().first()["_far_keys"])
        fetched += 1
    xmin_share = None
    if info.dialect == "postgresql" and len(frame):
        xmin_share = _xmin_top_share(conn, info, stats.rows_scanned)
        frame, commits = _with_commit_timestamps(conn, frame)
        fetched += 2 + frame["_xmin"].nunique()  # xmin share, the setting, one commit time per xid
    return Detection(stats=stats, rows=frame, far_duplicates=far, far_total=far_total, sql=sql,
                     rows_fetched=fetched, xmin_top_share=xmin_share, commit_timestamps=commits)


def _with_commit_timestamps(conn: Connection, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Add ``_committed_us``, when each row's inserting transaction committed, where PostgreSQL kept it.

    Needs ``track_commit_timestamp = on``; never required. Returns the frame and what happened, in words.
    """
    import pandas as pd

    setting = conn.execute(sa.text("SELECT current_setting('track_commit_timestamp')")).scalar_one()
    if setting != "on":
        return frame, "off (track_commit_timestamp = off on the server)"
    xids = sorted({x for x in frame["_xmin"] if x is not None})[:COMMIT_TS_LIMIT]
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
        return frame, f"not readable: {reason}"
    frame = frame.assign(_committed_us=pd.Series([committed.get(x) for x in frame["_xmin"]], index=frame.index,
                                                 dtype=object))
    if not committed:
        return frame, "on, but none of these transactions has a commit timestamp (older than the setting)"
    share = sum(1 for x in xids if x in committed) / len(xids)
    return frame, "usable" if share == 1 else f"usable for {share:.0%} of the transactions"


def _xmin_top_share(conn: Connection, info: TableInfo, rows: int) -> float | None:
    sample = max(1, min(100, round(100 * XMIN_SAMPLE_ROWS / rows))) if rows > XMIN_SAMPLE_ROWS else 0
    sql = render_sql("xmin_share.sql.j2", conn.dialect, table=quote_table(conn.dialect, info.name, info.schema),
                     sample_percent=sample)
    row = conn.execute(sa.text(sql)).mappings().first()
    return float(row["n"]) / float(row["total"]) if row and row["total"] else None


def detect_hour_apart(conn: Connection, info: TableInfo, spec: TableSpec,
                      aware: bool | None) -> pd.DataFrame | None:
    """Rows of a key written again one hour (± window) later: what a local-time schedule does on the
    night clocks go back, seen in a column that stores instants."""
    sql = render_sql("detect_clusters.sql.j2", conn.dialect, **_context(conn, info, spec))
    params: dict[str, Any] = {"window_us": int(round(spec.window * 1_000_000)), "offset_us": 3_600_000_000}
    if spec.since is not None:
        params["since"] = since_bind(info, spec, aware)
    return _frame(conn.execute(sa.text(sql), params), info)


def _frame(result: sa.CursorResult, info: TableInfo) -> pd.DataFrame | None:
    """Collect a detection result in chunks into one frame with the table's own column names; None when the
    statement returned nothing (pandas is imported only when there is something to hold)."""
    labels = list(result.keys())
    parts = iter(result.partitions(FETCH_CHUNK))
    first = next(parts, None)
    if not first:
        return None
    import pandas as pd

    chunks = [pd.DataFrame([tuple(r) for r in part], columns=labels, dtype=object)
              for part in itertools.chain([first], parts)]
    frame = pd.concat(chunks, ignore_index=True)
    frame = frame.rename(columns={f"c{i}": name for i, name in enumerate(info.column_names)})
    return frame.rename(columns={"r0": info.row_id}) if info.row_id and not info.id_columns else frame


def verify_sql(conn: Connection, info: TableInfo, spec: TableSpec) -> str:
    """A standalone query returning the near-duplicate rows written since the bound parameter ``:since``.

    The window is written into the text, so only ``:since`` is left to bind: paste it into a monitoring
    system or a dbt singular test (which fails when it returns rows).
    """
    ctx = {**_context(conn, info, spec), "since": True,
           "window_us": str(int(round(spec.window * 1_000_000))), "offset_us": "0"}
    inner = render_sql("detect_clusters.sql.j2", conn.dialect, **ctx).strip()
    quote = conn.dialect.identifier_preparer.quote
    named = ",\n    ".join(f"{quote(f'c{i}')} AS {quote(name)}" for i, name in enumerate(info.column_names))
    return f"SELECT\n    {named},\n    _ts_us,\n    _cluster_no\nFROM (\n{inner}\n) AS near_duplicates"
