"""ClickHouse through chDB (embedded, no server): the clustering cases to the microsecond, --id as the row
identity (MergeTree's primary key is a sort key, not unique), read-only sessions, and every --out file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import check_case, cluster_ids, events_table, scan_one
from sqlrun import SQLFailed, apply_sql, rows_of, scan_doc

from dupfinder.cli import main
from dupfinder.connect import read_only
from dupfinder.errors import QueryFailed, UsageError
from dupfinder.remediate import cleanup_sql, migration_sql_for_findings, rollback_sql

CASES = sorted(Path(__file__).parent.joinpath("cases").glob("*.json"))


@pytest.mark.parametrize("aware", [False, True], ids=["datetime64", "datetime64_utc"])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case_on_chdb(case, aware, chdb_url):
    spec = json.loads(case.read_text())
    events_table(chdb_url, [tuple(r) for r in spec["rows"]], aware=aware)
    result = scan_one(chdb_url, window=spec["window"], ids=["id"])
    check_case(result, spec)


def test_gaps_are_exact_microseconds_and_first_rows_have_no_gap(chdb_url):
    # lag/lead on a non-Nullable column give 0 for the first row: the scan must see NULL there, or every key's
    # first row would look 0 µs after its predecessor
    events_table(chdb_url, [(1, 7, 0.000001), (2, 7, 0.000004), (3, 8, 0.0), (4, 8, 5.0), (5, 9, 0.0)])
    result = scan_one(chdb_url, window="3us", ids=["id"])
    assert cluster_ids(result) == [[1, 2]]
    assert result.clusters[0].span_seconds == pytest.approx(0.000003, abs=1e-9)
    assert result.far_total == 1


def test_sort_key_is_not_taken_for_a_primary_key(chdb_url):
    events_table(chdb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    with pytest.raises(UsageError, match="--id"):
        scan_one(chdb_url)


def test_scan_session_is_read_only(chdb_url):
    events_table(chdb_url, [(1, 7, 0.0)])
    with pytest.raises(QueryFailed, match="readonly"), read_only(chdb_url) as conn:
        conn.exec_driver_sql("INSERT INTO events (id, account, day) VALUES (9, 1, 'x')")
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 1
    engine.dispose()


def test_out_writes_every_file_with_a_plan_instead_of_transactional_sql(chdb_url, tmp_path):
    events_table(chdb_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", chdb_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--ts", "ts", "--id", "id", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert {p.name for p in out.iterdir()} >= {"findings.json", "report.html", "cleanup.sql", "rollback.sql",
                                               "migration.sql", "verify.sql"}


def test_cleanup_plan_and_rollback_run_on_chdb(chdb_url):
    events_table(chdb_url, [(1, 7, 0.0, "a", "x"), (2, 7, 0.3, "b", "x"), (3, 7, 0.5, "c", "x"),
                            (4, 8, 0.0, "a", "x"), (5, 8, 0.2, "b", "DIFFERENT"), (6, 9, 0.0, "a", "x")])
    before = rows_of(chdb_url)
    doc = scan_doc(chdb_url, ids=["id"], writers=["host=host"])
    text = cleanup_sql(doc)
    assert "PLAN of separate statements" in text and "throwIf(" in text
    for _ in range(2):  # cleanup -> rollback -> cleanup -> rollback
        apply_sql(chdb_url, text)
        assert [r[0] for r in rows_of(chdb_url)] == ["1", "4", "5", "6"]  # the divergent cluster is left
        apply_sql(chdb_url, text)  # a second run deletes nothing more
        assert [r[0] for r in rows_of(chdb_url)] == ["1", "4", "5", "6"]
        assert [r[0] for r in rows_of(chdb_url, doc_backup(doc))] == ["2", "3"]
        apply_sql(chdb_url, rollback_sql(doc))
        assert rows_of(chdb_url) == before
        apply_sql(chdb_url, rollback_sql(doc))  # idempotent
        assert rows_of(chdb_url) == before
    assert "ClickHouse enforces no UNIQUE constraint" in migration_sql_for_findings(doc)


def test_cleanup_plan_guard_stops_before_anything_is_deleted(chdb_url):
    events_table(chdb_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0), (4, 8, 0.3)])
    doc = scan_doc(chdb_url, ids=["id"])
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("ALTER TABLE events UPDATE note = 'edited' WHERE id = 4 SETTINGS mutations_sync = 1")
    engine.dispose()
    before = rows_of(chdb_url)
    with pytest.raises(SQLFailed, match="rows_changed_since_the_scan"):
        apply_sql(chdb_url, cleanup_sql(doc))
    assert rows_of(chdb_url) == before


def doc_backup(doc: dict) -> str:
    return next(json.loads(line.split("backup table: ")[1]) for line in cleanup_sql(doc).splitlines()
                if "backup table: " in line)


def test_since_advice_speaks_clickhouse(chdb_url):
    events_table(chdb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    notes = scan_doc(chdb_url, ids=["id"], since="2026-11-01T00:00:00")["tables"][0]["notes"]
    assert any("TYPE minmax" in n and "MATERIALIZE INDEX" in n for n in notes)
    # the first place, which the advice is left out for: "in the ORDER BY" was true already of ORDER BY (key, ts)
    assert any("put ts first in the table's ORDER BY" in n for n in notes)


@pytest.mark.parametrize("skips", ["the advised skip index", "ts first in the ORDER BY"])
def test_since_advice_is_not_given_once_followed(chdb_url, skips):
    """The advice was given whatever the table had: after running its ALTERs, or with ts leading the sort key,
    a --since scan still said it read the whole table and asked for the same index again."""
    events_table(chdb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    note = next(n for n in scan_doc(chdb_url, ids=["id"], since="2026-11-01T00:00:00")["tables"][0]["notes"]
                if "TYPE minmax" in n)
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        if skips == "the advised skip index":
            for statement in note.split(": ", 1)[1].split("index: ", 1)[1].split(", then "):
                conn.exec_driver_sql(statement)
        else:
            conn.exec_driver_sql("CREATE TABLE by_ts (id UInt32, account UInt32, day String, ts DateTime64(6)) "
                                 "ENGINE = MergeTree ORDER BY (ts, account)")
            conn.exec_driver_sql("INSERT INTO by_ts SELECT id, account, day, ts FROM events")
    engine.dispose()
    table = "events" if skips == "the advised skip index" else "by_ts"
    notes = scan_doc(chdb_url, table=table, ids=["id"], since="2026-11-01T00:00:00")["tables"][0]["notes"]
    assert not any("read the whole table" in n for n in notes), notes


def test_cleanup_plan_with_two_id_columns(chdb_url):
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE events (batch Int32, seq Int32, account Int32, "
                                 "ts Nullable(DateTime64(6))) ENGINE = MergeTree ORDER BY batch")
            conn.exec_driver_sql("INSERT INTO events VALUES (1, 1, 7, '2026-11-03 02:30:00.000000'), "
                                 "(2, 1, 7, '2026-11-03 02:30:00.200000'), (2, 2, 8, '2026-11-03 02:30:00.000000')")
    finally:
        engine.dispose()
    doc = scan_doc(chdb_url, keys=["account"], ids=["batch", "seq"])
    assert [r["pk"] for r in doc["tables"][0]["clusters"][0]["rows"]] == [{"batch": 1, "seq": 1},
                                                                         {"batch": 2, "seq": 1}]
    apply_sql(chdb_url, cleanup_sql(doc))
    assert [r[:2] for r in rows_of(chdb_url)] == [("1", "1"), ("2", "2")]
    apply_sql(chdb_url, rollback_sql(doc))
    assert sorted(r[:2] for r in rows_of(chdb_url)) == [("1", "1"), ("2", "1"), ("2", "2")]


def test_discover_proposes_a_key_on_chdb(chdb_url):
    from dupfinder.discover import discover

    events_table(chdb_url, [(i, i // 2 if i < 6 else i, i * 0.1) for i in range(1, 30)])
    (proposal,) = discover(chdb_url)
    # account tells the copies apart as on SQLite, where id is the primary key (here id split every copy and made
    # account look too coarse, so the pair was proposed); day holds one value in every row and joins the key, so
    # the UNIQUE constraint it implies still takes the next day (discover: a period holding one value)
    assert proposal.table == "events" and proposal.keys == ("account", "day") and proposal.ts == "ts"


def test_a_named_tuple_column_does_not_stop_the_scan(chdb_url, tmp_path):
    """chdb-sqlalchemy's reflection raised on a named Tuple (\"Unknown ClickHouse type: a\", exit 3 as an
    unexpected error): the columns are read one type at a time, the one it cannot parse kept as text."""
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE events (id UInt32, account UInt32, ts DateTime64(6), "
                             "pair Tuple(a UInt8, b String), kind LowCardinality(Nullable(String))) "
                             "ENGINE = MergeTree ORDER BY id")
        conn.exec_driver_sql("INSERT INTO events VALUES (1, 7, '2026-11-02 02:00:00', (1, 'x'), NULL), "
                             "(2, 7, '2026-11-02 02:00:00.3', (1, 'x'), NULL), "
                             "(3, 8, '2026-11-02 02:00:00', (2, 'y'), 'a')")
    engine.dispose()
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", chdb_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--id", "id", "--out", str(out)])
    assert result.exit_code == 1, result.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    assert table["rows_to_delete"] == 1
    assert {c["name"]: c["type"] for c in table["columns"]}["pair"] == "Tuple(a UInt8, b String)"


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_bounds_on_a_column_with_a_zone_in_the_sort_key(chdb_url, zone):
    """With the timestamp in the ORDER BY (what the --since advice asks for), ClickHouse converts a bound to the
    key's type strictly and refused the '... +00:00' text an aware bound went as ("Cannot convert string ...
    TYPE_MISMATCH", exit 3): the statement over the rows around the clusters and --since failed. A bound is now
    epoch seconds, an instant whatever the column's zone."""
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE events (id UInt32, account UInt32, ts DateTime64(6, '{zone}'), "
                             "note String) ENGINE = MergeTree ORDER BY ts")
        conn.exec_driver_sql("INSERT INTO events SELECT number, intDiv(number, 2), toDateTime64('2026-11-02 02:00:00', "
                             "6, 'UTC') + toIntervalMillisecond(number * 300), 'same' FROM numbers(40)")
    engine.dispose()
    full = scan_one(chdb_url, ids=["id"], keys=["account"], window="1s")
    assert sorted(c.key["account"] for c in full.clusters) == list(range(20))
    since = scan_one(chdb_url, ids=["id"], keys=["account"], window="400ms", since="2026-11-02T02:00:06+00:00")
    assert sorted(c.key["account"] for c in since.clusters) == list(range(10, 20))


@pytest.mark.parametrize("id_type", ["UUID", "DateTime64(6)"])
def test_cleanup_plan_runs_with_a_uuid_or_timestamp_id(chdb_url, id_type):
    """The guard joined the plan's text ids to the table: ClickHouse finds no common type for String and a UUID
    or DateTime64 id ("NO_COMMON_TYPE"), so the plan stopped at its guard and nothing was cleaned."""
    value = ("generateUUIDv4()" if id_type == "UUID"
             else "toDateTime64('2026-01-01 00:00:00', 6) + toIntervalMillisecond(number)")
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE events (rid {id_type}, account UInt32, ts DateTime64(6), note String) "
                             "ENGINE = MergeTree ORDER BY ts")
        conn.exec_driver_sql(f"INSERT INTO events SELECT {value}, intDiv(number, 2), "
                             "toDateTime64('2026-11-02 02:00:00', 6) + toIntervalMillisecond(number * 300), 'same' "
                             "FROM numbers(6)")
    engine.dispose()
    doc = scan_doc(chdb_url, ids=["rid"], keys=["account"])
    assert doc["tables"][0]["rows_to_delete"] == 3
    apply_sql(chdb_url, cleanup_sql(doc))
    assert len(rows_of(chdb_url)) == 3
    apply_sql(chdb_url, rollback_sql(doc))
    assert len(rows_of(chdb_url)) == 6


def test_the_cleanup_header_promises_no_transaction(chdb_url):
    """cleanup.sql's header said every row is backed up 'in the same transaction' and that 'each table's
    transaction aborts', on an engine without multi-statement transactions."""
    events_table(chdb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    head = cleanup_sql(scan_doc(chdb_url, ids=["id"])).split("-- table ")[0]
    assert "transaction aborts" not in head and "same transaction" not in head
    assert "NO TRANSACTION" in head and "Session.query" in head


def test_the_backup_of_a_summing_table_keeps_every_row(chdb_url):
    """A stranger's finding: the backup was `CREATE TABLE ... AS` the table, engine included, so a
    SummingMergeTree's backup summed the losing copies of one key into one row when it merged (a
    ReplacingMergeTree's kept one of them): rollback.sql, which reads the backup, could no longer put back the
    rows cleanup.sql deleted, with their ids, as its header promises."""
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE events (rid UUID, account UInt32, ts DateTime64(6, 'Europe/Berlin'), "
                             "amount Decimal(18, 2)) ENGINE = SummingMergeTree ORDER BY account")
        conn.exec_driver_sql("SYSTEM STOP MERGES events")  # the copies of one run, before a merge adds them up
        for i in range(3):  # one insert (one part) per copy, as three runs of the job write them
            conn.exec_driver_sql(f"INSERT INTO events VALUES (generateUUIDv4(), 7, "
                                 f"toDateTime64('2026-11-02 02:00:00', 6, 'Europe/Berlin') + "
                                 f"toIntervalMillisecond({i * 300}), 10.50)")
    engine.dispose()
    doc = scan_doc(chdb_url, ids=["rid"], keys=["account"])
    losers = sorted(str(r["pk"]["rid"]) for c in doc["tables"][0]["clusters"] for r in c["rows"]
                    if not r["survivor"])
    assert len(losers) == 2
    cleanup = cleanup_sql(doc)
    apply_sql(chdb_url, cleanup)
    backup = next(json.loads(line.split("backup table: ")[1]) for line in cleanup.splitlines()
                  if "backup table: " in line)
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"OPTIMIZE TABLE `{backup}` FINAL")  # what a background merge does, sooner or later
    engine.dispose()
    assert sorted((r[0], r[3]) for r in rows_of(chdb_url, backup)) == [(rid, "10.5") for rid in losers]


@pytest.mark.parametrize(("order_by", "said"), [
    ("(account, ts)", "copies of a key that differ in ts are never removed by its merges"),
    ("(account)", None),
])
def test_a_replacing_table_ordered_by_more_than_its_key_is_named(chdb_url, order_by, said):
    """A stranger's finding: daily_revenue was a ReplacingMergeTree ordered by (revenue_date, Region,
    computed_at), so its merges never replaced the second run's rows; the advice was "a ReplacingMergeTree
    ordered by the business key", to a table that is one, without a word about its sort key."""
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE events (id UInt32, account UInt32, ts DateTime64(6, 'Europe/Berlin')) "
                             f"ENGINE = ReplacingMergeTree ORDER BY {order_by}")
        conn.exec_driver_sql("SYSTEM STOP MERGES events")
        for i in range(2):
            conn.exec_driver_sql(f"INSERT INTO events VALUES ({i}, 7, toDateTime64('2026-11-02 02:00:00', 6, "
                                 f"'Europe/Berlin') + toIntervalMillisecond({i * 300}))")
    engine.dispose()
    table = scan_doc(chdb_url, ids=["id"], keys=["account"])["tables"][0]
    assert table["storage"] == "ReplacingMergeTree" and len(table["clusters"]) == 1
    named = [n for n in table["notes"] if "ReplacingMergeTree ordered by" in n]
    assert (named and said in named[0] and "(account, ts)" in named[0]) if said else not named, named


def test_cleanup_plan_rechecks_where_before_anything_is_copied_or_deleted(chdb_url):
    """After a scan with --where, the PostgreSQL/MariaDB/SQLite/DuckDB cleanups check the predicate again on each
    losing row and survivor; the ClickHouse plan did not: a survivor retired since the scan (its host, a writer
    column the guard does not compare, now outside the predicate) still had its copy deleted. Now the plan stops
    at its guard and nothing changes; with the rows as scanned it deletes the copies."""
    events_table(chdb_url, [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0, "a"), (4, 8, 0.3, "b"),
                            (5, 9, 0.0, "retired"), (6, 9, 0.2, "retired")])
    doc = scan_doc(chdb_url, ids=["id"], writers=["host=host"], where="host <> 'retired'")
    assert len(doc["tables"][0]["clusters"]) == 2  # the retired pair does not count
    text = cleanup_sql(doc)
    assert "--where" in text
    engine = sa.create_engine(chdb_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("ALTER TABLE events UPDATE host = 'retired' WHERE id = 1 SETTINGS mutations_sync = 1")
    before = rows_of(chdb_url)
    with pytest.raises(SQLFailed, match="no longer matches --where"):
        apply_sql(chdb_url, text)
    assert rows_of(chdb_url) == before
    with engine.connect() as conn:
        conn.exec_driver_sql("ALTER TABLE events UPDATE host = 'a' WHERE id = 1 SETTINGS mutations_sync = 1")
    engine.dispose()
    apply_sql(chdb_url, text)
    assert [r[0] for r in rows_of(chdb_url)] == ["1", "3", "5", "6"]
