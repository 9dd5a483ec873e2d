"""Small things a stranger saw in the text output: a table name with a line break printed raw, an index advised
for an empty table, a long index name cut before its ``_idx``."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from click.testing import CliRunner

from dupfinder.cli import main


def table(url: str, name: str, rows: list[tuple]) -> None:
    conn = sqlite3.connect(sa.make_url(url).database)
    quoted = '"' + name.replace('"', '""') + '"'
    conn.execute(f"CREATE TABLE {quoted} (id INTEGER PRIMARY KEY, k TEXT, created_at TIMESTAMP)")
    conn.executemany(f"INSERT INTO {quoted} VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()


def test_a_table_name_with_a_line_break_is_shown_escaped_on_one_line(sqlite_url):
    table(sqlite_url, "night\nly", [(1, "a", "2026-11-23 10:00:00"), (2, "a", "2026-11-23 10:00:00.300")])
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "night\nly", "--key", "k", "--ts", "created_at"])
    assert done.exit_code == 1, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("night\\u000aly: 1 near-duplicate cluster in"), lines[0]
    assert not any(line.startswith("ly") for line in lines), done.output


def test_no_index_is_advised_for_an_empty_table_and_a_long_name_keeps_its_idx(sqlite_url):
    long = "reconciliation_summaries_of_every_settlement_window"
    table(sqlite_url, long, [])
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--table", long, "--key", "k", "--ts", "created_at"])
    assert done.exit_code == 0 and "CREATE INDEX" not in done.output, done.output
    conn = sqlite3.connect(sa.make_url(sqlite_url).database)
    conn.execute(f"INSERT INTO {long} VALUES (1, 'a', '2026-11-23 10:00:00')")
    conn.commit()
    conn.close()
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--table", long, "--key", "k", "--ts", "created_at"])
    [advice] = [line for line in done.output.splitlines() if "CREATE INDEX" in line]
    name = advice.split("CREATE INDEX ", 1)[1].split(" ON ", 1)[0]
    assert name.endswith("_idx") and len(name) == 63, name
