"""--since on timestamps that are not what the bound looks like: naive local wall time, SQLite text with offsets
or a 'T', epoch numbers and text that is no time (a stranger's scans read 0 rows, or rows from before the bound)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from helpers import make_table, ts_type
from sqlrun import scan_doc


def mixed(url: str) -> None:
    """Pairs 300 ms apart as SQLite may hold them: offset text, 'T' text, epoch numbers; and two bad values."""
    conn = sqlite3.connect(sa.make_url(url).database)
    conn.executescript("""
        CREATE TABLE ev (id INTEGER PRIMARY KEY, k TEXT, ts TIMESTAMP);
        INSERT INTO ev VALUES (1, 'a', '2026-11-23 13:00:00-05:00'), (2, 'a', '2026-11-23 13:00:00.300-05:00'),
            (3, 'b', '2026-11-23T19:00:00'), (4, 'b', '2026-11-23T19:00:00.200'),
            (5, 'c', '2026-11-23T10:00:00'), (6, 'c', '2026-11-23T10:00:00.100'),
            (7, 'd', 1795420800), (8, 'd', 1795420800.5), (9, 'e', 'not a time'), (10, 'e', 'garbage');
    """)
    conn.close()


def test_sqlite_reads_numbers_as_epoch_seconds_and_counts_text_that_is_no_time(sqlite_url):
    mixed(sqlite_url)
    table = scan_doc(sqlite_url, table="ev", keys=["k"], ts="ts")["tables"][0]
    assert sorted(c["key"]["k"] for c in table["clusters"]) == ["a", "b", "c", "d"]
    assert table["rows_scanned"] == 10 and table["rows_null_ts"] == 2
    assert "2 timestamps are numbers: read as epoch seconds (UTC)" in table["notes"]
    assert any(n.startswith("2 timestamps are text that is no time") for n in table["notes"])


def test_sqlite_since_compares_instants_not_text(sqlite_url):
    """18:00 UTC written as 13:00-05:00 is after 14:30Z; 10:00 written with a 'T' is before it; 08:00 as a number
    too."""
    mixed(sqlite_url)
    conn = sqlite3.connect(sa.make_url(sqlite_url).database)
    conn.execute("CREATE INDEX ev_ts ON ev (ts)")
    conn.close()
    table = scan_doc(sqlite_url, table="ev", keys=["k"], ts="ts", since="2026-11-23T14:30:00Z")["tables"][0]
    assert sorted(c["key"]["k"] for c in table["clusters"]) == ["a", "b"]
    assert table["rows_scanned"] == 4
    late = scan_doc(sqlite_url, table="ev", keys=["k"], ts="ts", since="2026-11-23T18:30:00Z")["tables"][0]
    assert sorted(c["key"]["k"] for c in late["clusters"]) == ["b"] and late["rows_scanned"] == 2


def test_sqlite_since_bound_narrows_through_an_index_on_the_timestamp(sqlite_url):
    from dupfinder.config import table_spec
    from dupfinder.connect import introspect
    from dupfinder.detect import detect_sql

    mixed(sqlite_url)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ev_ts ON ev (ts)")

    spec = table_spec(table="ev", keys=["k"], ts="ts", since="2026-11-23T14:30:00Z")
    with engine.connect() as conn:
        sql = detect_sql(conn, introspect(conn, "ev", {}), spec)["table_stats"]
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}",
                                                                  {"since": "2026-11-23 14:29:58"}))
    engine.dispose()
    assert "ev_ts" in plan and "ts>?" in plan.replace(" ", ""), plan


def test_since_on_naive_local_wall_time_reads_the_recent_rows(db_url):
    """New York wall times 25 minutes old, read with --since 2h: the earlier of the UTC and the New York readings
    of the bound is used, and a note says so."""
    wall = datetime.now(ZoneInfo("America/New_York")).replace(tzinfo=None, microsecond=0) - timedelta(minutes=25)
    make_table(db_url, "ev", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                              sa.Column("k", sa.String(5)), sa.Column("ts", ts_type())],
               [{"id": 1, "k": "a", "ts": wall}, {"id": 2, "k": "a", "ts": wall + timedelta(seconds=0.3)}])
    table = scan_doc(db_url, table="ev", keys=["k"], ts="ts", since="2h", timezone="America/New_York")["tables"][0]
    assert table["rows_scanned"] == 2 and len(table["clusters"]) == 1
    assert any("the scan starts at the earlier reading" in n and "(the bound in America/New_York)" in n
               for n in table["notes"]), table["notes"]


def test_since_year_one_scans_everything(db_url):
    make_table(db_url, "ev", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                              sa.Column("k", sa.String(5)), sa.Column("ts", ts_type())],
               [{"id": 1, "k": "a", "ts": datetime(2026, 1, 1)},
                {"id": 2, "k": "a", "ts": datetime(2026, 1, 1, 0, 0, 0, 300000)}])
    table = scan_doc(db_url, table="ev", keys=["k"], ts="ts", since="0001-01-01")["tables"][0]
    assert table["rows_scanned"] == 2 and len(table["clusters"]) == 1


def test_a_since_check_reading_nothing_behind_local_wall_times_warns_on_stderr(db_url, monkeypatch):
    """A CI machine in UTC, a column of New York wall times, --since 30m without --timezone: the check read no row
    and passed in silence (stranger7), the only trace a note that summary and JUnit do not show. It still passes,
    but standard error, the summary and findings say that the newest row lies hours behind the bound and to give
    --timezone; with it the rows are read, and a window that holds rows draws no warning."""
    import json
    import time

    from click.testing import CliRunner

    from dupfinder.cli import main

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    wall = datetime.now(ZoneInfo("America/New_York")).replace(tzinfo=None, microsecond=0) - timedelta(minutes=10)
    make_table(db_url, "ev", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                              sa.Column("k", sa.String(5)), sa.Column("ts", ts_type())],
               [{"id": 1, "k": "a", "ts": wall}, {"id": 2, "k": "a", "ts": wall + timedelta(seconds=0.3)},
                {"id": 3, "k": "b", "ts": wall - timedelta(days=1)}])
    args = ["scan", db_url, "--table", "ev", "--key", "k", "--ts", "ts", "--since", "30m", "--format", "summary"]
    try:
        silent = CliRunner().invoke(main, args)
        found = CliRunner().invoke(main, [*args, "--timezone", "America/New_York"])
        old = CliRunner().invoke(main, [*args[:-4], "--since", (wall - timedelta(hours=20)).isoformat(),
                                        "--format", "summary"])
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert silent.exit_code == 0, silent.output
    assert "warning: ev: no row was written since the bound" in silent.stderr
    assert "--timezone ZONE" in silent.stderr and " h before it (" in silent.stderr
    assert json.loads(silent.stdout)["tables"][0]["warnings"][0].startswith("no row was written since the bound")
    assert found.exit_code == 1 and "warning" not in found.stderr, found.output
    assert "warning" not in old.stderr  # rows read: nothing to warn about


def test_summary_says_how_the_since_bound_was_read_as_the_text_does(db_url):
    """--format summary gave the counts of a --since check but not its bound nor the notes on how the bound was
    read (which zone, the index it lacked): the text showed them, a CI job reading the summary could not."""
    import json

    from click.testing import CliRunner

    from dupfinder.cli import main

    wall = datetime.now(ZoneInfo("America/New_York")).replace(tzinfo=None, microsecond=0) - timedelta(minutes=25)
    make_table(db_url, "ev", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                              sa.Column("k", sa.String(5)), sa.Column("ts", ts_type())],
               [{"id": 1, "k": "a", "ts": wall}, {"id": 2, "k": "a", "ts": wall + timedelta(seconds=0.3)}])
    since = (datetime.now(ZoneInfo("UTC")) - timedelta(hours=2)).isoformat()  # one bound for the three runs
    args = ["scan", db_url, "--table", "ev", "--key", "k", "--ts", "ts", "--since", since,
            "--timezone", "America/New_York"]
    text = CliRunner().invoke(main, args)
    summary = CliRunner().invoke(main, [*args, "--format", "summary"])
    full = CliRunner().invoke(main, [*args, "--format", "json"])
    assert text.exit_code == summary.exit_code == full.exit_code == 1, (text.output, summary.output)
    table = json.loads(summary.stdout)["tables"][0]
    assert table["since"] == json.loads(full.stdout)["tables"][0]["since"]
    assert datetime.fromisoformat(table["since"]) <= wall  # the New York reading of the bound: the earlier one
    read = [n for n in table["since_notes"] if "the scan starts at the earlier reading" in n]
    assert len(read) == 1 and "(the bound in America/New_York)" in read[0], table
    advice = [n for n in table["since_notes"] if n.startswith("no index starts with ts")]
    assert len(advice) == 1, table  # neither engine's table has an index on ts
    assert all(f"note: {n}" in text.stdout for n in table["since_notes"])  # as the text says them
