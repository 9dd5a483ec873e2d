"""--id COL: rows identified by named columns where there is no primary key or row id; checked unique by the
scan, used in the findings and by the cleanup (executed on MariaDB, which has no row id, and on DuckDB)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table, ts_type
from sqlrun import apply_sql, rows_of, scan_doc

from dupfinder.cli import main
from dupfinder.errors import UsageError
from dupfinder.remediate import cleanup_sql, rollback_sql


def _no_pk_table(url: str, rows: list[tuple]) -> None:
    """events without a primary key: (event_id, account, seconds, host, note)."""
    make_table(url, "events", [sa.Column("event_id", sa.String(20)), sa.Column("account", sa.Integer),
                               sa.Column("day", sa.String(10)), sa.Column("ts", ts_type()),
                               sa.Column("host", sa.String(20)), sa.Column("note", sa.String(20))],
               [{"event_id": r[0], "account": r[1], "day": "2026-11-02", "ts": at(r[2]), "host": r[3], "note": r[4]}
                for r in rows])


ROWS = [("e1", 7, 0.0, "a", "x"), ("e2", 7, 0.3, "b", "x"), ("e3", 8, 0.0, "a", "x"), ("e4", 8, 0.1, "b", "y")]


def test_without_id_a_table_without_identity_is_refused_with_the_way_out(mariadb_url):
    _no_pk_table(mariadb_url, ROWS)
    with pytest.raises(UsageError, match="--id COL"):
        scan_doc(mariadb_url)


def test_id_columns_identify_rows_in_findings_and_cleanup_on_mariadb(mariadb_url):
    _no_pk_table(mariadb_url, ROWS)
    doc = scan_doc(mariadb_url, ids=["event_id"], writers=["host=host"])
    table = doc["tables"][0]
    assert table["id_columns"] == ["event_id"]
    clusters = table["clusters"]
    assert [[r["pk"] for r in c["rows"]] for c in clusters] == [[{"event_id": "e1"}, {"event_id": "e2"}],
                                                                [{"event_id": "e3"}, {"event_id": "e4"}]]
    # the id is not payload: e1/e2 are identical, e3/e4 differ in note only
    assert [c["payload"] for c in clusters] == ["identical", "divergent"]
    assert [c["differing_columns"] for c in clusters][1] == ["note"]
    apply_sql(mariadb_url, cleanup_sql(doc))
    assert sorted(r[0] for r in rows_of(mariadb_url)) == ["e1", "e3", "e4"]
    apply_sql(mariadb_url, rollback_sql(doc))
    assert sorted(r[0] for r in rows_of(mariadb_url)) == ["e1", "e2", "e3", "e4"]


def test_id_columns_that_repeat_are_refused_before_anything_is_written(mariadb_url, tmp_path):
    _no_pk_table(mariadb_url, [*ROWS, ("e2", 9, 5.0, "a", "x")])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--ts", "ts", "--id", "event_id", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "does not identify a row" in result.output and "event_id='e2'" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_several_id_columns_and_a_missing_one(duckdb_url):
    make_table(duckdb_url, "events", [sa.Column("batch", sa.Integer), sa.Column("seq", sa.Integer),
                                      sa.Column("account", sa.Integer), sa.Column("day", sa.String(10)),
                                      sa.Column("ts", sa.DateTime)],
               [{"batch": 1, "seq": 1, "account": 7, "day": "d", "ts": at(0)},
                {"batch": 2, "seq": 1, "account": 7, "day": "d", "ts": at(0.2)}])
    doc = scan_doc(duckdb_url, ids=["batch", "seq"])
    assert doc["tables"][0]["row_id"] is None
    assert [r["pk"] for r in doc["tables"][0]["clusters"][0]["rows"]] == [{"batch": 1, "seq": 1},
                                                                         {"batch": 2, "seq": 1}]
    apply_sql(duckdb_url, cleanup_sql(doc))
    assert [r[:2] for r in rows_of(duckdb_url)] == [("1", "1")]
    apply_sql(duckdb_url, rollback_sql(doc))
    assert sorted(r[:2] for r in rows_of(duckdb_url)) == [("1", "1"), ("2", "1")]
    result = CliRunner().invoke(main, ["scan", duckdb_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--id", "nope"])
    assert result.exit_code == 2 and "--id column 'nope' not found" in result.output


def test_id_in_a_config_file(sqlite_url, tmp_path):
    _no_pk_table(sqlite_url, ROWS)
    config = tmp_path / "dupfinder.toml"
    config.write_text(f'database = {json.dumps(sqlite_url)}\n[[table]]\nname = "events"\nkeys = ["account", "day"]\n'
                      'ts = "ts"\nid = "event_id"\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", "--config", str(config), "--out", str(out), "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads((out / "findings.json").read_text())
    assert doc["tables"][0]["id_columns"] == ["event_id"] and doc["tables"][0]["row_id"] is None


@pytest.mark.parametrize("engine", ["sqlite_url", "pg_url", "duckdb_url", "mariadb_url", "chdb_url"])
def test_a_cluster_holding_a_null_id_is_left_out_of_cleanup_and_the_rest_is_cleaned(request, engine, tmp_path):
    """A row whose --id is NULL (a legacy row) inside a cluster: no ``WHERE event_id = ...`` finds it, so the
    guard, the delete and the rollback cannot name it. The scan stopped writing its files at cleanup.sql with
    "a row's pk holds a null" (exit 2, findings.json alone written). Now that cluster is left out with a comment
    and a note, the other cluster is cleaned and rolled back, and every file runs."""
    url = request.getfixturevalue(engine)
    _no_pk_table(url, [("e1", 7, 0.0, "a", "x"), (None, 7, 0.3, "b", "x"), *ROWS[2:3], ("e4", 8, 0.1, "b", "x")])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", url, "--table", "events", "--key", "account", "--key", "day",
                                       "--ts", "ts", "--id", "event_id", "--writer", "host=host", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "1 identical cluster holds a row whose --id event_id is NULL" in result.output, result.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    assert table["rows_to_delete"] == 1 and any("is NULL" in n for n in table["notes"])
    gated = CliRunner().invoke(main, ["scan", url, "--table", "events", "--key", "account", "--key", "day", "--ts",
                                      "ts", "--id", "event_id", "--writer", "host=host", "--format", "summary"])
    assert json.loads(gated.output)["totals"]["delete"] == 1, gated.output
    cleanup = (out / "cleanup.sql").read_text()
    assert 'NOT DELETED (a row\'s "--id event_id" is NULL' in cleanup and '{"event_id": null}' in cleanup
    before, server = sorted(rows_of(url)), request.getfixturevalue("pg_server") if engine == "pg_url" else None
    apply_sql(url, cleanup, server)
    assert sorted(r[0] for r in rows_of(url)) == ["None", "e1", "e3"]
    apply_sql(url, (out / "migration.sql").read_text(), server)
    held = "not migrated yet: 1 cluster with a NULL --id event_id" in (out / "migration.sql").read_text()
    assert held or engine == "chdb_url"  # ClickHouse has no UNIQUE migration at all
    apply_sql(url, (out / "rollback.sql").read_text(), server)
    assert sorted(rows_of(url)) == before


def test_a_sqlite_primary_key_holding_a_null_is_left_out_the_same_way(sqlite_url, tmp_path):
    """SQLite lets a primary key that is not an INTEGER PRIMARY KEY hold a NULL: the same left-out cluster,
    named by its primary key, and the files run."""
    from helpers import run_statements

    run_statements(sqlite_url, "CREATE TABLE ev (code TEXT PRIMARY KEY, account INTEGER, ts DATETIME, note TEXT)",
                   "INSERT INTO ev VALUES ('a', 7, '2026-11-02 10:00:00.000', 'x'), "
                   "(NULL, 7, '2026-11-02 10:00:00.300', 'x'), ('c', 8, '2026-11-02 10:00:00', 'x'), "
                   "('d', 8, '2026-11-02 10:00:00.100', 'x')")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "ev", "--key", "account", "--ts", "ts",
                                       "--out", str(out)])
    assert result.exit_code == 1 and "holds a row whose primary key code is NULL" in result.output, result.output
    before = sorted(rows_of(sqlite_url, "ev"))
    apply_sql(sqlite_url, (out / "cleanup.sql").read_text())
    assert sorted(r[0] for r in rows_of(sqlite_url, "ev")) == ["None", "a", "c"]
    apply_sql(sqlite_url, (out / "migration.sql").read_text())
    apply_sql(sqlite_url, (out / "rollback.sql").read_text())
    assert sorted(rows_of(sqlite_url, "ev")) == before
