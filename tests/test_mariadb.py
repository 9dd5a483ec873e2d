"""MariaDB executed for real: a throwaway mariadbd started by the suite (tests/mariadb_server.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import at, cluster_ids, events_table, make_table, scan_one, ts_type
from sqlrun import SQLFailed, apply_sql, digest, rows_of, scan_doc

from dupfinder.remediate import cleanup_sql, migration_sql, rollback_sql

CASES = sorted(Path(__file__).parent.joinpath("cases").glob("*.json"))


@pytest.mark.parametrize("aware", [False, True], ids=["datetime", "timestamp"])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case_on_mariadb(case, aware, mariadb_url):
    spec = json.loads(case.read_text())
    events_table(mariadb_url, [tuple(r) for r in spec["rows"]], aware=aware)
    result = scan_one(mariadb_url, window=spec["window"])
    expect = spec["expect"]
    assert cluster_ids(result) == expect["clusters"], spec["description"]
    assert result.far_total == expect["far_duplicates"]
    for field in ("rows_null_key", "rows_null_ts", "rows_scanned"):
        if field in expect:
            assert getattr(result.stats, field) == expect[field]


def test_cleanup_rollback_cleanup_cycles_and_guards(mariadb_url):
    events_table(mariadb_url, [(1, 7, 0.0, "a", "x"), (2, 7, 0.3, "b", "x"), (3, 7, 0.5, "c", "x"),
                               (4, 8, 0.0, "a", "x"), (5, 8, 0.2, "b", "DIFFERENT"), (6, 9, 0.0, "a", "x")])
    before = rows_of(mariadb_url)
    doc = scan_doc(mariadb_url, writers=["host=host"])
    assert doc["tables"][0]["dialect"] in ("mysql", "mariadb")
    for _ in range(2):  # cleanup -> rollback -> cleanup: the backup already holds the rows the second time
        out = apply_sql(mariadb_url, cleanup_sql(doc))
        assert "deleted 2 of 2" in out
        assert [r[0] for r in rows_of(mariadb_url)] == ["1", "4", "5", "6"]
        assert "deleted 0 of 2" in apply_sql(mariadb_url, cleanup_sql(doc))  # a second run deletes nothing
        backup = [t for t in _tables(mariadb_url) if t.startswith("dupfinder_backup")]
        assert len(backup) == 1
        assert rows_of(mariadb_url, backup[0]) == [r for r in before if r[0] in ("2", "3")]
        apply_sql(mariadb_url, rollback_sql(doc))
        assert digest(rows_of(mariadb_url)) == digest(before)
        apply_sql(mariadb_url, rollback_sql(doc))  # idempotent
        assert digest(rows_of(mariadb_url)) == digest(before)


def test_changed_row_aborts_the_cleanup(mariadb_url):
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0), (4, 8, 0.3)])
    doc = scan_doc(mariadb_url)
    _execute(mariadb_url, "UPDATE events SET note = 'edited after the scan' WHERE id = 4")
    before = rows_of(mariadb_url)
    with pytest.raises(SQLFailed, match="rows_changed_since_the_scan"):
        apply_sql(mariadb_url, cleanup_sql(doc))
    assert rows_of(mariadb_url) == before


def test_survivor_gone_aborts_the_cleanup(mariadb_url):
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    doc = scan_doc(mariadb_url)
    _execute(mariadb_url, "DELETE FROM events WHERE id = 1")
    with pytest.raises(SQLFailed, match="rows_changed_since_the_scan"):
        apply_sql(mariadb_url, cleanup_sql(doc))
    assert [r[0] for r in rows_of(mariadb_url)] == ["2"]


def test_quoted_identifiers_and_hostile_values(mariadb_url):
    columns = [sa.Column("Order ID", sa.Integer, primary_key=True, autoincrement=False),
               sa.Column("group", sa.String(60)), sa.Column("Created At", ts_type()),
               sa.Column("select", sa.String(10))]
    hostile = "O'Brien \\ \n-- DROP TABLE x`"
    make_table(mariadb_url, "Order`Lines", columns,
               [{"Order ID": 1, "group": hostile, "Created At": at(0), "select": "s"},
                {"Order ID": 2, "group": hostile, "Created At": at(0.1), "select": "s"},
                {"Order ID": 3, "group": "g'2", "Created At": at(0.0), "select": "s"},
                {"Order ID": 4, "group": "g'2", "Created At": at(0.1), "select": "t"}])
    doc = scan_doc(mariadb_url, table="Order`Lines", keys=["group"], ts="Created At")
    apply_sql(mariadb_url, cleanup_sql(doc))
    assert [r[0] for r in rows_of(mariadb_url, "Order`Lines")] == ["1", "3", "4"]
    apply_sql(mariadb_url, rollback_sql(doc))
    assert [r[0] for r in rows_of(mariadb_url, "Order`Lines")] == ["1", "2", "3", "4"]


def test_migration_preflight_then_constraint_and_a_second_run_is_a_no_op(mariadb_url):
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 3600.0), (3, 8, 0.0)])
    migration = migration_sql("mysql", "events", ["account", "day"])
    with pytest.raises(SQLFailed, match="duplicates_remain_run_cleanup_first"):
        apply_sql(mariadb_url, migration)
    _execute(mariadb_url, "DELETE FROM events WHERE id = 2")
    apply_sql(mariadb_url, migration)
    apply_sql(mariadb_url, migration)  # idempotent: the index exists already
    with pytest.raises(sa.exc.IntegrityError):
        _execute(mariadb_url, "INSERT INTO events (id, account, day, ts) VALUES (9, 7, '2026-11-02', NULL)")


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _execute(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
