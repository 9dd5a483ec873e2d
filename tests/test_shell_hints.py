"""Commands that generated files suggest are shell words a person can paste: one line, quoted for the shell,
never JSON-escaped (a stranger's finding: migration.sql's --table hint showed \\" for every quote)."""

from __future__ import annotations

import shlex
import subprocess
import sys

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table
from hostile import names
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlrun import apply_sql

from dupfinder.cli import main
from dupfinder.remediate import migration_sql_for_findings

HINT = "--   dupfinder migrate URL "


def argv_of(command: str) -> list[str]:
    """What bash passes to the program the command line runs (the program replaced by one printing its
    arguments, NUL-separated)."""
    shown = subprocess.run(["bash", "-c", "args() { printf '%s\\0' \"$@\"; }; args " + command],
                           capture_output=True, check=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    return shown.stdout.decode("utf-8").split("\0")[:-1]


def held_back(table: str, keys: list[str]) -> str:
    doc = {"scanned_at": "2026-11-03T02:30:00", "database": "sqlite:///x.db", "dupfinder_version": "0",
           "tables": [{"table": table, "keys": keys, "far_duplicates": 1, "divergent_clusters": 0,
                       "dialect": "sqlite"}]}
    return migration_sql_for_findings(doc)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(table=names("postgresql"), keys=st.lists(names("postgresql"), min_size=1, max_size=2))
def test_the_migrate_hint_is_one_shell_command_for_any_name(table, keys):
    text = held_back(table, keys)
    [line] = [line for line in text.split("\n") if line.startswith(HINT)]
    assert "\r" not in line
    command = line[len("--   dupfinder "):]
    assert argv_of(command) == ["migrate", "URL", "--table", table, *(a for k in keys for a in ("--key", k))]


def test_a_plain_name_with_quotes_is_shown_as_shlex_quotes_it():
    table, key = 'we"ird; drop', "it's"
    text = held_back(table, [key])
    assert f"{HINT}--table {shlex.quote(table)} --key {shlex.quote(key)}" in text


def test_the_hint_runs_for_a_hostile_table_that_was_scanned(sqlite_url, tmp_path):
    """End to end: a table named with a quote, a semicolon and a line break, scanned, holds a far duplicate;
    migration.sql holds it back and executes; the hint's command, run through bash, writes its migration."""
    name = 'nl\nDROP TABLE victim; --"x'
    make_table(sqlite_url, name, [sa.Column("id", sa.Integer, primary_key=True), sa.Column("k", sa.Integer),
                                  sa.Column("ts", sa.DateTime)],
               [{"id": 1, "k": 1, "ts": at(0)}, {"id": 2, "k": 1, "ts": at(0.2)}, {"id": 3, "k": 1, "ts": at(500)}])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", name, "--key", "k", "--ts", "ts",
                                       "--out", str(out)])
    assert result.exit_code == 1, result.output
    migration = (out / "migration.sql").read_text()
    [line] = [line for line in migration.split("\n") if line.startswith(HINT)]
    apply_sql(sqlite_url, migration)
    args = argv_of(line[len("--   dupfinder "):])
    assert args[3] == name
    args[1] = sqlite_url
    done = subprocess.run([sys.executable, "-m", "dupfinder", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "CREATE UNIQUE INDEX" in done.stdout
