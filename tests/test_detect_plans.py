"""The narrow detection pass: its plans agree, keys equal in SQL are one group, and the index advice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import at, cluster_ids, events_table, make_table, partitioned_by_month, scan_one
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupfinder.config import table_spec
from dupfinder.connect import introspect, read_only
from dupfinder.detect import detect_sql, key_index, recommended_index_sql, statement

ROWS = [(1, 7, 0.0, "a"), (2, 7, 0.4, "b"),            # a near pair
        (3, 8, 0.0, "a"), (4, 8, 1.0, "b"), (5, 8, 1.5, "c"), (6, 8, 2.9, "a"),  # a chain of four
        (7, 9, 0.0, "a"), (8, 9, 900.0, "b"),          # far duplicates only
        (9, 10, 0.0, "a"), (10, 10, 0.3, "b"), (11, 10, 700.0, "c"),  # near pair and a far row
        (12, 11, 0.0, "a"), (13, None, 0.1, "b"), (14, 12, None, "a"), (15, 12, 0.1, "a")]


def _index(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
        if url.startswith("postgresql"):
            conn.exec_driver_sql("ANALYZE events")
    engine.dispose()


def _summary(result) -> tuple:
    return (sorted(cluster_ids(result)), result.far_total, sorted(f.rows for f in result.far_duplicates),
            result.stats.rows_scanned, result.stats.rows_null_key, result.stats.rows_null_ts)


def test_every_engine_finds_the_same_clusters_far_keys_and_counts(any_url):
    events_table(any_url, ROWS)
    result = scan_one(any_url, keys=["account"], window="2s")
    assert _summary(result) == ([[1, 2], [3, 4, 5, 6], [9, 10]], 2, [2, 3], 15, 1, 1)
    advice = [n for n in result.notes if "CREATE INDEX" in n]
    if any_url.startswith("duckdb"):
        assert not advice  # DuckDB's indexes do not serve an aggregation
    else:
        assert len(advice) == 1 and "CREATE INDEX" in advice[0] and "(account, ts)" in advice[0]


def test_the_index_plan_agrees_with_the_row_id_plan_and_is_used(pg_url):
    events_table(pg_url, ROWS)
    without = scan_one(pg_url, keys=["account", "day"], window="2s")
    _index(pg_url, "CREATE INDEX events_day_account_ts ON events (day, account, ts)")
    with_index = scan_one(pg_url, keys=["account", "day"], window="2s")
    assert _summary(with_index) == _summary(without) == ([[1, 2], [3, 4, 5, 6], [9, 10]], 2, [2, 3], 15, 1, 1)
    assert not any("CREATE INDEX" in n for n in with_index.notes)
    spec = table_spec(table="events", keys=["account", "day"], ts="ts")
    with read_only(pg_url) as conn:
        info = introspect(conn, "events", {})
        index = key_index(conn, info, spec)
        assert index == ("day", "account")  # the GROUP BY follows the index's order
        sql = detect_sql(conn, info, spec, index)["detect_clusters"]
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a 15-row table: make the planner show its hand
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + sql), {"window_us": 2_000_000, "offset_us": 0})
                         .scalars())
    assert "Index" in plan and "events_day_account_ts" in plan, plan


def test_partial_indexes_and_indexes_led_by_another_column_do_not_count(pg_url):
    events_table(pg_url, ROWS)
    _index(pg_url, "CREATE INDEX events_partial ON events (account, ts) WHERE host = 'a'")
    _index(pg_url, "CREATE INDEX events_host ON events (host, account, ts)")
    _index(pg_url, "CREATE INDEX events_expr ON events ((account + 1), ts)")
    spec = table_spec(table="events", keys=["account"], ts="ts")
    with read_only(pg_url) as conn:
        assert key_index(conn, introspect(conn, "events", {}), spec) is None
    _index(pg_url, "CREATE INDEX events_key ON events (account)")
    with read_only(pg_url) as conn:
        assert key_index(conn, introspect(conn, "events", {}), spec) == ("account",)


def _row_id_plan(conn, table: str) -> str:
    info = introspect(conn, table, {})
    sql = detect_sql(conn, info, table_spec(table=table, keys=["account"], ts="ts"))["detect_clusters"]
    conn.exec_driver_sql("SET LOCAL enable_hashagg = off")
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a 15-row table: make the planner show its hand
    return "\n".join(conn.execute(sa.text("EXPLAIN " + sql), {"window_us": 2_000_000, "offset_us": 0}).scalars())


def test_the_row_id_plan_reads_rows_by_integer_key_or_ctid_and_groups_by_sorting(pg_url):
    """The first and last row of each key by a primary key of one integer column (compared in place) and the
    rows fetched through its index; by ctid (a Tid Scan) where the table has no such key."""
    events_table(pg_url, ROWS)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE events_heap AS SELECT * FROM events")
        conn.exec_driver_sql("ANALYZE events_heap")
    engine.dispose()
    spec = table_spec(table="events", keys=["account"], ts="ts")
    with read_only(pg_url) as conn:
        info = introspect(conn, "events", {})
        keyed = _row_id_plan(conn, "events")
        assert conn.exec_driver_sql("SHOW enable_hashagg").scalar() == "off"
    with read_only(pg_url) as conn:
        heap = _row_id_plan(conn, "events_heap")
    assert "on events_pkey" in keyed and "Tid Scan" not in keyed and "GroupAggregate" in keyed, keyed
    assert "Tid Scan" in heap and "GroupAggregate" in heap, heap
    with read_only(pg_url) as conn:  # the scan puts the setting back once its statement ran
        from dupfinder.detect import detect
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 3")
        detect(conn, info, spec, None)
        assert conn.exec_driver_sql("SHOW enable_hashagg").scalar() == "on"
        assert conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar() == "3"


@pytest.mark.parametrize("key_type", ["smallint", "integer", "bigint"])
def test_rows_found_by_integer_key_are_the_rows_found_by_ctid(pg_url, monkeypatch, key_type):
    """The same rows, far keys, counts and member rows whether the pass keeps each key's first and last row by
    the integer primary key or by ctid: keys written once to four times, NULL keys and times, far rows, a key
    whose lowest id is not its first ctid (rows inserted out of id order)."""
    import dupfinder.detect as detect_module

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE ev (id {key_type} PRIMARY KEY, account int, ts timestamp, host text)")
        for r in [*reversed(ROWS[:6]), *ROWS[6:]]:
            conn.execute(sa.text("INSERT INTO ev VALUES (:id, :account, :ts, :host)"),
                         {"id": r[0], "account": r[1], "ts": None if r[2] is None else at(r[2]), "host": r[3]})
        conn.exec_driver_sql("ANALYZE ev")
    engine.dispose()
    spec = table_spec(table="ev", keys=["account"], ts="ts")
    found = {}
    for kind, types in (("key", detect_module.INTEGER_TYPES), ("ctid", ())):
        monkeypatch.setattr(detect_module, "INTEGER_TYPES", types)
        with read_only(pg_url) as conn:
            info = introspect(conn, "ev", {})
            sql = detect_sql(conn, info, spec)["detect_clusters"]
            assert ("min(t.id)" in sql) == (kind == "key") and ("min(t.ctid)" in sql) == (kind == "ctid"), sql
            got = detect_module.detect(conn, info, spec, False)
        found[kind] = (sorted(tuple(r) for r in got.rows), got.far_total, got.far_duplicates, got.stats,
                       sorted(got.members.ids.strip("{}").split('","')))
    assert found["key"] == found["ctid"] and len(found["key"][0]) == 8 and found["key"][1] == 2


def test_recommended_index_is_valid_sql_on_each_engine(db_url):
    events_table(db_url, ROWS, name="Odd Table")
    spec = table_spec(table="Odd Table", keys=["account", "day"], ts="ts")
    with read_only(db_url) as conn:
        info = introspect(conn, "Odd Table", {})
        statement = recommended_index_sql(conn.dialect, info, spec)
    engine = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")  # CONCURRENTLY refuses a transaction
    with engine.connect() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()
    with read_only(db_url) as conn:
        assert key_index(conn, introspect(conn, "Odd Table", {}), spec) == ("account", "day")
    assert not any("CREATE INDEX" in n for n in scan_one(db_url, table="Odd Table").notes)


# keys the database calls equal although their Python values differ: one cluster each, never two singles
PG_EQUAL_KEYS = [
    ("numeric", "1.50", "1.5000"),
    ("double precision", "'-0'", "'0'"),
    ("jsonb", "'1'", "'1.0'"),
    ("jsonb", """'{"a": 1}'""", """'{"a": 1.00}'"""),
    ("citext", "'Abc'", "'aBC'"),
]


@pytest.mark.parametrize("sql_type,first,second", PG_EQUAL_KEYS, ids=[f"{t}:{a}" for t, a, _ in PG_EQUAL_KEYS])
def test_keys_equal_in_postgresql_are_one_cluster(pg_url, sql_type, first, second):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        if sql_type == "citext":
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS citext")
        conn.exec_driver_sql(f"CREATE TABLE k (id int PRIMARY KEY, v {sql_type}, ts timestamp)")
        conn.exec_driver_sql(f"INSERT INTO k VALUES (1, {first}, '2026-11-03 02:30:00'), "
                             f"(2, {second}, '2026-11-03 02:30:00.4'), (3, {second}, '2026-11-03 02:40:00')")
    engine.dispose()
    result = scan_one(pg_url, table="k", keys=["v"], ts="ts")
    assert cluster_ids(result) == [[1, 2]]
    assert result.far_total == 1  # the third row, ten minutes later, makes the key a far duplicate too


SQLITE_EQUAL_KEYS = [
    ("TEXT COLLATE NOCASE", "'Abc'", "'aBC'"),
    ("", "1", "1.0"),             # no type affinity: an integer and a real, equal in SQL
    ("REAL", "-0.0", "0.0"),
]


@pytest.mark.parametrize("sql_type,first,second", SQLITE_EQUAL_KEYS, ids=[f"{t or 'none'}:{a}" for t, a, _ in
                                                                          SQLITE_EQUAL_KEYS])
def test_keys_equal_in_sqlite_are_one_cluster(sqlite_url, sql_type, first, second):
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE k (id INTEGER PRIMARY KEY, v {sql_type}, ts DATETIME)")
        conn.exec_driver_sql(f"INSERT INTO k VALUES (1, {first}, '2026-11-03 02:30:00.000000'), "
                             f"(2, {second}, '2026-11-03 02:30:00.400000'), (3, 5, '2026-11-03 02:30:00.000000')")
    engine.dispose()
    result = scan_one(sqlite_url, table="k", keys=["v"], ts="ts")
    assert cluster_ids(result) == [[1, 2]]


def _rows(url: str, sql: str) -> list[tuple]:
    with read_only(url) as conn:
        if url.startswith("postgresql"):
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # let the index plan use the index
        result = conn.execute(sa.text(sql), {"window_us": 2_000_000, "offset_us": 0})
        return sorted((r._mapping["c0"], r._mapping["_key_no"], r._mapping["_cluster_no"], r._mapping["_near"])
                      for r in result)


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql", "duckdb"])
def test_every_plan_returns_the_same_rows(request, engine_name):
    url = request.getfixturevalue("pg_url" if engine_name == "postgresql" else f"{engine_name}_url")
    events_table(url, ROWS)
    if engine_name != "duckdb":
        _index(url, "CREATE INDEX events_account ON events (account)")
    spec = table_spec(table="events", keys=["account"], ts="ts")
    plans = {"rowid", "key"} | ({"index"} if engine_name != "sqlite" else set())  # SQLite has no LATERAL
    with read_only(url) as conn:
        info = introspect(conn, "events", {})
        rendered = {p: detect_sql(conn, info, spec, ("account",), plan=p)["detect_clusters"] for p in plans}
    results = {p: _rows(url, sql) for p, sql in rendered.items()}
    assert len({tuple(r) for r in results.values()}) == 1, results
    assert [r[0] for r in results["key"] if r[3] == 1] == [1, 2, 3, 4, 5, 6, 9, 10]


NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and "\x00" not in s)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=NAME, key=NAME)
def test_hostile_names_run_in_every_plan(tmp_path_factory, table, key):
    """Generated table and key names, executed for real on SQLite in the row-id and the key plan."""
    if table.lower().startswith("sqlite_") or key.lower() in ("id", "ts", "rowid", "oid", "_rowid_"):
        return
    url = f"sqlite:///{tmp_path_factory.mktemp('h') / 'h.db'}"
    make_table(url, table, [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                            sa.Column(key, sa.Integer), sa.Column("ts", sa.DateTime)],
               [{"id": 1, key: 5, "ts": at(0)}, {"id": 2, key: 5, "ts": at(0.2)}, {"id": 3, key: 6, "ts": at(0)}])
    assert cluster_ids(scan_one(url, table=table, keys=[key], ts="ts")) == [[1, 2]]
    spec = table_spec(table=table, keys=[key], ts="ts")
    with read_only(url) as conn:
        info = introspect(conn, table, {})
        for plan in ("rowid", "key"):
            sql = detect_sql(conn, info, spec, plan=plan)["detect_clusters"]
            rows = conn.execute(statement(sql), {"window_us": 2_000_000, "offset_us": 0}).all()
            assert sorted(r._mapping["c0"] for r in rows) == [1, 2]


@pytest.mark.parametrize("plan", ["key", "rowid"])
def test_clickhouse_parses_the_portable_plans(plan):
    """The statement Spark SQL and ClickHouse would run is parseable there: window expressions in arithmetic
    parenthesized, no ORDER BY of aggregates in subqueries (checked with ClickHouse's own parser, chDB)."""
    chdb = pytest.importorskip("chdb")
    from sqlalchemy.dialects import sqlite

    from dupfinder.sqltemplates import quote_table, render_sql

    dialect = sqlite.dialect()  # double-quoted names, as ClickHouse reads them
    sql = render_sql("detect_clusters.sql.j2", dialect, table=quote_table(dialect, "recon"), keys=["a", "b"],
                     group_keys=["a", "b"], ts="ts", columns=["id", "a", "b", "ts"], row_id=[], plan=plan,
                     rid="_row_id", key_aliases=["c1", "c2"], order_aliases=["c0"], since=True, window_us="2000000",
                     offset_us="0", since_bind="'2026-11-01'", far=True, far_limit=1000, materialize=False)
    ast = str(chdb.query("EXPLAIN AST " + sql, "CSV"))
    assert "SelectWithUnionQuery" in ast and "WindowListElement" in ast.replace('"', ""), ast[:500]


def test_index_advice_on_a_partitioned_table_runs(pg_url):
    """PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table: both notes advised it, and the
    statement they gave failed ("cannot create index on partitioned table ... concurrently")."""
    partitioned_by_month(pg_url, "events", "id int, account int, day int, ts timestamp, PRIMARY KEY (id, ts)", "ts",
                         "INSERT INTO events VALUES (1, 7, 1, '2026-10-31 23:59:59.7'), "
                         "(2, 7, 1, '2026-11-01 00:00:00.4'), (3, 8, 1, '2026-11-02 00:00:00')")
    result = scan_one(pg_url, since="2026-10-01T00:00:00Z")
    assert cluster_ids(result) == [[1, 2]]  # the pair straddling the partitions
    advised = [n.split("(CREATE INDEX ", 1)[1].split(")", 1)[0] for n in result.notes if "(CREATE INDEX " in n]
    assert len(advised) == 2 and all("partitioned" in n for n in result.notes if "(CREATE INDEX " in n)
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in advised:
            conn.exec_driver_sql(f"CREATE INDEX {statement})")
        built = conn.exec_driver_sql("SELECT count(*) FROM pg_indexes WHERE tablename = 'events_11'").scalar()
    engine.dispose()
    assert built == 3  # the primary key's and both advised indexes, on each partition


def test_duckdb_groups_the_key_alone_and_still_lists_every_member(duckdb_url):
    """DuckDB's pass aggregates the key and its count only (no first and last row id per key, which made its
    hash aggregate the costlier part at 5M rows) and fetches the duplicated keys' rows by key; the detection
    still hands the coverage statement the row id of every row of a key written more than once."""
    from dupfinder.connect import timestamp_awareness
    from dupfinder.detect import detect

    events_table(duckdb_url, ROWS)
    spec = table_spec(table="events", keys=["account"], ts="ts")
    with read_only(duckdb_url) as conn:
        info = introspect(conn, "events", {})
        sql = detect_sql(conn, info, spec)["detect_clusters"]
        found = detect(conn, info, spec, timestamp_awareness(info, "ts"))
        expected = sorted(conn.exec_driver_sql(
            "SELECT rowid FROM events WHERE ts IS NOT NULL AND account IN "
            "(SELECT account FROM events WHERE ts IS NOT NULL GROUP BY account HAVING count(*) > 1)").scalars())
    assert "min(t.rowid)" not in sql and "_rid_first" not in sql, sql
    assert sorted(int(i) for i in found.members.ids.strip("[]").split(",")) == expected
    assert len(expected) == 11  # accounts 7, 8, 9 and 10 (12 has one row with a time)
