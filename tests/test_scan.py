"""Detection on real engines: identifiers, tables without a primary key, payloads, writers, scale."""

from __future__ import annotations

import hashlib
import tracemalloc

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import at, cluster_ids, events_table, make_table, scan_one
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupfinder.connect import introspect, read_only
from dupfinder.errors import ColumnNotFound, QueryFailed, TableNotFound


def table_hash(url: str, table: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        quoted = conn.dialect.identifier_preparer.quote(table)
        rows = conn.exec_driver_sql(f"SELECT * FROM {quoted} ORDER BY 1").fetchall()
    engine.dispose()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def table_names(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()  # DuckDB refuses a second, read-only connection while this one is open


def test_payload_identical_and_divergent(any_url):
    events_table(any_url, [(1, 7, 0.0, "a", "x"), (2, 7, 0.3, "b", "x"), (3, 8, 0.0, "a", "x"),
                          (4, 8, 0.4, "b", "y")])
    result = scan_one(any_url, writers=["host=host"])
    by_key = {c.key["account"]: c for c in result.clusters}
    assert by_key[7].payload == "identical" and by_key[7].differing_columns == ()
    assert by_key[8].payload == "divergent" and by_key[8].differing_columns == ("note",)
    assert [r.writer for r in by_key[8].rows] == [{"host": "a"}, {"host": "b"}]
    assert result.rows_to_delete == 1  # divergent clusters are never counted for deletion


def test_keep_latest_marks_last_row(any_url):
    events_table(any_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 7, 0.6)])
    result = scan_one(any_url, keep="latest")
    assert [r.survivor for r in result.clusters[0].rows] == [False, False, True]


def test_mixed_case_spaces_and_reserved_words(any_url):
    columns = [
        sa.Column("Order ID", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("group", sa.Integer),
        sa.Column("Select", sa.String(10)),
        sa.Column("Created At", sa.DateTime),
        sa.Column("user", sa.String(10)),
    ]
    rows = [{"Order ID": i, "group": g, "Select": "s", "Created At": at(t), "user": "u"}
            for i, g, t in [(1, 5, 0.0), (2, 5, 0.2), (3, 6, 0.0)]]
    make_table(any_url, "Order Lines", columns, rows)
    result = scan_one(any_url, table="Order Lines", keys=["group", "Select"], ts="Created At")
    assert cluster_ids(result) == [[1, 2]]
    assert result.clusters[0].key == {"group": 5, "Select": "s"}


HOSTILE_TABLE = 'we"ird; drop table x; --'
HOSTILE_COLUMN = "gr\"oup'); delete from t; --"


def test_hostile_identifiers_stay_identifiers(any_url):
    columns = [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(HOSTILE_COLUMN, sa.String(20)),
        sa.Column("ts", sa.DateTime),
    ]
    rows = [{"id": 1, HOSTILE_COLUMN: "k", "ts": at(0)}, {"id": 2, HOSTILE_COLUMN: "k", "ts": at(0.1)}]
    make_table(any_url, HOSTILE_TABLE, columns, rows)
    before = table_hash(any_url, HOSTILE_TABLE)
    names_before = table_names(any_url)
    result = scan_one(any_url, table=HOSTILE_TABLE, keys=[HOSTILE_COLUMN], ts="ts")
    assert cluster_ids(result) == [[1, 2]]
    assert result.clusters[0].key == {HOSTILE_COLUMN: "k"}
    assert table_hash(any_url, HOSTILE_TABLE) == before
    assert table_names(any_url) == names_before


def test_table_without_primary_key_uses_row_id(any_url):
    columns = [sa.Column("account", sa.Integer), sa.Column("day", sa.String(10)), sa.Column("ts", sa.DateTime)]
    rows = [{"account": 1, "day": "d", "ts": at(0)}, {"account": 1, "day": "d", "ts": at(0.5)},
            {"account": 2, "day": "d", "ts": at(0)}]
    make_table(any_url, "events", columns, rows)
    result = scan_one(any_url)
    expected = "ctid" if any_url.startswith("postgresql") else "rowid"  # SQLite and DuckDB
    assert result.info.row_id == expected
    assert len(result.clusters) == 1
    assert set(result.clusters[0].rows[0].pk) == {expected}
    assert any("no primary key" in note for note in result.notes)


def test_a_table_named_in_the_wrong_case_is_offered_in_its_own_case(pg_url):
    """stranger14: among two dozen tenant schemas, --table tenant-acme.invoices suggested tenant_0023,
    tenant_0022 and tenant_0021, not the "Tenant-ACME".invoices it meant."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        for schema in [f"tenant_{i:04d}" for i in range(1, 25)] + ["Tenant-ACME"]:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            conn.exec_driver_sql(f'CREATE TABLE "{schema}".invoices (id int PRIMARY KEY, ref int, '
                                 'created_at timestamptz)')
    engine.dispose()
    with pytest.raises(TableNotFound, match=r"similar name: Tenant-ACME\.invoices$"):
        scan_one(pg_url, table="tenant-acme.invoices", keys=["ref"])


def test_unknown_table_and_column_name_the_closest(any_url):
    events_table(any_url, [(1, 7, 0.0)])
    with pytest.raises(TableNotFound, match="similar name: events"):
        scan_one(any_url, table="evnts")
    with pytest.raises(ColumnNotFound, match="similar name: account"):
        scan_one(any_url, keys=["acount"])
    with pytest.raises(ColumnNotFound, match="writer column 'hostt'"):
        scan_one(any_url, writers=["host=hostt"])


def test_scan_writes_nothing(any_url):
    events_table(any_url, [(1, 7, 0.0), (2, 7, 0.1), (3, 8, None)])
    before = table_hash(any_url, "events")
    tables_before = table_names(any_url)
    scan_one(any_url)
    assert table_hash(any_url, "events") == before
    assert table_names(any_url) == tables_before


def test_scan_transaction_refuses_writes(any_url):
    events_table(any_url, [(1, 7, 0.0)])
    before = table_hash(any_url, "events")
    with pytest.raises(QueryFailed), read_only(any_url) as conn:
        conn.exec_driver_sql("DELETE FROM events")
    assert table_hash(any_url, "events") == before
    engine = sa.create_engine(any_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 1
    engine.dispose()


def test_select_only_role(pg_url):
    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.4)])
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP ROLE IF EXISTS dupfinder_reader")
        conn.exec_driver_sql("CREATE ROLE dupfinder_reader LOGIN PASSWORD 'reader-pw'")
        conn.exec_driver_sql("GRANT SELECT ON events TO dupfinder_reader")
    reader = sa.make_url(pg_url).set(username="dupfinder_reader", password="reader-pw")
    result = scan_one(reader.render_as_string(hide_password=False))
    assert cluster_ids(result) == [[1, 2]]
    with engine.begin() as conn:
        conn.exec_driver_sql("REVOKE SELECT ON events FROM dupfinder_reader")
    with pytest.raises(QueryFailed, match="permission denied"):
        scan_one(reader.render_as_string(hide_password=False))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP OWNED BY dupfinder_reader")
        conn.exec_driver_sql("DROP ROLE dupfinder_reader")
    engine.dispose()


def test_timezone_awareness_is_reported(pg_url):
    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.4)], aware=True)
    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.4)], name="naive_events")
    aware = scan_one(pg_url)
    naive = scan_one(pg_url, table="naive_events")
    assert aware.ts_timezone_aware is True and naive.ts_timezone_aware is False
    assert aware.clusters[0].rows[0].ts.endswith("+00:00")
    assert not naive.clusters[0].rows[0].ts.endswith("+00:00")
    assert any("no time zone" in n for n in naive.notes)


def _fill_big_table(url: str, n: int) -> None:
    """n rows, one per key, written one second apart, then a handful of near duplicates."""
    engine = sa.create_engine(url)
    events_table(url, [])
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "INSERT INTO events (id, account, day, ts, host, note) SELECT g, g, '2026-11-02', "
                "timestamp '2026-11-01' + g * interval '1 second', 'a', repeat('x', 30) "
                f"FROM generate_series(1, {n}) AS g")
        else:
            conn.exec_driver_sql(
                f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) "
                "INSERT INTO events (id, account, day, ts, host, note) SELECT i, i, '2026-11-02', "
                "strftime('%Y-%m-%d %H:%M:%S', '2026-11-01', '+' || i || ' seconds') || '.000000', 'a', "
                "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' FROM g")
        for k in range(5):
            account = 1000 + 30000 * k
            conn.execute(sa.text("INSERT INTO events (id, account, day, ts, host, note) "
                                 "SELECT :id, account, day, ts, 'b', note FROM events WHERE id = :src"),
                         {"id": n + 1 + k, "src": account})
    engine.dispose()


def test_only_cluster_rows_reach_python(db_url):
    n = 200_000
    _fill_big_table(db_url, n)
    tracemalloc.start()
    result = scan_one(db_url, writers=["host=host"])
    _, scan_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(result.clusters) == 5
    assert result.stats.rows_scanned == n + 5
    # the statements returned the stats row and the ten cluster rows (plus, on PostgreSQL, the row saying
    # how much of the table one transaction id covers, the track_commit_timestamp setting and one commit
    # time for the one transaction that wrote all ten rows): nothing else crossed the wire
    assert result.rows_fetched == 1 + 10 + (3 if db_url.startswith("postgresql") else 0)
    # what a scan that pulled the table into Python would hold, measured on the same engine
    tracemalloc.start()
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        whole = pd.read_sql(sa.text("SELECT * FROM events"), conn)
    _, read_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    assert len(whole) == n + 5
    assert scan_peak * 10 < read_peak, (scan_peak, read_peak)


def test_introspection_reads_unique_constraints(any_url):
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("a", sa.Integer),
               sa.Column("ts", sa.DateTime), sa.UniqueConstraint("a", name="uq_a")]
    make_table(any_url, "withuq", columns, [])
    with read_only(any_url) as conn:
        info = introspect(conn, "withuq", {"key": ["a"]})
    assert ("a",) in info.unique_constraints
    assert info.primary_key == ("id",)


def test_statement_timeout_stops_a_slow_scan(pg_url):
    _fill_big_table(pg_url, 200_000)
    from click.testing import CliRunner

    from dupfinder.cli import main

    result = CliRunner().invoke(main, ["scan", pg_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--ts", "ts", "--statement-timeout", "1ms"])
    assert result.exit_code == 3, result.output
    assert "statement timeout" in result.output


def test_far_duplicates_are_listed_up_to_the_limit_and_all_counted(any_url, monkeypatch):
    from dupfinder import detect

    rows = [(n, 100 + n // 2, 0.0 if n % 2 == 0 else 600.0 + n) for n in range(10)]  # 5 keys, 10 min apart
    events_table(any_url, [*rows, (20, 7, 0.0), (21, 7, 0.2)])
    full = scan_one(any_url)
    assert full.far_total == 5 and len(full.far_duplicates) == 5 and cluster_ids(full) == [[20, 21]]
    assert {f.rows for f in full.far_duplicates} == {2}
    monkeypatch.setattr(detect, "FAR_LIST_LIMIT", 2)
    capped = scan_one(any_url)
    assert capped.far_total == 5 and len(capped.far_duplicates) == 2
    assert cluster_ids(capped) == [[20, 21]]


def test_work_mem_is_set_for_the_scan_transaction_only(pg_url):
    from click.testing import CliRunner

    from dupfinder.cli import main

    with read_only(pg_url, work_mem="77MB") as conn:
        assert conn.exec_driver_sql("SHOW work_mem").scalar() == "77MB"
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
    with read_only(pg_url) as conn:
        assert conn.exec_driver_sql("SHOW work_mem").scalar() != "77MB"
    events_table(pg_url, [(1, 7, 0.0)])
    bad = CliRunner().invoke(main, ["scan", pg_url, "--table", "events", "--key", "account", "--ts", "ts",
                                    "--work-mem", "64MB'; DROP TABLE events; --"])
    assert bad.exit_code == 2 and "bad memory size" in bad.output
    good = CliRunner().invoke(main, ["scan", pg_url, "--table", "events", "--key", "account", "--ts", "ts",
                                     "--work-mem", "16MB"])
    assert good.exit_code == 0, good.output


@pytest.mark.parametrize("size", ["10kB", "2048GB", "99999999GB"])
def test_a_work_mem_outside_the_servers_range_is_bad_usage(pg_url, size):
    """work_mem takes 64kB to 2 TB less 1 kB: a size outside made the server refuse the transaction's start, exit
    3 as if the database had failed; it is the option that is wrong, refused in one line, exit 2."""
    from click.testing import CliRunner

    from dupfinder.cli import main

    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.1)])
    result = CliRunner().invoke(main, ["scan", pg_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--work-mem", size])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [f"Error: bad memory size '{size}': PostgreSQL's work_mem takes "
                                                  "64kB to 2047GB"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.one_of(st.integers(1, 3000), st.integers(2_147_483_000, 2_147_483_700),
                      st.integers(2_097_100, 2_097_200), st.integers(2040, 2060), st.integers(1, 3)),
       unit=st.sampled_from(["kB", "MB", "GB", "TB", "tb", "Mb"]))
def test_a_work_mem_is_taken_exactly_when_the_server_takes_it(pg_url, size, unit):
    """--work-mem takes what PostgreSQL's SET work_mem takes, in each of its units (1TB was refused as "use kB, MB
    or GB" though the server takes it, stranger21), and refuses the rest in one line before any connection."""
    from dupfinder.durations import parse_memory
    from dupfinder.errors import BadDuration

    text = f"{size}{unit}"
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            try:
                conn.exec_driver_sql(f"SET work_mem = '{size}{unit.upper().replace('KB', 'kB')}'")
                server = True
            except sa.exc.DBAPIError:
                server = False
    finally:
        engine.dispose()
    try:
        taken = parse_memory(text)
    except BadDuration:
        taken = None
    assert (taken is not None) == server, (text, taken, server)
    if taken:
        with read_only(pg_url, work_mem=taken) as conn:
            assert conn.exec_driver_sql("SHOW work_mem").scalar() is not None


def test_a_table_in_another_schema_is_suggested_by_its_qualified_name(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA billing")
        conn.exec_driver_sql("CREATE TABLE billing.invoice_ledger (id int PRIMARY KEY, ref text, ts timestamptz)")
    engine.dispose()
    for typed in ("invoice_ledger", "billing.invoice_ledgr"):
        with pytest.raises(TableNotFound) as err:
            scan_one(pg_url, table=typed, keys=["ref"], ts="ts")
        assert "billing.invoice_ledger" in str(err.value), str(err.value)
    assert scan_one(pg_url, table="billing.invoice_ledger", keys=["ref"], ts="ts").clusters == ()


def test_postgres_and_postgresql_urls_use_the_installed_driver(pg_url):
    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.4)])
    for scheme in ("postgres://", "postgresql://"):
        url = scheme + pg_url.split("://", 1)[1]
        assert len(scan_one(url).clusters) == 1, url
