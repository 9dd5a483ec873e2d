"""scan --where: a row filter for tables whose rows do not all count (soft deletes, one tenant, one status).

The predicate is the user's SQL: refused beforehand when it could end early or run anything besides itself,
run on the table (reading no row) before the scan reads anything, applied by every statement that reads the
table, recorded in findings.json, and checked again by cleanup.sql's guard at cleanup time. Real SQLite,
PostgreSQL, DuckDB and MariaDB; every generated file that changes data is executed."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table, ts_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlrun import SQLFailed, apply_sql, digest, rows_of

from dupfinder import api
from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec
from dupfinder.errors import UsageError
from dupfinder.findings import findings_dict
from dupfinder.remediate import cleanup_sql, migration_sql_for_findings, rollback_sql

LIVE = "deleted_at IS NULL"
DELETED = at(86400 * 2)  # support soft-deleted some copies two days later
DAY = 86400

# (id, account, seconds after T0, soft-deleted): live pairs 1-2 and 10-11 are clusters either way; 3-4 and 5-6
# are pairs only while their soft-deleted copy counts, 7-8 a far duplicate only then, 9 a NULL key only then, and
# 12 a third copy of account 6 only then
ROWS = [(1, 1, 0.0, False), (2, 1, 0.3, False), (3, 2, 10.0, False), (4, 2, 10.2, True),
        (5, 3, 20.0, True), (6, 3, 20.4, False), (7, 4, 30.0, False), (8, 4, 30.0 + DAY, True),
        (9, None, 35.0, True), (10, 6, 40.0, False), (11, 6, 40.1, False), (12, 6, 40.2, True)]
LIVE_IDS = {r[0] for r in ROWS if not r[3]}


def _charges(url: str, status: dict[int, str] | None = None) -> sa.Table:
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("day", sa.String(10)), sa.Column("ts", ts_type()), sa.Column("amount", sa.Integer),
               sa.Column("status", sa.String(10)), sa.Column("deleted_at", ts_type())]
    return make_table(url, "charges", columns, [
        {"id": i, "account": a, "day": "2026-11-02", "ts": at(s), "amount": 500,
         "status": (status or {}).get(i, "paid"), "deleted_at": DELETED if gone else None}
        for i, a, s, gone in ROWS])


def _scan(url: str, **spec) -> dict:
    spec = {"table": "charges", "keys": ["account", "day"], "ts": "ts", **spec}
    return findings_dict(api.scan(ScanOptions(url=url, tables=(table_spec(**spec),))))


def _clusters(table: dict) -> list[list[int]]:
    return sorted(sorted(r["pk"]["id"] for r in c["rows"]) for c in table["clusters"])


def test_soft_deleted_copies_count_only_without_where(any_url):
    """Pairs a soft delete resolved were clusters (exit 1, the report, verify.sql): with --where they are not,
    and the far duplicate, the NULL key and the third copy written by a row now deleted go with them."""
    _charges(any_url)
    every = _scan(any_url)["tables"][0]
    assert _clusters(every) == [[1, 2], [3, 4], [5, 6], [10, 11, 12]]
    assert (every["rows_scanned"], every["far_duplicates"], every["rows_null_key"]) == (12, 1, 1)
    assert "where" not in every

    live = _scan(any_url, where=LIVE)["tables"][0]
    assert _clusters(live) == [[1, 2], [10, 11]]
    assert (live["rows_scanned"], live["far_duplicates"], live["rows_null_key"]) == (len(LIVE_IDS), 0, 0)
    assert live["where"] == LIVE
    assert any("only rows where deleted_at IS NULL were read" in n for n in live["notes"])


def test_where_with_since_reads_the_rows_both_keep(db_url):
    """--since and --where together: the bound's rows that match the predicate, in detection and statistics."""
    _charges(db_url)
    live = _scan(db_url, where=LIVE, since="2026-11-03T02:30:15")["tables"][0]
    assert _clusters(live) == [[10, 11]]
    assert live["rows_scanned"] == 4  # from 15 s less the window: ids 6, 7, 10 and 11 (5, 8, 9, 12 deleted)
    every = _scan(db_url, since="2026-11-03T02:30:15")["tables"][0]
    assert _clusters(every) == [[5, 6], [10, 11, 12]]


def test_where_on_mariadb(mariadb_url):
    """MySQL/MariaDB: the filter in every statement, cleanup.sql deletes the live losers only, and migration.sql
    is held back (no partial unique index)."""
    _charges(mariadb_url)
    doc = _scan(mariadb_url, where=LIVE)
    assert _clusters(doc["tables"][0]) == [[1, 2], [10, 11]]
    migration = migration_sql_for_findings(doc)
    assert "not migrated: the scan read only the rows where" in migration
    assert "ADD UNIQUE" not in migration and "CREATE UNIQUE" not in migration
    apply_sql(mariadb_url, cleanup_sql(doc))  # the guard's re-check runs on MariaDB too
    assert {int(r[0]) for r in rows_of(mariadb_url, "charges")} == {r[0] for r in ROWS} - {2, 11}


def test_outputs_say_the_scan_was_filtered(db_url, tmp_path):
    """findings.json records the predicate, the text and the report say it, verify.sql returns only rows that
    match it, and migration.sql is the partial unique index on it."""
    _charges(db_url)
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["scan", db_url, "--table", "charges", "--key", "account", "--key", "day",
                                     "--ts", "ts", "--where", LIVE, "--out", str(out)])
    assert done.exit_code == 1, done.output
    assert f"{len(LIVE_IDS)} rows scanned (only rows where {LIVE})" in done.output
    assert json.loads((out / "findings.json").read_text())["tables"][0]["where"] == LIVE
    assert f"where <code class=\"breakable\">{LIVE}</code>" in (out / "report.html").read_text()
    migration = (out / "migration.sql").read_text()
    assert f"scanned with --where \"{LIVE}\"" in migration and f"WHERE {LIVE}" in migration
    verify = "\n".join(line for line in (out / "verify.sql").read_text().splitlines()
                       if not line.startswith("--")).strip().rstrip(";")
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        since = "2026-11-03 02:29:00" if db_url.startswith("sqlite") else at(-60)
        found = {row.id for row in conn.execute(sa.text(verify), {"since": since})}
    engine.dispose()
    assert found == {1, 2, 10, 11}


def test_cleanup_under_where_deletes_live_copies_only(db_url, runner):
    """cleanup.sql of a filtered scan deletes the live losers and nothing soft-deleted; rollback.sql puts them
    back byte for byte; migration.sql applies after the cleanup and then refuses a second live copy while a
    soft-deleted one is still allowed."""
    _charges(db_url)
    before = rows_of(db_url, "charges")
    doc = _scan(db_url, where=LIVE)
    runner(cleanup_sql(doc))
    left = {int(r[0]) for r in rows_of(db_url, "charges")}
    assert left == {r[0] for r in ROWS} - {2, 11}
    runner(cleanup_sql(doc))  # a second run deletes nothing
    assert {int(r[0]) for r in rows_of(db_url, "charges")} == left
    runner(rollback_sql(doc))
    assert digest(rows_of(db_url, "charges")) == digest(before)
    runner(cleanup_sql(doc))
    runner(migration_sql_for_findings(doc))
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:  # a copy already soft-deleted may share the key
            conn.execute(sa.text("INSERT INTO charges (id, account, day, ts, amount, status, deleted_at) "
                                 "VALUES (20, 1, '2026-11-02', :ts, 500, 'paid', :ts)"), {"ts": at(99)})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO charges (id, account, day, ts, amount, status) "
                                 "VALUES (21, 1, '2026-11-02', :ts, 500, 'paid')"), {"ts": at(99)})
    finally:
        engine.dispose()


def test_guard_rechecks_the_predicate_at_cleanup_time(db_url, runner):
    """A survivor whose status left the predicate after the scan (voided) stops the cleanup: deleting its copy
    would leave the key with no row that counts. The status is --ignore'd, so no other check compares it."""
    _charges(db_url)
    doc = _scan(db_url, where="status <> 'void'", ignore=["status"])
    assert _clusters(doc["tables"][0]) == [[1, 2], [3, 4], [5, 6], [10, 11, 12]]
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE charges SET status = 'void' WHERE id = 1"))  # the survivor of [1, 2]
    engine.dispose()
    before = rows_of(db_url, "charges")
    with pytest.raises(SQLFailed, match="changed since the scan|rows_changed_since_the_scan"):
        runner(cleanup_sql(doc))
    assert rows_of(db_url, "charges") == before


@pytest.mark.parametrize("predicate, said", [
    ("no_such_column IS NULL", "does not work on charges"),
    ("deleted_at IS", "does not work on charges"),
    ("charges.deleted_at IS NULL", "without the table's name"),
    ("deleted_at IS NULL; DROP TABLE charges", "found ';'"),
    ("1 = 1) OR (1 = 1", "not one expression"),
    ("status = 'paid' -- and more", "found '--'"),
    ("status = $$paid$$", "found '$'"),
    ("status = 'paid' \\! touch /tmp/x", "found '\\\\'"),
    ("", "--where is empty"),
])
def test_a_bad_predicate_is_one_line_exit_2_and_changes_nothing(db_url, tmp_path, predicate, said):
    _charges(db_url)
    before = rows_of(db_url, "charges")
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["scan", db_url, "--table", "charges", "--key", "account", "--key", "day",
                                     "--ts", "ts", "--where", predicate, "--out", str(out)])
    assert done.exit_code == 2, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and said in lines[0], done.output
    assert not out.exists()
    assert rows_of(db_url, "charges") == before


def test_where_from_a_config_file(sqlite_url, tmp_path):
    """A [[table]]'s own where; --where beside --config is refused (it names no table)."""
    _charges(sqlite_url)
    config = tmp_path / "dupfinder.toml"
    config.write_text(f'[[table]]\nname = "charges"\nkeys = ["account", "day"]\nts = "ts"\nwhere = "{LIVE}"\n')
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--config", str(config), "--format", "json"])
    assert done.exit_code == 1, done.output
    assert _clusters(json.loads(done.stdout)["tables"][0]) == [[1, 2], [10, 11]]
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--config", str(config), "--where", LIVE])
    assert done.exit_code == 2 and "in the table's [[table]] entry" in done.output


def test_a_findings_file_cannot_smuggle_a_predicate_into_cleanup(sqlite_url):
    """cleanup.sql is generated from findings.json, which nothing trusts: its where is checked like --where."""
    _charges(sqlite_url)
    doc = _scan(sqlite_url, where=LIVE)
    doc["tables"][0]["where"] = "1 = 1)) OR ((1 = 1"
    with pytest.raises(UsageError, match="not one expression"):
        cleanup_sql(doc)
    doc["tables"][0]["where"] = "1 = 1; DELETE FROM charges"
    with pytest.raises(UsageError, match="found ';'"):
        cleanup_sql(doc)


HOSTILE = st.lists(st.sampled_from([
    "deleted_at IS NULL", " AND ", " OR ", "(", ")", "'", '"', ";", "--", "/*", "*/", "$$", "$x$", "\\", "\\!",
    " touch /tmp/dupfinder_where_pwned", ":x", "::text", "#", "\n", "\r", "\u202e", "DROP TABLE canary",
    "DELETE FROM charges", "1 = 1", "status = 'paid'", "status", "=", "0", "canary", " ", ",", "pg_sleep(0)",
    "SELECT", "EXISTS (SELECT 1 FROM canary)", "`", "%", "%(x)s", "?", "{{", "}}",
]), min_size=1, max_size=8).map("".join)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(predicate=HOSTILE)
def test_hostile_predicates_are_refused_or_run_as_one_expression(engine, predicate, request, tmp_path_factory):
    """Whatever the text: a UsageError (nothing run) or a scan that changes nothing; never a second statement
    (the canary table stays, the rows stay, no shell command ran)."""
    url = _hostile_database(engine, request, tmp_path_factory)
    before = rows_of(url, "charges")
    try:
        doc = _scan(url, where=predicate)
    except UsageError:
        pass
    else:
        assert doc["tables"][0]["where"] == predicate.strip()
        cleanup_sql(doc)  # the predicate renders into the guard too
    assert rows_of(url, "charges") == before
    assert rows_of(url, "canary") == [("1",)]
    import os

    assert not os.path.exists("/tmp/dupfinder_where_pwned")


_DATABASES: dict[str, str] = {}


def _hostile_database(engine: str, request, tmp_path_factory) -> str:
    """One database per engine for all examples (hypothesis calls the test body many times in one test)."""
    if engine not in _DATABASES:
        if engine == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'hostile.db'}"
        else:
            url = request.getfixturevalue("pg_url")
        _charges(url)
        make_table(url, "canary", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False)], [{"id": 1}])
        _DATABASES[engine] = url
    return _DATABASES[engine]


def test_cleanup_sql_of_a_filtered_scan_runs_on_duckdb(duckdb_url):
    """DuckDB: the guard's re-check renders and runs (the cleanup deletes the live losers only)."""
    _charges(duckdb_url)
    doc = _scan(duckdb_url, where=LIVE)
    apply_sql(duckdb_url, cleanup_sql(doc))
    assert {int(r[0]) for r in rows_of(duckdb_url, "charges")} == {r[0] for r in ROWS} - {2, 11}


@pytest.mark.parametrize("since", [None, "2026-11-03T02:30:00"])
def test_every_statement_reading_the_table_applies_it(any_url, since):
    """Each statement the scan sends that reads the table's rows (detection, statistics, coverage counts,
    writer profile, xmin share, --since readings) carries the predicate: a statement without it counted rows
    the user said do not count."""
    _charges(any_url)
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        _scan(any_url, where="amount > 0", since=since)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    import re

    reading = [s for s in sent if re.search(r'(FROM|JOIN)\s+(ONLY\s+)?("?\w+"?\.)?"?charges"?(\s|$)', s)
               and "WHERE false" not in s]  # key_equality's probe reads no row
    assert len(reading) >= 3, sent
    assert [s for s in reading if "(amount > 0)" not in s] == []


def test_machine_output_says_the_scan_was_filtered_on_stderr(sqlite_url):
    """--format json keeps standard output the findings; the filter and the partial index go to stderr."""
    _charges(sqlite_url)
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "charges", "--key", "account", "--key", "day",
                                     "--ts", "ts", "--where", LIVE, "--format", "json"])
    assert done.exit_code == 1
    assert json.loads(done.stdout)["tables"][0]["where"] == LIVE
    assert (f"note: charges: only rows where {LIVE} were read (--where); migration.sql makes the unique index "
            "partial on it") in done.stderr


def test_time_cells_and_their_edges_count_only_the_rows_that_count(pg_url):
    """The statistics' time cells and the edge reads beside them (PostgreSQL 14+, run on tables of a million
    rows and more, so rendered and executed here directly): rows outside the predicate are in no count."""
    import calendar

    from dupfinder.sqltemplates import render_sql, sql_text

    _charges(pg_url)
    ctx = {"table": "charges", "keys": ["account", "day"], "ts": "ts", "groups": ["status"], "where": LIVE}
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        span = conn.execute(sql_text(render_sql("stats_cells.sql.j2", conn.dialect, **ctx, range=True))).one()
        cells = conn.execute(sql_text(render_sql("stats_cells.sql.j2", conn.dialect, **ctx, range=False)),
                             {"cell_us": 10**9, "max_rows": 1000}).all()
        edges = conn.execute(sql_text(render_sql("writer_edges.sql.j2", conn.dialect, aware=False, **ctx)), {
            "starts": [calendar.timegm(at(-1).timetuple()) * 10**6],
            "ends": [calendar.timegm(at(3 * DAY).timetuple()) * 10**6]}).all()
    engine.dispose()
    assert span.last_ts == at(40.1)  # 12 (40.2 s) and 8 (a day later) are soft-deleted
    assert sum(row._rows for row in cells) == len(LIVE_IDS)
    assert sum(row._rows for row in edges) == len(LIVE_IDS)


@pytest.mark.parametrize("plan", ["index", "rowid"])
def test_where_in_each_detection_plan(pg_url, plan):
    """PostgreSQL's plans read the table differently (an index lookup per key inside a LATERAL join, or the first
    and last row id per key and the rows of keys written three times): each applies the predicate. A key column
    named in the predicate is the table's, not the key group's beside it."""
    from helpers import run_statements

    from dupfinder.connect import introspect, read_only
    from dupfinder.detect import detect, key_index

    _charges(pg_url)
    run_statements(pg_url, "CREATE INDEX charges_key ON charges (account, day, ts)")
    spec = table_spec(table="charges", keys=["account", "day"], ts="ts", where=f"{LIVE} AND account > 0")
    with read_only(pg_url) as conn:
        info = introspect(conn, "charges", {"key": list(spec.keys)})
        info = dataclasses.replace(info, where=spec.where)
        index = key_index(conn, info, spec) if plan == "index" else None
        assert (index is not None) == (plan == "index")
        found = detect(conn, info, spec, False, index)
    assert sorted({r.col("id") for r in found.rows}) == [1, 2, 10, 11]
    assert found.stats.rows_scanned == len(LIVE_IDS)


def test_discover_where_measures_and_writes_the_rows_that_count(db_url, tmp_path):
    """discover --where: keys measured on the matching rows only (without it, the soft-deleted copy written a day
    later made account a far-duplicate key and nothing was proposed), the predicate written into each [[table]]
    the scan then reads; a table without the predicate's columns is skipped, the others still measured. The
    soft-delete column is never taken for the creation timestamp (deleted_at was)."""
    _charges(db_url)
    make_table(db_url, "plain", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                                 sa.Column("ref", sa.String(10)), sa.Column("created_at", ts_type())],
               [{"id": n, "ref": f"r{n}", "created_at": at(n)} for n in range(5)])
    config = tmp_path / "dupfinder.toml"
    done = CliRunner().invoke(main, ["discover", db_url, "--where", LIVE, "-o", str(config), "--format", "json"])
    assert done.exit_code == 0, done.output
    tables = {t["table"]: t for t in json.loads(done.stdout)["tables"]}
    assert tables["charges"]["where"] == LIVE and "does not work on plain" in tables["plain"]["skipped"]
    # account tells the rows apart; day holds one value and joins the key (a period holding one value: the
    # UNIQUE constraint it implies still takes the next day)
    assert (tables["charges"]["ts"], tables["charges"]["keys"]) == ("ts", ["account", "day"])
    every = {t["table"]: t for t in json.loads(CliRunner().invoke(main, [
        "discover", db_url, "-o", str(tmp_path / "every.toml"), "--format", "json"]).stdout)["tables"]}
    assert every["charges"]["keys"] is None and "far duplicates" in every["charges"]["evidence"]
    assert f'where = "{LIVE}"' in config.read_text()
    done = CliRunner().invoke(main, ["scan", db_url, "--config", str(config), "--format", "json"])
    found = json.loads(done.stdout)["tables"][0]
    assert found["where"] == LIVE and found["rows_scanned"] == len(LIVE_IDS)
    done = CliRunner().invoke(main, ["discover", db_url, "--where", "x; DROP TABLE charges", "-o",
                                     str(tmp_path / "refused.toml")])
    assert done.exit_code == 2 and "found ';'" in done.output
