"""Issue 10's cases, each executed for real: psql on PostgreSQL, sqlite3's executor on SQLite (MariaDB in
test_hostile_names.py and test_mariadb.py). Every test here failed on main before the safety work."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, events_table, make_table
from hostile import (
    assert_victim,
    code_outside_quotes,
    ddl,
    quote,
    read,
    rows,
    run_sqlite_without_bail,
    run_verify,
    scan_outputs,
    tables,
    victim,
)
from sqlrun import SQLFailed, apply_sql, scan_doc

from dupfinder import api
from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec
from dupfinder.errors import BadFindings
from dupfinder.remediate import backup_name, cleanup_sql, migration_sql, rollback_sql

NEWLINE = "nl\nDROP TABLE victim; --"
PAIRS = [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0, "a"), (4, 8, 0.2, "b"), (5, 9, 0.0, "a")]


def _lines_outside_comments(sql: str) -> list[str]:
    return [line for line in sql.splitlines() if line.strip() and not line.lstrip().startswith("--")]


@pytest.fixture
def server(request, db_url):
    return request.getfixturevalue("pg_server") if db_url.startswith("postgresql") else None


def test_newline_in_a_table_name_runs_no_sql_in_any_output(db_url, runner, server, tmp_path):
    events_table(db_url, PAIRS, name=NEWLINE)
    victim(db_url)
    before = rows(db_url, NEWLINE)
    scan_outputs(db_url, tmp_path, table=NEWLINE, writers=["host=host"])
    files = {n: read(tmp_path / n) for n in ("cleanup.sql", "rollback.sql", "migration.sql", "verify.sql")}
    for name, text in files.items():
        assert "DROP TABLE victim" not in code_outside_quotes(text), name
        if db_url.startswith("postgresql"):  # PostgreSQL names are Unicode-escaped: no raw line break at all
            assert not any(line.lstrip().startswith("DROP TABLE victim") for line in text.splitlines()), name
    runner(files["cleanup.sql"])
    assert_victim(db_url)
    assert [r[0] for r in rows(db_url, NEWLINE)] == ["1", "3", "5"]
    runner(files["rollback.sql"])
    assert rows(db_url, NEWLINE) == before
    runner(files["cleanup.sql"])
    runner(files["migration.sql"])
    run_verify(db_url, files["verify.sql"], server)
    assert_victim(db_url)


def test_a_child_table_with_a_hostile_name_is_repointed_and_runs_nothing(db_url, runner):
    events_table(db_url, PAIRS)
    victim(db_url)
    child, constraint = "child\nDROP TABLE victim; --'$x$%", "fk\n); DROP TABLE victim; --"
    ddl(db_url, f"CREATE TABLE {quote(db_url, child)} (id integer PRIMARY KEY, event_id integer "
                f"CONSTRAINT {quote(db_url, constraint)} REFERENCES events (id) ON DELETE CASCADE)",
        f"INSERT INTO {quote(db_url, child)} VALUES (10, 2), (11, 1), (12, 4)")
    doc = scan_doc(db_url, writers=["host=host"])
    assert [fk["table"] for fk in doc["tables"][0]["referenced_by"]] == [child]
    runner(cleanup_sql(doc))
    assert_victim(db_url)
    assert rows(db_url, child) == [("10", "1"), ("11", "1"), ("12", "3")]
    runner(rollback_sql(doc))
    assert rows(db_url, child) == [("10", "2"), ("11", "1"), ("12", "4")]
    assert_victim(db_url)


def test_ondelete_outside_the_known_set_is_refused(sqlite_url):
    events_table(sqlite_url, PAIRS)
    doc = scan_doc(sqlite_url)
    doc["tables"][0]["referenced_by"] = [{"table": "c", "columns": ["e"], "referred_columns": ["id"],
                                          "ondelete": "CASCADE'; DROP TABLE victim; --", "child_primary_key": ["id"]}]
    with pytest.raises(BadFindings, match="ondelete"):
        cleanup_sql(doc)


def test_cleanup_command_renders_hostile_findings_fields_safely(db_url, runner, tmp_path):
    events_table(db_url, PAIRS, name=NEWLINE)
    victim(db_url)
    scan_outputs(db_url, tmp_path, table=NEWLINE, writers=["host=host"])
    doc = json.loads((tmp_path / "findings.json").read_text())
    doc["database"] = "x\nDROP TABLE victim; --"
    (tmp_path / "findings.json").write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["cleanup", str(tmp_path / "findings.json"), "-o", str(tmp_path / "c.sql")])
    assert result.exit_code == 0, result.output
    runner((tmp_path / "c.sql").read_text())
    runner((tmp_path / "rollback.sql").read_text())
    assert_victim(db_url)
    for field, value in [("scanned_at", "2026-11-03\nDROP TABLE victim; --"), ("dupfinder_version", "0.1\n;DROP"),
                         ("keep", "earliest\nDROP TABLE victim; --")]:
        bad = json.loads(json.dumps(doc))
        (bad["tables"][0] if field == "keep" else bad)[field] = value
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        result = CliRunner().invoke(main, ["cleanup", str(tmp_path / "bad.json")])
        assert result.exit_code == 2 and result.output.startswith("Error: ") and field in result.output, result.output


def test_a_loser_that_is_its_own_survivor_is_refused(sqlite_url, tmp_path):
    events_table(sqlite_url, PAIRS)
    doc = json.loads(json.dumps(scan_doc(sqlite_url, writers=["host=host"])))  # identical clusters: rows to delete
    cluster = doc["tables"][0]["clusters"][0]
    cluster["rows"][1]["pk"] = dict(cluster["rows"][0]["pk"])
    with pytest.raises(BadFindings, match="its own survivor"):
        cleanup_sql(doc)
    (tmp_path / "f.json").write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["cleanup", str(tmp_path / "f.json")])
    assert result.exit_code == 2 and "its own survivor" in result.output
    # a survivor of one cluster listed as the loser of another
    doc = json.loads(json.dumps(scan_doc(sqlite_url, writers=["host=host"])))
    first, second = doc["tables"][0]["clusters"][:2]
    second["rows"][1]["pk"] = dict(first["rows"][0]["pk"])
    with pytest.raises(BadFindings, match="survivor in one cluster and a losing row"):
        cleanup_sql(doc)


def test_a_changed_survivor_aborts_the_cleanup(db_url, runner):
    events_table(db_url, PAIRS)
    doc = scan_doc(db_url, writers=["host=host"])
    ddl(db_url, "UPDATE events SET note = 'edited survivor' WHERE id = 1")
    before = rows(db_url, "events")
    with pytest.raises(SQLFailed, match="no longer match their survivor|rows_changed_since_the_scan"):
        runner(cleanup_sql(doc))
    assert rows(db_url, "events") == before


def test_tables_sharing_a_long_prefix_get_their_own_backups(db_url, runner):
    names = ["reconciliation_summary_2026_q1", "reconciliation_summary_2026_q2"]
    for n, name in enumerate(names):
        events_table(db_url, [(1, 7, 0.0, "a", f"t{n}"), (2, 7, 0.3, "b", f"t{n}"), (3, 8, 0.0, "a", f"t{n}")],
                     name=name)
    before = {name: rows(db_url, name) for name in names}
    specs = tuple(table_spec(table=name, keys=["account", "day"], ts="ts", writers=["host=host"]) for name in names)
    from dupfinder.findings import findings_dict

    doc = findings_dict(api.scan(ScanOptions(url=db_url, tables=specs)))
    runner(cleanup_sql(doc))
    backups = sorted(t for t in tables(db_url) if t.startswith("dupfinder_backup"))
    assert len(backups) == 2
    runner(rollback_sql(doc))
    assert {name: rows(db_url, name) for name in names} == before


def test_long_multibyte_names_keep_backup_and_child_tables_apart(db_url, runner):
    parent = "é" * 31 + "a"  # 63 bytes: PostgreSQL's limit
    events_table(db_url, PAIRS, name=parent)
    child = "é" * 31 + "b"
    ddl(db_url, f"CREATE TABLE {quote(db_url, child)} (id integer PRIMARY KEY, event_id integer "
                f"REFERENCES {quote(db_url, parent)} (id))",
        f"INSERT INTO {quote(db_url, child)} VALUES (10, 2), (11, 4)")
    doc = scan_doc(db_url, table=parent, writers=["host=host"])
    backup = backup_name(None, parent, doc["scanned_at"].replace("-", "").replace(":", "").replace("T", "")[:14])
    assert len((backup + "_r1").encode()) <= 63
    before, children = rows(db_url, parent), rows(db_url, child)
    runner(cleanup_sql(doc))
    made = {t for t in tables(db_url) if t.startswith("dupfinder_backup")}
    assert len(made) == 2 and all(len(t.encode()) <= 63 for t in made), made
    assert rows(db_url, child) == [("10", "1"), ("11", "3")]
    runner(rollback_sql(doc))
    assert rows(db_url, parent) == before and rows(db_url, child) == children


@pytest.mark.parametrize(("column", "type_", "values"), [
    ("client_id", sa.Integer, (17, 18)),
    ("release_date", sa.Date, (at(0).date(), at(86400).date())),
    ("batch_size", sa.Integer, (100, 200)),
])
def test_business_columns_named_like_writers_keep_rows_apart(db_url, runner, column, type_, values):
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("day", sa.String(10)), sa.Column("ts", sa.DateTime), sa.Column("hostname", sa.String(20)),
               sa.Column(column, type_)]
    make_table(db_url, "events", columns, [
        {"id": 1, "account": 7, "day": "d", "ts": at(0), "hostname": "a", column: values[0]},
        {"id": 2, "account": 7, "day": "d", "ts": at(0.3), "hostname": "b", column: values[1]}])
    doc = scan_doc(db_url)
    table = doc["tables"][0]
    assert [w["column"] for w in table["writer_columns"]] == ["hostname"]
    assert table["clusters"][0]["payload"] == "divergent"
    # hostname too: two rows do not confirm a name-found writer column, so it is compared like business data
    assert table["clusters"][0]["differing_columns"] == [column, "hostname"]
    text = cleanup_sql(doc)
    assert '"hostname" was only guessed to be the host writer column' in text
    runner(text)
    assert len(rows(db_url, "events")) == 2


@pytest.mark.parametrize("change", ["ALTER TABLE events ADD COLUMN extra varchar(10) DEFAULT 'x'",
                                    "ALTER TABLE events DROP COLUMN note"])
def test_columns_added_or_dropped_since_the_scan_abort(db_url, runner, change):
    events_table(db_url, PAIRS)
    doc = scan_doc(db_url, writers=["host=host"])
    ddl(db_url, change)
    before = rows(db_url, "events")
    with pytest.raises(SQLFailed, match="columns of .* changed since the scan|table_columns_changed"):
        runner(cleanup_sql(doc))
    assert rows(db_url, "events") == before


def test_cleanup_rollback_cleanup_rollback(db_url, runner):
    events_table(db_url, PAIRS)
    victim(db_url)
    before = rows(db_url, "events")
    doc = scan_doc(db_url, writers=["host=host"])
    for _ in range(3):
        runner(cleanup_sql(doc))
        assert [r[0] for r in rows(db_url, "events")] == ["1", "3", "5"]
        backup = next(t for t in tables(db_url) if t.startswith("dupfinder_backup"))
        assert [r[0] for r in rows(db_url, backup)] == ["2", "4"]  # one copy of each row, never two
        runner(rollback_sql(doc))
        assert rows(db_url, "events") == before
    assert_victim(db_url)


def test_out_keeps_the_rollback_of_an_earlier_scan(db_url, runner, tmp_path):
    events_table(db_url, PAIRS)
    before = rows(db_url, "events")
    scan_outputs(db_url, tmp_path, writers=["host=host"])
    first_rollback = (tmp_path / "rollback.sql").read_text()
    runner((tmp_path / "cleanup.sql").read_text())
    time.sleep(1.1)  # the next scan has another stamp
    scan_outputs(db_url, tmp_path, writers=["host=host"])
    kept = sorted(tmp_path.glob("rollback-*.sql"))
    assert len(kept) == 1 and kept[0].read_text() == first_rollback
    assert (tmp_path / "rollback.sql").read_text() != first_rollback
    runner(kept[0].read_text())
    assert rows(db_url, "events") == before


def _no_pk_table(url: str) -> None:
    ddl(url, "CREATE TABLE events (account integer, day varchar(10), ts timestamp, host varchar(10), "
             "note varchar(40))")
    values = ", ".join(f"({a}, 'd', '{at(s).isoformat(' ')}', '{h}', 'same')"
                       for _, a, s, h in PAIRS)
    ddl(url, f"INSERT INTO events VALUES {values}")


def test_without_primary_key_one_changed_row_aborts_the_whole_batch(db_url, runner):
    _no_pk_table(db_url)
    doc = scan_doc(db_url, writers=["host=host"])
    assert doc["tables"][0]["rows_to_delete"] == 2
    ddl(db_url, "UPDATE events SET note = 'edited' WHERE account = 8 AND host = 'b'")
    before = rows(db_url, "events")
    with pytest.raises(SQLFailed, match="changed since the scan|no longer where the scan saw|rows_moved|rows_changed"):
        runner(cleanup_sql(doc))
    assert rows(db_url, "events") == before


def test_without_primary_key_cleanup_after_rollback_cleans_again_or_asks_for_a_scan(db_url, runner):
    _no_pk_table(db_url)
    before = rows(db_url, "events")
    doc = scan_doc(db_url, writers=["host=host"])
    runner(cleanup_sql(doc))
    after = rows(db_url, "events")
    assert len(after) == 3
    runner(cleanup_sql(doc))  # a second run deletes nothing
    assert rows(db_url, "events") == after
    runner(rollback_sql(doc))
    assert rows(db_url, "events") == before
    if db_url.startswith("sqlite"):  # rowids are restored: the cleanup finds its rows again and cleans again
        runner(cleanup_sql(doc))
        assert rows(db_url, "events") == after
        runner(rollback_sql(doc))
        assert rows(db_url, "events") == before
    else:  # a restored row has a new ctid: the cleanup says so instead of "already cleaned up"
        with pytest.raises(SQLFailed, match="no longer where the scan saw them.*Scan again"):
            runner(cleanup_sql(doc))
        assert rows(db_url, "events") == before


def test_sqlite_without_bail_deletes_nothing_the_guard_flagged(sqlite_url):
    events_table(sqlite_url, PAIRS)
    doc = scan_doc(sqlite_url, writers=["host=host"])
    ddl(sqlite_url, "UPDATE events SET note = 'edited after the scan' WHERE id = 4")
    before = rows(sqlite_url, "events")
    errors = run_sqlite_without_bail(sa.make_url(sqlite_url).database, cleanup_sql(doc))
    assert any("rows_changed_since_the_scan" in e for e in errors), errors
    assert rows(sqlite_url, "events") == before


def test_self_referencing_foreign_key(db_url, runner):
    ddl(db_url, "CREATE TABLE nodes (id integer PRIMARY KEY, k integer, ts timestamp, "
                "parent_id integer REFERENCES nodes (id))")
    ddl(db_url, "INSERT INTO nodes VALUES "
                f"(1, 7, '{at(0)}', NULL), (2, 7, '{at(0.3)}', NULL), (3, 8, '{at(0)}', 2), (4, 8, '{at(0.2)}', 2)")
    before = rows(db_url, "nodes")
    doc = scan_doc(db_url, table="nodes", keys=["k"])
    assert doc["tables"][0]["rows_to_delete"] == 2
    runner(cleanup_sql(doc))
    assert rows(db_url, "nodes") == [("1", "7", str(at(0)), "NULL"), ("3", "8", str(at(0)), "1")]
    runner(cleanup_sql(doc))  # the re-run finds nothing to do and does not abort
    runner(rollback_sql(doc))
    assert rows(db_url, "nodes") == before


def test_percent_in_names(db_url, runner):
    columns = [sa.Column("id%", sa.Integer, primary_key=True, autoincrement=False), sa.Column("a%s", sa.Integer),
               sa.Column("day", sa.String(10)), sa.Column("ts", sa.DateTime), sa.Column("%(x)s", sa.String(10))]
    make_table(db_url, "100%_done", columns, [
        {"id%": 1, "a%s": 7, "day": "d", "ts": at(0), "%(x)s": "p"},
        {"id%": 2, "a%s": 7, "day": "d", "ts": at(0.3), "%(x)s": "p"}])
    before = rows(db_url, "100%_done")
    doc = scan_doc(db_url, table="100%_done", keys=["a%s"])
    runner(cleanup_sql(doc))
    assert [r[0] for r in rows(db_url, "100%_done")] == ["1"]
    runner(rollback_sql(doc))
    assert rows(db_url, "100%_done") == before


def test_a_view_is_refused_in_one_line(db_url, runner):
    events_table(db_url, PAIRS)
    ddl(db_url, "CREATE VIEW events_v AS SELECT * FROM events")
    doc = scan_doc(db_url, writers=["host=host"])
    doc["tables"][0].update(table="events_v", name="events_v")
    before = rows(db_url, "events")
    with pytest.raises(SQLFailed, match="is not a table|not_a_table"):
        runner(cleanup_sql(doc))
    assert rows(db_url, "events") == before


def test_generated_columns_are_restored_by_rollback(db_url, runner):
    stored = "STORED" if db_url.startswith("postgresql") else "VIRTUAL"
    ddl(db_url, "CREATE TABLE events (id integer PRIMARY KEY, account integer, day varchar(10), ts timestamp, "
                f"amount integer, doubled integer GENERATED ALWAYS AS (amount * 2) {stored})")
    ddl(db_url, "INSERT INTO events (id, account, day, ts, amount) VALUES "
                f"(1, 7, 'd', '{at(0)}', 5), (2, 7, 'd', '{at(0.3)}', 5), (3, 8, 'd', '{at(0)}', 6)")
    before = rows(db_url, "events")
    doc = scan_doc(db_url)
    assert [c.get("generated", False) for c in doc["tables"][0]["columns"]] == [False] * 5 + [True]
    runner(cleanup_sql(doc))
    assert [r[0] for r in rows(db_url, "events")] == ["1", "3"]
    runner(rollback_sql(doc))
    assert rows(db_url, "events") == before


def test_uuid_primary_key_and_timestamptz_key(pg_url, pg_server):
    ddl(pg_url, "CREATE TABLE events (id uuid PRIMARY KEY, at_key timestamptz, ts timestamptz, note text)",
        "INSERT INTO events VALUES "
        "('00000000-0000-0000-0000-000000000001', '2026-11-03 02:00+00', '2026-11-03 02:30:00+00', 'n'), "
        "('00000000-0000-0000-0000-000000000002', '2026-11-03 02:00+00', '2026-11-03 02:30:00.3+00', 'n')")
    before = rows(pg_url, "events")
    doc = scan_doc(pg_url, keys=["at_key"])
    apply_sql(pg_url, cleanup_sql(doc), pg_server)
    assert [r[0] for r in rows(pg_url, "events")] == ["00000000-0000-0000-0000-000000000001"]
    apply_sql(pg_url, rollback_sql(doc), pg_server)
    assert rows(pg_url, "events") == before


def test_json_xml_point_payload_columns(pg_url, pg_server):
    ddl(pg_url, "CREATE TABLE events (id integer PRIMARY KEY, account integer, ts timestamp, j json, x xml, "
                "p point, b jsonb)",
        "INSERT INTO events VALUES "
        f"(1, 7, '{at(0)}', '{{\"a\": 1}}', '<a/>', '(1,2)', '[1]'), "
        f"(2, 7, '{at(0.3)}', '{{\"a\": 1}}', '<a/>', '(1,2)', '[1]'), "
        f"(3, 8, '{at(0)}', '{{\"a\": 1}}', '<a/>', '(1,2)', '[1]'), "
        f"(4, 8, '{at(0.3)}', '{{\"a\": 2}}', '<a/>', '(1,2)', '[1]')")
    before = rows(pg_url, "events")
    doc = scan_doc(pg_url, keys=["account"])
    payloads = [c["payload"] for c in doc["tables"][0]["clusters"]]
    assert payloads == ["identical", "divergent"]
    apply_sql(pg_url, cleanup_sql(doc), pg_server)
    assert [r[0] for r in rows(pg_url, "events")] == ["1", "3", "4"]
    apply_sql(pg_url, rollback_sql(doc), pg_server)
    assert rows(pg_url, "events") == before


def test_partitioned_table_migration_stops_with_what_to_do(pg_url, pg_server):
    ddl(pg_url, "CREATE TABLE parts (account integer, day text, ts timestamp) PARTITION BY LIST (day)",
        "CREATE TABLE parts_a PARTITION OF parts FOR VALUES IN ('a')")
    with pytest.raises(SQLFailed) as err:
        apply_sql(pg_url, migration_sql("postgresql", "parts", ["account", "day"]), pg_server)
    message = [line for line in str(err.value).splitlines() if "ERROR" in line]
    assert len(message) == 1 and "partitioned" in message[0] and "per partition" in message[0], err.value


def test_constraint_name_taken_in_another_schema(pg_url, pg_server):
    events_table(pg_url, [(1, 7, 0.0), (2, 8, 0.0)])
    ddl(pg_url, "CREATE SCHEMA other", "CREATE TABLE other.events (account integer, day text, "
                "CONSTRAINT uq_events_account_day UNIQUE (account, day))")
    apply_sql(pg_url, migration_sql("postgresql", "events", ["account", "day"]), pg_server)
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT conrelid::regclass::text FROM pg_constraint "
                                     "WHERE conname = 'uq_events_account_day' ORDER BY 1").scalars().all()
    engine.dispose()
    assert found == ["events", "other.events"]


def test_generated_columns_on_mariadb(mariadb_url):
    ddl(mariadb_url, "CREATE TABLE events (id integer PRIMARY KEY, account integer, day varchar(10), "
                     "ts datetime(6), amount integer, doubled integer AS (amount * 2) PERSISTENT)")
    ddl(mariadb_url, "INSERT INTO events (id, account, day, ts, amount) VALUES "
                     f"(1, 7, 'd', '{at(0)}', 5), (2, 7, 'd', '{at(0.3)}', 5), (3, 8, 'd', '{at(0)}', 6)")
    before = rows(mariadb_url, "events")
    doc = scan_doc(mariadb_url)
    assert [c.get("generated", False) for c in doc["tables"][0]["columns"]] == [False] * 5 + [True]
    apply_sql(mariadb_url, cleanup_sql(doc))
    assert [r[0] for r in rows(mariadb_url, "events")] == ["1", "3"]
    apply_sql(mariadb_url, rollback_sql(doc))
    assert rows(mariadb_url, "events") == before


def test_partitioned_table_without_primary_key_is_refused_by_ctid(pg_url, pg_server):
    ddl(pg_url, "CREATE TABLE events (account integer, day text, ts timestamptz, note text) PARTITION BY LIST (day)",
        "CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a')",
        "CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('b')",
        "INSERT INTO events VALUES (7, 'a', '2026-11-03 02:30:00+00', 'n'), (7, 'a', '2026-11-03 02:30:00.3+00', 'n'), "
        "(8, 'b', '2026-11-03 02:30:00+00', 'n'), (8, 'b', '2026-11-03 02:30:00.3+00', 'n')")
    doc = scan_doc(pg_url)
    with pytest.raises(BadFindings, match="values repeat when a table is partitioned"):
        cleanup_sql(doc)  # both partitions' losers sit at ctid (0,2)
    ddl(pg_url, "DELETE FROM events WHERE day = 'b'")
    before = rows(pg_url, "events")
    doc = scan_doc(pg_url)
    with pytest.raises(SQLFailed, match="partitioned and has no primary key"):
        apply_sql(pg_url, cleanup_sql(doc), pg_server)
    assert rows(pg_url, "events") == before


def test_sqlite_rollback_stops_when_a_rowid_was_taken(sqlite_url):
    _no_pk_table(sqlite_url)
    doc = scan_doc(sqlite_url, writers=["host=host"])
    apply_sql(sqlite_url, cleanup_sql(doc))
    taken = doc["tables"][0]["clusters"][0]["rows"][1]["pk"]["rowid"]
    ddl(sqlite_url, f"INSERT INTO events (rowid, account, day, ts, host, note) VALUES ({taken}, 99, 'x', NULL, "
                    "'z', 'a new row that took the rowid')")
    before = rows(sqlite_url, "events")
    with pytest.raises(SQLFailed, match="rowid_taken_by_another_row"):
        apply_sql(sqlite_url, rollback_sql(doc))
    assert rows(sqlite_url, "events") == before
    errors = run_sqlite_without_bail(sa.make_url(sqlite_url).database, rollback_sql(doc))
    assert any("rowid_taken" in e for e in errors)
    assert rows(sqlite_url, "events") == before


@pytest.mark.parametrize("change", ["ALTER TABLE events ADD COLUMN extra varchar DEFAULT 'x'",
                                    "ALTER TABLE events DROP COLUMN note"])
def test_columns_added_or_dropped_since_the_scan_abort_on_duckdb(duckdb_url, change):
    import duckdb

    events_table(duckdb_url, PAIRS)
    doc = scan_doc(duckdb_url, writers=["host=host"])
    conn = duckdb.connect(sa.make_url(duckdb_url).database)
    conn.execute(change)
    before = sorted(conn.execute("SELECT * FROM events").fetchall())
    conn.close()
    with pytest.raises(SQLFailed, match="table_columns_changed_since_the_scan"):
        apply_sql(duckdb_url, cleanup_sql(doc))
    conn = duckdb.connect(sa.make_url(duckdb_url).database)
    assert sorted(conn.execute("SELECT * FROM events").fetchall()) == before
    conn.close()


@pytest.mark.parametrize("change", ["ALTER TABLE events ADD COLUMN extra varchar(10) DEFAULT 'x'",
                                    "ALTER TABLE events DROP COLUMN note", "view"])
def test_changed_shape_or_a_view_stops_the_cleanup_on_mariadb(mariadb_url, change):
    events_table(mariadb_url, PAIRS)
    victim(mariadb_url)
    doc = scan_doc(mariadb_url, writers=["host=host"])
    if change == "view":
        ddl(mariadb_url, "CREATE VIEW events_v AS SELECT * FROM events")
        doc["tables"][0].update(table="events_v", name="events_v")
    else:
        ddl(mariadb_url, change)
    before = rows(mariadb_url, "events")
    with pytest.raises(SQLFailed, match="table_columns_changed_since_the_scan|not_a_table|is not of type 'BASE TABLE'"):
        apply_sql(mariadb_url, cleanup_sql(doc))
    assert rows(mariadb_url, "events") == before
    assert_victim(mariadb_url)
