"""Small helpers shared by tests: make a table on a real engine and run a scan on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec

T0 = datetime(2026, 11, 3, 2, 30, 0)


def at(seconds: float, aware: bool = False) -> datetime:
    moment = T0 + timedelta(seconds=seconds)
    return moment.replace(tzinfo=UTC) if aware else moment


def make_table(url: str, name: str, columns: list[sa.Column], rows: list[dict]) -> sa.Table:
    engine = sa.create_engine(url)
    md = sa.MetaData()
    table = sa.Table(name, md, *columns)
    with engine.begin() as conn:
        md.create_all(conn)
        if rows:
            conn.execute(table.insert(), rows)
    engine.dispose()
    return table


def run_statements(url: str, *statements: str) -> None:
    """Run SQL as written, in one transaction: a table declared the way an application declares it (SQLite
    times in TEXT, INTEGER or DATETIME columns holding what the writer put there), which make_table's types
    would convert."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def partitioned_by_month(url: str, table: str, columns: str, ts: str, *inserts: str) -> None:
    """A PostgreSQL table range-partitioned on ``ts`` into October and November 2026 (its primary key must
    hold ``ts``), then ``inserts`` run in one transaction."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} ({columns}) PARTITION BY RANGE ({ts})")
        for month in (10, 11):
            conn.exec_driver_sql(f"CREATE TABLE {table}_{month} PARTITION OF {table} "
                                 f"FOR VALUES FROM ('2026-{month}-01') TO ('2026-{month + 1}-01')")
        for statement in inserts:
            conn.exec_driver_sql(statement)
    engine.dispose()


def ts_type(aware: bool = False) -> sa.types.TypeEngine:
    """A timestamp column type keeping microseconds on every engine (MySQL/MariaDB need an explicit fsp)."""
    from sqlalchemy.dialects import mysql

    kind = sa.DateTime(timezone=aware).with_variant(
        mysql.TIMESTAMP(fsp=6) if aware else mysql.DATETIME(fsp=6), "mysql", "mariadb")
    try:
        from chdb_sqlalchemy.types import DateTime64
    except ImportError:
        return kind
    return kind.with_variant(DateTime64(6, timezone="UTC") if aware else DateTime64(6), "chdb")


def events_table(url: str, rows: list[tuple], name: str = "events", aware: bool = False) -> sa.Table:
    """A table (id, account, day, ts, host, note) from (id, account, seconds, host[, note]) tuples."""
    columns = [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account", sa.Integer),
        sa.Column("day", sa.String(10)),
        sa.Column("ts", ts_type(aware)),
        sa.Column("host", sa.String(20)),
        sa.Column("note", sa.String(40)),
    ]
    data = [
        {"id": r[0], "account": r[1], "day": "2026-11-02", "ts": None if r[2] is None else at(r[2], aware),
         "host": r[3] if len(r) > 3 else "a", "note": r[4] if len(r) > 4 else "same"}
        for r in rows
    ]
    return make_table(url, name, columns, data)


def spark_table(url: str, name: str, columns: dict[str, str], rows: list[dict], using: str = "parquet") -> None:
    """Create a table through the Spark Thrift server (SQLAlchemy's DDL would emit a PRIMARY KEY Spark
    rejects) and insert ``rows`` with one statement."""
    from dupfinder.connect import fix_quoting

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    quote = fix_quoting(engine.dialect).identifier_preparer.quote
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {quote(name)} ("
                             + ", ".join(f"{quote(c)} {t}" for c, t in columns.items()) + f") USING {using}")
        if rows:
            values = ", ".join("(" + ", ".join(_spark_value(r.get(c), t) for c, t in columns.items())
                               + ")" for r in rows)
            conn.exec_driver_sql(f"INSERT INTO {quote(name)} VALUES {values}")
    engine.dispose()


def _spark_value(value, kind: str) -> str:
    if value is None:
        return f"CAST(NULL AS {kind})"
    if isinstance(value, datetime):
        # an aware value is written as its UTC instant (the suite's Spark session runs in UTC)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"{kind} '{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def spark_events_table(url: str, rows: list[tuple], name: str = "events") -> None:
    """events_table on Spark: (id, account, day, ts, host, note), no primary key (Spark has none)."""
    columns = {"id": "INT", "account": "INT", "day": "STRING", "ts": "TIMESTAMP", "host": "STRING", "note": "STRING"}
    spark_table(url, name, columns, [
        {"id": r[0], "account": r[1], "day": "2026-11-02", "ts": None if r[2] is None else at(r[2]),
         "host": r[3] if len(r) > 3 else "a", "note": r[4] if len(r) > 4 else "same"} for r in rows])


def scan_one(url: str, **spec):
    spec.setdefault("table", "events")
    spec.setdefault("keys", ["account", "day"])
    spec.setdefault("ts", "ts")
    return api.scan(ScanOptions(url=url, tables=(table_spec(**spec),))).tables[0]


def cluster_ids(table_result) -> list[list]:
    """The clusters as lists of primary-key values, in time order."""
    return [[next(iter(r.pk.values())) for r in c.rows] for c in table_result.clusters]


def check_case(result, spec: dict) -> None:
    """Assert one clustering case (tests/cases/*.json) on a scan's table result, whatever the engine."""
    expect = spec["expect"]
    assert cluster_ids(result) == expect["clusters"], spec["description"]
    assert result.far_total == expect["far_duplicates"]
    if "survivors" in expect:
        assert [next(iter(c.survivor.pk.values())) for c in result.clusters] == expect["survivors"]
    for field in ("rows_null_key", "rows_null_ts", "rows_scanned"):
        if field in expect:
            assert getattr(result.stats, field) == expect[field]
    assert result.stats.rows_scanned == len(spec["rows"])
