"""MariaDB executed for real: a throwaway mariadbd started by the suite (tests/mariadb_server.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, check_case, events_table, make_table, scan_one, ts_type
from sqlrun import SQLFailed, apply_sql, digest, rows_of, scan_doc

from dupfinder.cli import main
from dupfinder.connect import read_only
from dupfinder.discover import discover
from dupfinder.errors import QueryFailed
from dupfinder.remediate import cleanup_sql, migration_sql, rollback_sql

CASES = sorted(Path(__file__).parent.joinpath("cases").glob("*.json"))


@pytest.mark.parametrize("aware", [False, True], ids=["datetime", "timestamp"])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case_on_mariadb(case, aware, mariadb_url):
    spec = json.loads(case.read_text())
    events_table(mariadb_url, [tuple(r) for r in spec["rows"]], aware=aware)
    result = scan_one(mariadb_url, window=spec["window"])
    check_case(result, spec)


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


def test_scan_transaction_is_read_only_on_the_server(mariadb_url):
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    with pytest.raises(QueryFailed, match="READ ONLY"), read_only(mariadb_url) as conn:
        conn.exec_driver_sql("INSERT INTO events (id, account, day) VALUES (9, 1, 'x')")
    assert len(rows_of(mariadb_url)) == 2


def test_statement_timeout_uses_the_servers_own_setting(mariadb_url):
    with read_only(mariadb_url, statement_timeout=1.5) as conn:
        assert conn.dialect.is_mariadb
        assert float(conn.exec_driver_sql("SELECT @@max_statement_time").scalar()) == 1.5
    with pytest.raises(QueryFailed, match="max_statement_time"), read_only(mariadb_url, statement_timeout=0.2) as conn:
        # a cross join big enough to run for seconds
        conn.exec_driver_sql("SELECT count(*) FROM information_schema.columns a, information_schema.columns b, "
                             "information_schema.columns c").scalar()


def test_statement_timeout_through_the_cli(mariadb_url):
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    result = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--ts", "ts", "--statement-timeout", "30s"])
    assert result.exit_code == 1, result.output
    assert "dupfinder:dupfinder" not in result.output  # the password is never shown


def test_discover_does_not_stop_at_a_table_without_a_primary_key(mariadb_url):
    make_table(mariadb_url, "a_no_pk", [sa.Column("ref", sa.Integer), sa.Column("created_at", ts_type())],
               [{"ref": 1, "created_at": at(0)}, {"ref": 1, "created_at": at(0.2)}, {"ref": 2, "created_at": at(0)}])
    make_table(mariadb_url, "b_orders", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                                         sa.Column("order_ref", sa.Integer), sa.Column("created_at", ts_type())],
               [{"id": i, "order_ref": i // 2 if i < 4 else i, "created_at": at(i * 0.1)} for i in range(20)])
    proposals = {p.table: p for p in discover(mariadb_url)}
    assert proposals["b_orders"].keys == ("order_ref",)
    assert "a_no_pk" in proposals


def test_since_advice_is_an_online_index_and_goes_away_with_the_index(mariadb_url):
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    notes = scan_doc(mariadb_url, since="2026-11-01T00:00:00")["tables"][0]["notes"]
    advice = next(n for n in notes if "--since still read the whole table" in n)
    statement = advice.split("an index on it (")[1].split(") makes")[0]
    assert "ALGORITHM=INPLACE, LOCK=NONE" in statement
    _execute(mariadb_url, statement)  # the advice is SQL the server takes
    notes = scan_doc(mariadb_url, since="2026-11-01T00:00:00")["tables"][0]["notes"]
    assert not any("--since still read the whole table" in n for n in notes)


def test_out_files_apply_with_the_mariadb_client(mariadb_url, tmp_path):
    events_table(mariadb_url, [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0, "a")])
    out = tmp_path / "out"
    # --writer: three rows do not confirm the name-found host column, which would keep the pair apart
    result = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--ts", "ts", "--writer", "host=host", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert {"findings.json", "report.html", "cleanup.sql", "rollback.sql", "migration.sql", "verify.sql"} <= {
        p.name for p in out.iterdir()}
    apply_sql(mariadb_url, (out / "cleanup.sql").read_text())
    apply_sql(mariadb_url, (out / "migration.sql").read_text())
    assert [r[0] for r in rows_of(mariadb_url)] == ["1", "3"]
    with pytest.raises(sa.exc.IntegrityError):  # the constraint is there: the next double run fails loudly
        _execute(mariadb_url, "INSERT INTO events (id, account, day, ts) VALUES (9, 7, '2026-11-02', NULL)")


def test_an_unencoded_at_sign_points_at_a_mysql_option_file_that_works(mariadb_server, mariadb_url, tmp_path):
    """The advice for a password holding '@' names MySQL's own password source, not PGPASSWORD, and following
    it lets the scan in: a user whose password is 'p@ss' and an option file with it under [client]."""
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3)])
    database = mariadb_url.rsplit("/", 1)[1].split("?")[0]
    mariadb_server.admin("CREATE USER IF NOT EXISTS 'atsign'@'%' IDENTIFIED BY 'p@ss'",
                         f"GRANT SELECT ON `{database}`.* TO 'atsign'@'%'")
    args = ["--table", "events", "--key", "account", "--ts", "ts"]
    refused = CliRunner().invoke(main, ["scan", mariadb_server.url(database, "atsign", "p@ss"), *args])
    assert refused.exit_code == 2, refused.output
    assert "?read_default_file=FILE" in refused.output and "PGPASSWORD" not in refused.output
    options = tmp_path / "my.cnf"
    options.write_text("[client]\npassword = p@ss\n")
    url = mariadb_server.url(database, "atsign", None).replace("?", f"?read_default_file={options}&")
    found = CliRunner().invoke(main, ["scan", url, *args])
    assert found.exit_code == 1, found.output


def test_a_text_timestamp_gets_advice_that_works_on_mariadb(mariadb_url):
    """A VARCHAR timestamp is refused with MySQL's own functions, and the view it advises scans."""
    _execute(mariadb_url, "CREATE TABLE sent (id INT PRIMARY KEY, k INT, at VARCHAR(30))")
    _execute(mariadb_url, "INSERT INTO sent VALUES (1, 7, '2026-11-03 02:30:00.100'), "
                          "(2, 7, '2026-11-03 02:30:00.400')")
    refused = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "sent", "--key", "k", "--ts", "at"])
    assert refused.exit_code == 2 and "CAST(col AS DATETIME(6))" in refused.output, refused.output
    assert "to_timestamp" not in refused.output
    _execute(mariadb_url, "CREATE VIEW sent_v AS SELECT id, k, CAST(at AS DATETIME(6)) AS at FROM sent")
    found = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "sent_v", "--key", "k", "--ts", "at",
                                      "--id", "id"])
    assert found.exit_code == 1 and "1 near-duplicate cluster" in found.output, found.output


def test_verify_sql_runs_with_the_client_as_its_header_says(mariadb_url, tmp_path):
    """verify.sql's header told every engine to bind :since with psql; the mariadb client binds nothing. The
    header's own command (sed puts the bound in place of :since) is run here: the cluster's rows come back,
    and nothing with a bound after them."""
    import re
    import shlex
    import subprocess

    from sqlrun import apply_mysql

    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["scan", mariadb_url, "--table", "events", "--key", "account", "--ts", "ts",
                                     "--out", str(out), "-q"]).exit_code == 1
    header = (out / "verify.sql").read_text()
    assert "psql" not in header
    command = next(line[3:] for line in header.splitlines() if line.startswith("-- sed "))
    sed = shlex.split(command.split("|")[0])
    for bound, ids in (("2000-01-01 00:00:00", ["1", "2"]), (str(at(60)), [])):
        sed[1] = re.sub(r"'[^']*'", f"'{bound}'", sed[1])
        pasted = subprocess.run([*sed[:-1], str(out / "verify.sql")], capture_output=True, text=True, check=True)
        rows = apply_mysql(mariadb_url, pasted.stdout).splitlines()[1:]
        assert [r.split("\t")[0] for r in rows] == ids, rows


@pytest.mark.parametrize("aware", [False, True], ids=["datetime", "timestamp"])
def test_since_on_a_timestamp_column_reads_the_bound_in_utc_only(mariadb_url, aware):
    """A TIMESTAMP holds an instant that the scan's session hands back in UTC, so --since needs no second
    reading as wall time in --timezone: a post-deploy check with --since took a double write five hours older
    than its bound (New York) and failed on it. A DATETIME may hold either, and keeps both readings."""
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 4 * 3600.0), (4, 8, 4 * 3600 + 0.3)], aware=aware)
    result = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--since", at(3 * 3600, aware=True).isoformat(), "--timezone",
                                       "America/New_York", "--format", "json"])
    assert result.exit_code == 1, result.output
    table = json.loads(result.output)["tables"][0]
    assert [c["key"]["account"] for c in table["clusters"]] == ([8] if aware else [7, 8])
    assert any("may be UTC or America/New_York wall time" in n for n in table["notes"]) != aware, table["notes"]
    # and the table's note says how the values were read, not that they carry no time zone
    assert any("read in UTC, the scan's session time zone" in n for n in table["notes"]) == aware, table["notes"]
    assert any("has no time zone" in n for n in table["notes"]) != aware, table["notes"]


@pytest.mark.parametrize("aware", [False, True], ids=["datetime", "timestamp"])
def test_the_report_shows_timestamp_values_in_utc_and_datetime_values_as_stored(mariadb_url, aware, tmp_path):
    """The report's times of a TIMESTAMP column were labelled "as stored, no time zone": they are instants the
    scan reads in UTC, and findings.json says so (`ts_read_in_utc`) for the report and any other reader."""
    events_table(mariadb_url, [(1, 7, 0.0), (2, 7, 0.3)], aware=aware)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--out", str(out), "-q"])
    assert result.exit_code == 1, result.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    assert table.get("ts_read_in_utc", False) == aware and table["ts_timezone_aware"] is False
    report = (out / "report.html").read_text()
    assert ("as stored, no time zone" in report) != aware
