"""Cleanup, rollback and migration SQL, executed for real: psql on PostgreSQL, sqlite3 on SQLite."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from helpers import at, events_table, make_table
from race import create, duplicate_groups, race
from sqlrun import SQLFailed, apply_sql, digest, rows_of, scan_doc

from dupfinder import api
from dupfinder.remediate import cleanup_sql, migration_sql, rollback_sql
from dupfinder.sqltemplates import render_sql


def test_cleanup_deletes_losers_backs_them_up_and_rolls_back_exactly(db_url, runner):
    events_table(db_url, [(1, 7, 0.0, "a", "x"), (2, 7, 0.3, "b", "x"), (3, 7, 0.5, "c", "x"),
                          (4, 8, 0.0, "a", "x"), (5, 8, 0.2, "b", "DIFFERENT"), (6, 9, 0.0, "a", "x")])
    before = rows_of(db_url)
    doc = scan_doc(db_url, writers=["host=host"])
    runner(cleanup_sql(doc))
    after = rows_of(db_url)
    assert [r[0] for r in after] == ["1", "4", "5", "6"]  # earliest kept; divergent cluster untouched
    backup = [t for t in sa.inspect(sa.create_engine(db_url)).get_table_names() if t.startswith("dupfinder_backup")]
    assert len(backup) == 1
    assert rows_of(db_url, backup[0]) == [r for r in before if r[0] in ("2", "3")]
    runner(cleanup_sql(doc))  # a second run deletes nothing
    assert rows_of(db_url) == after
    assert rows_of(db_url, backup[0]) == [r for r in before if r[0] in ("2", "3")]
    runner(rollback_sql(doc))
    assert digest(rows_of(db_url)) == digest(before)
    runner(rollback_sql(doc))  # idempotent
    assert digest(rows_of(db_url)) == digest(before)


def test_keep_latest(db_url, runner):
    events_table(db_url, [(1, 7, 0.0), (2, 7, 0.3)])
    runner(cleanup_sql(scan_doc(db_url, keep="latest")))
    assert [r[0] for r in rows_of(db_url)] == ["2"]


def test_changed_row_aborts_and_deletes_nothing(db_url, runner):
    events_table(db_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0), (4, 8, 0.3)])
    doc = scan_doc(db_url)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET note = 'edited after the scan' WHERE id = 4")
    engine.dispose()
    before = rows_of(db_url)
    with pytest.raises(SQLFailed, match="changed since the scan|rows_changed_since_the_scan"):
        runner(cleanup_sql(doc))
    assert rows_of(db_url) == before


def test_quoted_identifiers_and_quote_in_key_values(db_url, runner):
    columns = [sa.Column("Order ID", sa.Integer, primary_key=True, autoincrement=False),
               sa.Column("group", sa.String(60)), sa.Column("Created At", sa.DateTime),
               sa.Column("select", sa.String(10))]
    hostile_value = "O'Brien \\ \n-- DROP TABLE x"
    make_table(db_url, "Order Lines", columns,
               [{"Order ID": 1, "group": hostile_value, "Created At": at(0), "select": "s"},
                {"Order ID": 2, "group": hostile_value, "Created At": at(0.1), "select": "s"},
                {"Order ID": 3, "group": "g'2", "Created At": at(0.0), "select": "s"},
                {"Order ID": 4, "group": "g'2", "Created At": at(0.1), "select": "t"}])
    doc = scan_doc(db_url, table="Order Lines", keys=["group"], ts="Created At")
    text = cleanup_sql(doc)
    assert "\n-- DROP TABLE x" not in text  # a value from the database never leaves its comment line
    runner(text)
    assert [r[0] for r in rows_of(db_url, "Order Lines")] == ["1", "3", "4"]
    runner(rollback_sql(doc))
    assert [r[0] for r in rows_of(db_url, "Order Lines")] == ["1", "2", "3", "4"]


def test_migration_preflight_fails_on_far_duplicates_then_adds_the_constraint(db_url, runner):
    events_table(db_url, [(1, 7, 0.0), (2, 7, 3600.0), (3, 8, 0.0)])
    dialect = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    migration = migration_sql(dialect, "events", ["account", "day"])
    with pytest.raises(SQLFailed, match="pre-flight|duplicates_remain_run_cleanup_first"):
        runner(migration)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM events WHERE id = 2")
    runner(migration)
    runner(migration)  # a second run changes nothing and does not fail
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO events (id, account, day, ts) VALUES (9, 7, '2026-11-02', NULL)")
    engine.dispose()


def test_invalid_leftover_index_is_replaced(pg_url, pg_server):
    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.3)])
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = "uq_events_account_day"
    with engine.connect() as conn:
        with pytest.raises(sa.exc.IntegrityError):
            conn.exec_driver_sql(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON events (account, day)")
        assert conn.exec_driver_sql("SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
                                    (name,)).scalar() is False
        conn.exec_driver_sql("DELETE FROM events WHERE id = 2")
    apply_sql(pg_url, migration_sql("postgresql", "events", ["account", "day"]), pg_server)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
                                    (name,)).scalar() is True
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_constraint WHERE conname = %s", (name,)).scalar() == 1
    engine.dispose()


def test_after_a_real_race_cleanup_then_migration_make_the_next_race_fail_loudly(pg_url, pg_server):
    create(pg_url, jobs=300)
    assert race(pg_url, {"host-a": 3, "host-b": 2}, stop_at=20) == []
    assert duplicate_groups(pg_url)
    before = rows_of(pg_url, "race_charges")
    doc = scan_doc(pg_url, table="race_charges", keys=["job_id"], ts="created_at",
                   writers=["host=host", "process=pid"])
    apply_sql(pg_url, cleanup_sql(doc), pg_server)
    assert duplicate_groups(pg_url) == {}
    survivors = {r[1]: r[0] for r in rows_of(pg_url, "race_charges")}
    for cluster in doc["tables"][0]["clusters"]:
        assert survivors[str(cluster["key"]["job_id"])] == str(cluster["rows"][0]["pk"]["id"])  # earliest kept
    second = apply_sql(pg_url, cleanup_sql(doc), pg_server)
    assert "nothing to delete" in second
    apply_sql(pg_url, rollback_sql(doc), pg_server)
    assert digest(rows_of(pg_url, "race_charges")) == digest(before)
    apply_sql(pg_url, cleanup_sql(doc), pg_server)
    apply_sql(pg_url, migration_sql("postgresql", "race_charges", ["job_id"]), pg_server)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE jobs SET claimed = false")
    engine.dispose()
    errors = race(pg_url, {"host-a": 3, "host-b": 2}, stop_at=20, seed=9)
    assert errors and all("unique" in str(e).lower() or "duplicate key" in str(e) for e in errors)
    assert duplicate_groups(pg_url) == {}


HOSTILE = 'we"ird; drop'


@pytest.mark.parametrize("dialect_name", ["postgresql", "sqlite", "mysql"])
def test_every_template_keeps_a_hostile_identifier_one_quoted_name(dialect_name):
    from dupfinder.remediate import dialect_for
    from dupfinder.sqltemplates import quote_table, resource_dir

    dialect = dialect_for(dialect_name)
    quoted = dialect.identifier_preparer.quote(HOSTILE)
    assert quoted != HOSTILE
    ctx = {"table": quote_table(dialect, HOSTILE), "keys": [HOSTILE], "ts": HOSTILE, "columns": [HOSTILE],
           "row_id": [], "key_aliases": ["c0"], "order_aliases": ["c0"], "since": True, "sample_percent": 0,
           "bounded": True, "far": True, "far_limit": 1000, "materialize": True, "window_us": ":window_us",
           "offset_us": ":offset_us", "since_bind": ":since", "where": "1 = 1", "ids": [HOSTILE], "aware": True}
    templates = [p.name for p in resource_dir("queries", "queries").glob("*.sql.j2")
                 # remediation templates are rendered below through their functions; commit_timestamps and
                 # standby_state have no identifiers
                 # and the child_keys, table_shape, row_estimate, partitions and writer_distinct catalog
                 # reads take the names as bind parameters
                 if not p.name.startswith(("_", "cleanup", "rollback", "migration", "commit_timestamps",
                                           "standby_state", "child_keys", "table_shape", "row_estimate", "partitions",
                                           "writer_distinct"))]
    rendered = [render_sql(name, dialect, **ctx) for name in templates]
    table = {"table": HOSTILE, "keys": [HOSTILE], "ts_column": "ts", "primary_key": ["id"], "dialect": dialect_name,
             "columns": [{"name": "id"}, {"name": HOSTILE}, {"name": "ts"}], "writer_columns": [],
             "clusters": [{"key": {HOSTILE: "v"}, "payload": "identical", "differing_columns": [],
                           "rows": [{"pk": {"id": 1}}, {"pk": {"id": 2}}]}]}
    doc = {"tables": [table], "scanned_at": "2026-11-03T02:30:00"}
    rendered += [cleanup_sql(doc), rollback_sql(doc)]
    rendered.append(migration_sql(dialect_name, HOSTILE, [HOSTILE]))
    for sql in rendered:
        assert quoted in sql
        stripped = sql.replace(quoted, "")
        # outside its quoted form, the hostile text may only appear inside SQL comments or string literals
        without_literals = re.sub(r"'(?:[^']|'')*'", "''", stripped)
        for line in without_literals.splitlines():
            code = line.split("--")[0]
            assert "ird; drop" not in code, line


def test_demo_cleanup_rollback_and_migration_apply_to_the_demo_database(tmp_path):
    outputs = api.demo(tmp_path / "d")
    url = f"sqlite:///{tmp_path / 'd' / 'demo.db'}"
    tables = [t["table"] for t in outputs.findings["tables"]]
    before = {t: digest(rows_of(url, t)) for t in tables}
    apply_sql(url, (tmp_path / "d" / "cleanup.sql").read_text())
    for t in outputs.findings["tables"]:
        assert len(rows_of(url, t["table"])) == t["rows_scanned"] - t["rows_to_delete"]
    apply_sql(url, (tmp_path / "d" / "rollback.sql").read_text())
    assert {t: digest(rows_of(url, t)) for t in tables} == before
    # cleanup, then the migration: it applies cleanly, holding back only the table with duplicates that
    # need a person (recon_summary's far duplicate and divergent cluster)
    apply_sql(url, (tmp_path / "d" / "cleanup.sql").read_text())
    migration = (tmp_path / "d" / "migration.sql").read_text()
    assert "held back (duplicates cleanup.sql does not remove): \"recon_summary\"" in migration
    apply_sql(url, migration)
    engine = sa.create_engine(url)
    unique = {t: [i["column_names"] for i in sa.inspect(engine).get_indexes(t) if i["unique"]] for t in tables}
    engine.dispose()
    held = {t["table"] for t in outputs.findings["tables"] if t["far_duplicates"] or t["divergent_clusters"]}
    assert held == {"recon_summary"}
    for t in outputs.findings["tables"]:
        assert (t["keys"] in unique[t["table"]]) == (t["table"] not in held), (t["table"], unique[t["table"]])


def test_cleanup_and_migrate_commands(db_url, tmp_path):
    from click.testing import CliRunner

    from dupfinder.cli import main

    events_table(db_url, [(1, 7, 0.0), (2, 7, 0.3)])
    out = tmp_path / "out"
    CliRunner().invoke(main, ["scan", db_url, "--table", "events", "--key", "account", "--ts", "ts", "--out", str(out)])
    result = CliRunner().invoke(main, ["cleanup", str(out / "findings.json"), "-o", str(tmp_path / "cleanup.sql")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cleanup.sql").read_text() == (out / "cleanup.sql").read_text()
    assert (tmp_path / "rollback.sql").read_text() == (out / "rollback.sql").read_text()
    result = CliRunner().invoke(main, ["migrate", db_url, "--table", "events", "--key", "account"])
    assert result.exit_code == 0 and "UNIQUE" in result.output
    result = CliRunner().invoke(main, ["migrate", db_url, "--table", "events", "--key", "acount"])
    assert result.exit_code == 2 and "similar name: account" in result.output
    result = CliRunner().invoke(main, ["cleanup", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "not found" in result.output


def test_each_dialect_renders_with_its_own_quoting_in_one_process():
    """Templates are cached per dialect; each dialect must keep its own identifier filter."""
    from dupfinder.remediate import dialect_for

    rendered = {name: render_sql("row_count.sql.j2", dialect_for(name), table="t", ts="x")
                for name in ("postgresql", "mysql", "sqlite")}
    again = {name: render_sql("latest_rows_start.sql.j2", dialect_for(name), table="t", ts="Created At")
             for name in ("mysql", "postgresql", "sqlite")}
    assert "`Created At`" in again["mysql"]
    assert '"Created At"' in again["postgresql"] and '"Created At"' in again["sqlite"]
    assert all("count(*)" in text for text in rendered.values())


def test_cleanup_table_limits_the_files_to_the_tables_named(db_url, runner, tmp_path):
    """`dupfinder cleanup` was all or nothing: one file for every table of the config. With --table it writes
    the named tables' transactions only; run for real, the other table keeps its copies; an unknown name is one
    line and exit 2, nothing written."""
    from click.testing import CliRunner

    from dupfinder.cli import main

    for name in ("alpha", "beta", "gamma"):
        events_table(db_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)], name=name)
    config = tmp_path / "t.toml"
    config.write_text("".join(f'[[table]]\nname = "{n}"\nkeys = ["account"]\nts = "ts"\n'
                              for n in ("alpha", "beta", "gamma")))
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["scan", db_url, "--config", str(config), "--out", str(out), "-q"]).exit_code == 1
    before = {n: rows_of(db_url, n) for n in ("alpha", "beta", "gamma")}
    result = CliRunner().invoke(main, ["cleanup", str(out / "findings.json"), "--table", "gamma", "--table", "alpha",
                                       "-o", str(tmp_path / "some.sql")])
    assert result.exit_code == 0, result.output
    cleanup, rollback = (tmp_path / "some.sql").read_text(), (tmp_path / "some.rollback.sql").read_text()
    assert '"alpha"' in cleanup and '"gamma"' in cleanup and '"beta"' not in cleanup + rollback
    runner(cleanup)
    assert [[r[0] for r in rows_of(db_url, n)] for n in ("alpha", "beta", "gamma")] == [["1", "3"], ["1", "2", "3"],
                                                                                        ["1", "3"]]
    runner(rollback)
    assert {n: rows_of(db_url, n) for n in ("alpha", "beta", "gamma")} == before
    wrong = CliRunner().invoke(main, ["cleanup", str(out / "findings.json"), "--table", "betta",
                                      "-o", str(tmp_path / "none.sql")])
    assert wrong.exit_code == 2 and wrong.output.strip().splitlines() == [
        "Error: table 'betta' is not in the findings; tables with a similar name: beta"], wrong.output
    assert not (tmp_path / "none.sql").exists()
