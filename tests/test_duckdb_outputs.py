"""DuckDB: --out writes every file, and the cleanup, rollback and migration it writes run on DuckDB itself
(through the duckdb Python API, as a person would run them)."""

from __future__ import annotations

import duckdb
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, events_table, make_table
from sqlrun import SQLFailed, apply_sql, digest, scan_doc

from dupfinder.cli import main
from dupfinder.remediate import cleanup_sql, migration_sql, rollback_sql

FILES = {"findings.json", "report.html", "cleanup.sql", "rollback.sql", "migration.sql", "verify.sql"}


def rows(url: str, table: str = "events") -> list[tuple]:
    conn = duckdb.connect(sa.make_url(url).database, read_only=True)
    try:
        return [tuple(map(str, r)) for r in conn.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()]
    finally:
        conn.close()


def tables(url: str) -> list[str]:
    conn = duckdb.connect(sa.make_url(url).database, read_only=True)
    try:
        return [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    finally:
        conn.close()


def test_out_writes_every_file(duckdb_url, tmp_path):
    events_table(duckdb_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", duckdb_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--ts", "ts", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert {p.name for p in out.iterdir()} >= FILES
    assert "no SQL generator" not in result.output
    assert "error(" in (out / "cleanup.sql").read_text()


def test_cleanup_rollback_cycles_on_duckdb(duckdb_url):
    events_table(duckdb_url, [(1, 7, 0.0, "a", "x"), (2, 7, 0.3, "b", "x"), (3, 7, 0.5, "c", "x"),
                              (4, 8, 0.0, "a", "x"), (5, 8, 0.2, "b", "DIFFERENT"), (6, 9, 0.0, "a", "x")])
    before = rows(duckdb_url)
    doc = scan_doc(duckdb_url, writers=["host=host"])
    for _ in range(2):  # cleanup -> rollback -> cleanup -> rollback
        apply_sql(duckdb_url, cleanup_sql(doc))
        assert [r[0] for r in rows(duckdb_url)] == ["1", "4", "5", "6"]  # divergent cluster untouched
        backup = [t for t in tables(duckdb_url) if t.startswith("dupfinder_backup")]
        assert len(backup) == 1 and [r[0] for r in rows(duckdb_url, backup[0])] == ["2", "3"]
        apply_sql(duckdb_url, cleanup_sql(doc))  # a second run deletes nothing
        assert [r[0] for r in rows(duckdb_url)] == ["1", "4", "5", "6"]
        apply_sql(duckdb_url, rollback_sql(doc))
        assert digest(rows(duckdb_url)) == digest(before)
        apply_sql(duckdb_url, rollback_sql(doc))  # idempotent
        assert digest(rows(duckdb_url)) == digest(before)


def test_cleanup_by_rowid_without_a_primary_key(duckdb_url):
    make_table(duckdb_url, "events", [sa.Column("account", sa.Integer), sa.Column("day", sa.String(10)),
                                      sa.Column("ts", sa.DateTime), sa.Column("host", sa.String(20))],
               [{"account": a, "day": "2026-11-02", "ts": at(s), "host": h}
                for a, s, h in [(7, 0.0, "a"), (7, 0.3, "b"), (8, 0.0, "a"), (7, 0.4, "c")]])
    before = rows(duckdb_url)
    doc = scan_doc(duckdb_url, writers=["host=host"])
    assert doc["tables"][0]["row_id"] == "rowid"
    apply_sql(duckdb_url, cleanup_sql(doc))
    assert sorted((r[0], r[3]) for r in rows(duckdb_url)) == [("7", "a"), ("8", "a")]
    apply_sql(duckdb_url, cleanup_sql(doc))  # a second run deletes nothing more
    assert len(rows(duckdb_url)) == 2
    apply_sql(duckdb_url, rollback_sql(doc))
    assert sorted(rows(duckdb_url)) == sorted(before)
    apply_sql(duckdb_url, rollback_sql(doc))  # the backup was emptied: nothing twice
    assert sorted(rows(duckdb_url)) == sorted(before)


def test_changed_row_or_missing_survivor_aborts_and_deletes_nothing(duckdb_url):
    events_table(duckdb_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0), (4, 8, 0.3)])
    doc = scan_doc(duckdb_url)
    conn = duckdb.connect(sa.make_url(duckdb_url).database)
    conn.execute("UPDATE events SET note = 'edited after the scan' WHERE id = 4")
    conn.close()
    before = rows(duckdb_url)
    with pytest.raises(SQLFailed, match="rows_changed_since_the_scan"):
        apply_sql(duckdb_url, cleanup_sql(doc))
    assert rows(duckdb_url) == before
    assert not [t for t in tables(duckdb_url) if t.startswith("dupfinder_backup")]  # the DDL rolled back too


def test_hostile_names_and_values(duckdb_url):
    columns = [sa.Column("Order ID", sa.Integer, primary_key=True, autoincrement=False),
               sa.Column("gr\"oup", sa.String(60)), sa.Column("Created At", sa.DateTime(timezone=True))]
    hostile = "O'Brien \\ \n-- DROP TABLE x"
    make_table(duckdb_url, 'we"ird; drop', columns,
               [{"Order ID": 1, "gr\"oup": hostile, "Created At": at(0, True)},
                {"Order ID": 2, "gr\"oup": hostile, "Created At": at(0.1, True)}])
    doc = scan_doc(duckdb_url, table='we"ird; drop', keys=['gr"oup'], ts="Created At")
    text = cleanup_sql(doc)
    assert "\n-- DROP TABLE x" not in text
    apply_sql(duckdb_url, text)
    assert [r[0] for r in rows(duckdb_url, 'we""ird; drop')] == ["1"]
    apply_sql(duckdb_url, rollback_sql(doc))
    assert [r[0] for r in rows(duckdb_url, 'we""ird; drop')] == ["1", "2"]


def test_migration_runs_on_duckdb(duckdb_url):
    events_table(duckdb_url, [(1, 7, 0.0), (2, 7, 3600.0), (3, 8, 0.0)])
    migration = migration_sql("duckdb", "events", ["account", "day"])
    with pytest.raises(SQLFailed, match="duplicates_remain_run_cleanup_first"):
        apply_sql(duckdb_url, migration)
    conn = duckdb.connect(sa.make_url(duckdb_url).database)
    conn.execute("DELETE FROM events WHERE id = 2")
    conn.close()
    apply_sql(duckdb_url, migration)
    apply_sql(duckdb_url, migration)  # a second run changes nothing
    with pytest.raises(SQLFailed, match="(?i)duplicate key"):
        apply_sql(duckdb_url, "INSERT INTO events (id, account, day) VALUES (9, 7, '2026-11-02')")


@pytest.mark.parametrize("found", [False, True], ids=["clean", "clusters"])
def test_a_scan_process_leaves_stderr_empty(duckdb_url, tmp_path, found):
    """A DuckDB scan run as its own process writes nothing on stderr: the start-up objects the scan froze out
    of the collector are unfrozen at exit, else DuckDB's extension reported them as some 60 lines of
    "nanobind: leaked ..." after every scan (in a CI log, beside the JUnit file)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    events_table(duckdb_url, [(1, 7, 0.0), (2, 7, 0.3 if found else 30.0), (3, 8, 0.0)])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "dupfinder", "scan", duckdb_url, "--table", "events", "--key",
                           "account", "--ts", "ts", "--format", "summary"], cwd=Path(__file__).resolve().parent.parent,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == (1 if found else 0), done.stderr[-2000:]
    assert '"verdict"' in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("pk", [True, False], ids=["primary key", "rowid"])
def test_map_columns_are_compared_and_cleaned(duckdb_url, pk):
    """A MAP column (alone or inside a STRUCT) is compared as JSON: its JSON text from the findings does not cast
    back to a MAP, so the cleanup stopped with a conversion error and deleted nothing."""
    conn = duckdb.connect(sa.make_url(duckdb_url).database)
    conn.execute(f"CREATE TABLE events (id INTEGER {'PRIMARY KEY' if pk else ''}, account INTEGER, day VARCHAR, "
                 "ts TIMESTAMP, props MAP(VARCHAR, INTEGER), meta STRUCT(m MAP(INTEGER, VARCHAR), n INTEGER))")
    conn.execute("""INSERT INTO events VALUES
        (1, 7, '2026-11-02', '2026-11-02 02:00:00', MAP {'k''1': 1, 'ü': NULL}, {'m': MAP {1: 'a'}, 'n': 2}),
        (1, 7, '2026-11-02', '2026-11-02 02:00:00.3', MAP {'k''1': 1, 'ü': NULL}, {'m': MAP {1: 'a'}, 'n': 2}),
        (3, 8, '2026-11-02', '2026-11-02 02:00:00', MAP {'x': 1}, NULL),
        (3, 8, '2026-11-02', '2026-11-02 02:00:00.2', MAP {'x': 1}, NULL)""" if not pk else
                 """INSERT INTO events VALUES
        (1, 7, '2026-11-02', '2026-11-02 02:00:00', MAP {'k''1': 1, 'ü': NULL}, {'m': MAP {1: 'a'}, 'n': 2}),
        (2, 7, '2026-11-02', '2026-11-02 02:00:00.3', MAP {'k''1': 1, 'ü': NULL}, {'m': MAP {1: 'a'}, 'n': 2}),
        (3, 8, '2026-11-02', '2026-11-02 02:00:00', MAP {'x': 1}, NULL),
        (4, 8, '2026-11-02', '2026-11-02 02:00:00.2', MAP {'x': 1}, NULL)""")
    conn.close()
    before = rows(duckdb_url)
    doc = scan_doc(duckdb_url)
    assert doc["tables"][0]["rows_to_delete"] == 2
    apply_sql(duckdb_url, cleanup_sql(doc))
    assert [r[3] for r in rows(duckdb_url)] == ["2026-11-02 02:00:00"] * 2  # the earliest of each cluster left
    apply_sql(duckdb_url, rollback_sql(doc))
    assert digest(rows(duckdb_url)) == digest(before)
    conn = duckdb.connect(sa.make_url(duckdb_url).database)
    conn.execute("UPDATE events SET props = MAP {'x': 2} WHERE ts = '2026-11-02 02:00:00.2'")
    conn.close()
    with pytest.raises(SQLFailed, match="rows_changed_since_the_scan|changed since the scan"):
        apply_sql(duckdb_url, cleanup_sql(doc))
    assert len(rows(duckdb_url)) == 4


def test_a_missing_table_lists_the_files_tables_once(duckdb_url):
    """duckdb-engine names the file's own schema '<db>.main': the error listed every table a second time as
    'other schemas 1: test.main.events', as if another schema held it."""
    events_table(duckdb_url, [(1, 7, 0.0)])
    result = CliRunner().invoke(main, ["scan", duckdb_url, "--table", "nope", "--key", "account", "--ts", "ts"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: table 'nope' not found; the default schema has 1 table: events"


def test_discover_offers_no_list_struct_or_map_as_a_key(duckdb_url):
    """A list, struct or map column holds the row's details: discover offered each as an 'also possible' key."""
    from dupfinder.discover import discover

    conn = duckdb.connect(sa.make_url(duckdb_url).database)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ref VARCHAR, ts TIMESTAMP, tags VARCHAR[], "
                 "attrs STRUCT(a INTEGER), props MAP(VARCHAR, INTEGER))")
    conn.execute("INSERT INTO events SELECT i, 'r' || (i % 20), TIMESTAMP '2026-11-02 02:00:00' + "
                 "to_milliseconds(CASE WHEN i < 20 THEN i * 60000 ELSE (i - 20) * 60000 + 300 END), ['t' || i % 20], "
                 "{'a': i % 20}, MAP {'k': i % 20} FROM range(25) AS r(i)")
    conn.close()
    (proposal,) = discover(duckdb_url)
    assert proposal.keys == ("ref",)
    assert not any(c in a for a in proposal.alternatives for c in ("tags", "attrs", "props")), proposal.alternatives
