"""The command line: exit codes, one clear Error: line, no traceback, no password anywhere."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import events_table, run_statements

from dupfinder import api
from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "dupfinder" / "findings.schema.json"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def dup_db(db_url):
    events_table(db_url, [(1, 7, 0.0, "a"), (2, 7, 0.4, "b"), (3, 8, 0.0, "a")])
    return db_url


def test_exit_1_when_clusters_found_and_0_when_clean(dup_db):
    found = run("scan", dup_db, "--table", "events", "--key", "account", "--key", "day", "--ts", "ts")
    assert found.exit_code == 1, found.output
    assert "1 near-duplicate cluster in 1 incident" in found.output
    assert "writer columns: host=host" in found.output
    clean = run("scan", dup_db, "--table", "events", "--key", "account", "--key", "day", "--ts", "ts",
                "--window", "100ms")
    assert clean.exit_code == 0, clean.output
    assert clean.output.splitlines()[-1].startswith("no near-duplicate clusters, but 1 far-duplicate key (")


def test_json_format_and_out_dir(dup_db, tmp_path):
    result = run("scan", dup_db, "--table", "events", "--key", "account", "--key", "day", "--ts", "ts",
                 "--format", "json", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["tables"][0]["clusters"][0]["key"] == {"account": 7, "day": "2026-11-02"}
    for name in ("findings.json", "report.html", "cleanup.sql", "rollback.sql", "migration.sql"):
        assert (tmp_path / "out" / name).exists()
    # the repository's own published schema, checked by a maintained validator (nothing outside the clone)
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads((tmp_path / "out" / "findings.json").read_text()))
    broken = json.loads((tmp_path / "out" / "findings.json").read_text())
    del broken["tables"][0]["ts_column"]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken)), "the schema must catch a missing field"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "evnts", "--key", "account", "--ts", "ts"], "table 'evnts' not found; tables with a similar"),
        (["--table", "events", "--key", "acount", "--ts", "ts"], "key column 'acount' not found"),
        (["--table", "events", "--key", "account", "--ts", "tss"], "timestamp column 'tss' not found"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--window", "2 parsecs"], "bad duration"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--window", "-1s"], "bad duration"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--since", "yesterday-ish"], "bad --since"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--writer", "boss=host"], "unknown writer role"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--writer", "host"], "ROLE=COLUMN"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--timezone", "Mars/Olympus"], "time zone"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--timezone", ""], "unknown time zone ''"),
        (["--table", "events", "--ts", "ts"], "missing --key"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--window", "0"], "more than zero"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--window", "0ms"], "more than zero"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--window", "0.5us"], "at least 1us"),
        (["--table", "events", "--key", "ts", "--ts", "ts"], "is both a --key column and the --ts column"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--writer", "host=account"], "names a --key col"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--writer", "host=ts"], "names the --ts column"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--window", "99999999999999999999999d"], "at most"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--incident-gap", "1e9999"], "bad duration"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--since", "99999999999999999999d"], "bad --since"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--since", "0001-01-01T00:00:00+05:00"],
         "bad --since"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--statement-timeout", "500us"], "at least 1ms"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--statement-timeout", "0"], "more than zero"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--statement-timeout", "30d"], "at most"),
        (["--table", "events", "--key", "account", "--ts", "day"], "VARCHAR(10), "),  # SQLite: its values said so
        (["--table", "events", "--key", "day", "--ts", "account"], "INTEGER, "),
        (["--table", "events", "--key", "account", "--ts", "ts", "--fail-on", "clusters"], "bad --fail-on"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--fail-on", "mechanism:nap>0"], "unknown mech"),
        (["--table", "events", "--key", "account", "--ts", "ts", "--baseline", "/nonexistent/f.json"], "not found"),
    ],
)
def test_bad_input_exits_2_with_one_line(dup_db, args, message):
    result = run("scan", dup_db, *args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_bad_url_exits_2():
    result = run("scan", "notaurl", "--table", "t", "--key", "k", "--ts", "ts")
    assert result.exit_code == 2 and "cannot parse database URL" in result.output
    result = run("scan", "sqlite:////nonexistent/dir/x.db", "--table", "t", "--key", "k", "--ts", "ts")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not Path("/nonexistent/dir/x.db").exists()
    result = run("scan", "nosuchdb+driver://u:pw@h/d", "--table", "t", "--key", "k", "--ts", "ts")
    assert result.exit_code == 2 and "pw" not in result.output
    result = run("scan", "postgresql+psycopg://u:hunter2@h:abc/db", "--table", "t", "--key", "k", "--ts", "ts")
    assert result.exit_code == 2 and "the port 'abc' is not a number" in result.output, result.output
    assert result.output.count("\n") == 1 and "hunter2" not in result.output
    result = run("scan", "postgresql+psycopg://u:hunter2@h:70000/db", "--table", "t", "--key", "k", "--ts", "ts")
    assert result.exit_code == 2 and "out of range" in result.output and "hunter2" not in result.output


def test_an_unencoded_at_sign_in_a_password_leaks_nothing():
    result = run("scan", "postgresql+psycopg://app:hunter2@tail-of-it@127.0.0.1:9/prod", "--table", "t", "--key",
                 "k", "--ts", "ts")
    assert result.exit_code == 2, result.output
    assert "percent-encode it in the password as %40" in result.output
    assert "hunter2" not in result.output and "tail-of-it" not in result.output
    assert result.output.count("\n") == 1


def test_a_missing_sqlite_file_named_as_a_uri_is_not_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///file:x.db?mode=ro&uri=true", "sqlite:///file:x.db?mode=rwc&uri=true",
                "sqlite:///file:x.db?uri=true", f"sqlite:///file://{tmp_path}/y.db?uri=true",
                f"sqlite:///file:{tmp_path}/z%20z.db?uri=true", "sqlite:///file:w.db"):
        result = run("scan", url, "--table", "t", "--key", "k", "--ts", "ts")
        assert result.exit_code == 2 and "does not exist" in result.output, (url, result.output)
    assert list(tmp_path.iterdir()) == []
    events_table(f"sqlite:///{tmp_path}/real.db", [(1, 7, 0.0), (2, 7, 0.3)])
    found = run("scan", f"sqlite:///file:{tmp_path}/real.db?mode=ro&uri=true", "--table", "events", "--key",
                "account", "--ts", "ts")
    assert found.exit_code == 1, found.output  # an existing file named as a URI is scanned


def test_unreachable_server_exits_3_and_masks_password():
    url = "postgresql+psycopg://app:hunter2-secret@127.0.0.1:9/prod"
    result = run("scan", url, "--table", "t", "--key", "k", "--ts", "ts")
    assert result.exit_code == 3, result.output
    assert result.output.startswith("Error: cannot connect to postgresql+psycopg://app:***@127.0.0.1:9/prod")
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_traceback_flag_shows_the_stack():
    result = run("scan", "notaurl", "--table", "t", "--key", "k", "--ts", "ts", "--traceback")
    assert result.exit_code == 2 and "Traceback" in result.output


def test_password_never_written(pg_server, tmp_path):
    from helpers import events_table as make

    url = pg_server.url("postgres", password="topsecret-pw")
    make(url, [(1, 7, 0.0), (2, 7, 0.2)], name="pwcheck")
    out = tmp_path / "out"
    result = run("scan", url, "--table", "pwcheck", "--key", "account", "--ts", "ts", "--out", str(out))
    assert result.exit_code == 1
    assert "topsecret" not in result.output
    for path in out.iterdir():
        assert "topsecret" not in path.read_text(), path.name
    doc = json.loads((out / "findings.json").read_text())
    assert doc["database"].startswith("postgresql+psycopg://postgres:***@")


def test_config_file_scans_several_tables(db_url, tmp_path):
    events_table(db_url, [(1, 7, 0.0), (2, 7, 0.4)], name="first")
    events_table(db_url, [(1, 7, 0.0), (2, 7, 9.0)], name="second")
    config = tmp_path / "dupfinder.toml"
    config.write_text(
        f'database = "{db_url}"\nwindow = "1s"\n\n'
        '[[table]]\nname = "first"\nkey = ["account", "day"]\nts = "ts"\n\n'
        '[[table]]\nname = "second"\nkey = ["account"]\nts = "ts"\nwindow = "10s"\n'
        'writers = { host = "host" }\n'
    )
    result = run("scan", "--config", str(config), "--format", "json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    assert [len(t["clusters"]) for t in doc["tables"]] == [1, 1]
    assert [t["window_seconds"] for t in doc["tables"]] == [1.0, 10.0]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[table]]\nname = "first"\nkey = "account"\nts = "ts"\ncolour = "blue"\n')
    result = run("scan", db_url, "--config", str(bad))
    assert result.exit_code == 2 and "unknown field(s) colour" in result.output


def test_no_infer_writers(dup_db):
    result = run("scan", dup_db, "--table", "events", "--key", "account", "--ts", "ts", "--no-infer-writers",
                 "--format", "json")
    assert json.loads(result.output)["tables"][0]["writer_columns"] == []


def test_demo_command(tmp_path):
    result = run("demo", "--out", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and "recon_summary" in result.output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_for_a_person_at_a_terminal(sqlite_url):
    from dupfinder.cli import _progress

    assert _progress("json", _Terminal(), {}) is None
    assert _progress("text", io.StringIO(), {}) is None  # piped or redirected
    assert _progress("text", _Terminal(), {"CI": "true"}) is None
    screen = _Terminal()
    update = _progress("text", screen, {})
    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.2)])
    events_table(sqlite_url, [(1, 7, 0.0)], name="other")
    spec = table_spec(table="events", keys=["account", "day"], ts="ts")
    other = table_spec(table="other", keys=["account", "day"], ts="ts")
    api.scan(ScanOptions(url=sqlite_url, tables=(spec, other)), update)
    drawn = screen.getvalue()
    assert "events: finding clusters" in drawn and "other: attributing writers" in drawn
    assert "1/2" in drawn  # counted in tables; cleared from the screen when the last one is done


def test_a_clean_scan_does_not_load_pandas(sqlite_url):
    """The post-deploy check that finds nothing is the common case: it should not pay for pandas."""
    events_table(sqlite_url, [(1, 7, 0.0), (2, 8, 0.1)])
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom dupfinder.cli import main\n"
             f"r = CliRunner().invoke(main, ['scan', {sqlite_url!r}, '--table', 'events', '--key', 'account', "
             "'--ts', 'ts'])\nprint(r.exit_code, 'pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "False"], done.stdout + done.stderr


def test_out_that_cannot_be_created_fails_before_the_scan(dup_db, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for out, message in ((blocker, "is a file"), (blocker / "sub", "is a file, not a folder"),
                         ("/proc/dupfinder-out", "cannot be"), ("/proc/dupfinder/out", "cannot be")):
        result = run("scan", dup_db, "--table", "events", "--key", "account", "--ts", "ts", "--out", str(out))
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error: ") and "--out" in result.output and message in result.output
        assert result.output.count("\n") == 1 and "unexpected" not in result.output
    assert not Path("/proc/dupfinder-out").exists()
    # a scan that fails leaves no --out folder behind, and neither does a folder it had to create
    failed = run("scan", dup_db, "--table", "events", "--key", "account", "--ts", "tss", "--out",
                 str(tmp_path / "new" / "deeper"))
    assert failed.exit_code == 2 and not (tmp_path / "new").exists()
    if os.geteuid() != 0:  # root writes anywhere: the permission case only means something for a user
        result = run("scan", dup_db, "--table", "events", "--key", "account", "--ts", "ts", "--out",
                     str(locked / "out"))
        assert result.exit_code == 2 and "cannot be" in result.output


def test_output_files_into_a_missing_folder_are_one_error_line(dup_db, tmp_path):
    out = tmp_path / "out"
    assert run("scan", dup_db, "--table", "events", "--key", "account", "--ts", "ts", "--out", str(out)).exit_code == 1
    missing = tmp_path / "missing" / "cleanup.sql"
    for args in (["cleanup", str(out / "findings.json"), "-o", str(missing)],
                 ["migrate", dup_db, "--table", "events", "--key", "account", "-o", str(missing)],
                 ["discover", dup_db, "-o", str(missing)],
                 ["cleanup", str(out / "findings.json"), "-o", str(tmp_path)]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("Error: ") and "-o" in result.output, result.output
        assert result.output.count("\n") == 1 and "unexpected" not in result.output, result.output
    assert not (tmp_path / "missing").exists()


def _shell(command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=120)


def test_a_broken_pipe_ends_quietly_with_the_scan_result(tmp_path):
    from dupfinder.sample_data import build_demo_database

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    build_demo_database(url)
    scan = (f"{sys.executable} -m dupfinder scan {url} --table recon_summary --key account_id --key window_id "
            "--ts created_at")
    for fmt in ("json", "text", "junit"):
        done = _shell(f"{scan} --format {fmt} | head -c 100 >/dev/null; echo \"status ${{PIPESTATUS[0]}}\"")
        assert done.stderr == "", done.stderr  # no "Error: unexpected BrokenPipeError", no Python complaint
        assert done.stdout.strip() == "status 1", done.stdout  # the scan found clusters: 1, as without the pipe


def test_quiet_prints_nothing_and_keeps_the_exit_code(dup_db, tmp_path):
    result = CliRunner().invoke(main, ["scan", dup_db, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--quiet", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and result.output == ""
    assert (tmp_path / "o" / "findings.json").exists()
    result = run("scan", dup_db, "-q", "--table", "events", "--key", "account", "--ts", "tss")
    assert result.exit_code == 2 and result.output.startswith("Error: ")


def test_progress_shows_the_running_statement_and_rows_per_second(sqlite_url):
    import threading
    import time

    from dupfinder.cli import _progress

    screen = _Terminal()
    update = _progress("text", screen, {}, refresh=0.05)
    events_table(sqlite_url, [(i, i % 50, i * 0.01) for i in range(1, 3001)])
    # a statement that runs for a while: the line must show it while it runs, refreshed by the ticker
    engine = __import__("sqlalchemy").create_engine(sqlite_url)
    update("events", "finding clusters", 0, 2)
    with engine.connect() as conn:
        worker = threading.Thread(target=lambda: conn.exec_driver_sql(
            "WITH RECURSIVE slow(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM slow WHERE n < 3000000) "
            "SELECT count(*) FROM slow").all())
        worker.start()
        time.sleep(0.6)
        drawn_while_running = screen.getvalue()
        worker.join()
    engine.dispose()
    assert "running WITH RECURSIVE slow(n) AS" in drawn_while_running
    update.rows_read("events", 3000)
    update("events", "attributing writers", 0, 2)
    assert "3,000 rows in" in screen.getvalue() and "rows/s" in screen.getvalue()
    update("events", "done", 2, 2)
    spec = table_spec(table="events", keys=["account"], ts="ts")
    screen2 = _Terminal()
    api.scan(ScanOptions(url=sqlite_url, tables=(spec,)), _progress("text", screen2, {}, refresh=0.05))
    assert "rows/s" in screen2.getvalue()


def test_a_timestamp_column_that_is_not_a_date_time_is_refused(db_url):
    import sqlalchemy as sa
    from helpers import make_table

    make_table(db_url, "typed", [sa.Column("id", sa.Integer, primary_key=True), sa.Column("k", sa.Integer),
                                 sa.Column("t_text", sa.Text), sa.Column("t_bigint", sa.BigInteger),
                                 sa.Column("t_date", sa.Date), sa.Column("t_ok", sa.DateTime)],
               [{"id": 1, "k": 1, "t_text": "2026-11-03 02:30:00", "t_bigint": 1, "t_date": None, "t_ok": None}])
    sqlite = db_url.startswith("sqlite")
    for column, kind in (("t_text", "TEXT"), ("t_bigint", "BIGINT"), ("t_date", "DATE")):
        result = run("scan", db_url, "--table", "typed", "--key", "k", "--ts", column)
        if sqlite and column == "t_text":  # SQLite keeps times as text: its values are read (test below)
            assert result.exit_code == 0, result.output
            continue
        assert result.exit_code == 2, result.output
        said = (f"is declared {kind}, and 1 of its first 1 values are not a date-time with a time of day (e.g. '1')"
                if sqlite and column == "t_bigint" else f"is {kind}, not a date-time type")
        assert f"timestamp column '{column}' of table 'typed' {said}" in result.output, result.output
        assert result.output.count("\n") == 1
    assert "a date has no time of day" in run("scan", db_url, "--table", "typed", "--key", "k", "--ts",
                                               "t_date").output
    assert run("scan", db_url, "--table", "typed", "--key", "k", "--ts", "t_ok").exit_code == 0


def test_a_statement_timeout_of_one_millisecond_is_really_applied(pg_url):
    """The smallest timeout accepted reaches the server (exit 3), where 500us used to mean none at all."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE big (id int PRIMARY KEY, k int, ts timestamp)")
        conn.exec_driver_sql("INSERT INTO big SELECT g, mod(g, 1000), timestamp '2026-11-03' + g * interval '1 ms' "
                             "FROM generate_series(1, 100000) g")
    engine.dispose()
    args = ["scan", pg_url, "--table", "big", "--key", "k", "--ts", "ts"]
    timed_out = run(*args, "--statement-timeout", "1ms")
    assert timed_out.exit_code == 3, timed_out.output
    assert "statement timeout" in timed_out.output and timed_out.output.count("\n") == 1
    assert run(*args, "--statement-timeout", "10m").exit_code in (0, 1)


def test_at_signs_in_a_sqlite_path_are_not_a_password(tmp_path):
    folder = tmp_path / "team@corp" / "db@v2"
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'x@y.db'}"
    events_table(url, [(1, 7, 0.0), (2, 7, 0.3)])
    result = run("scan", url, "--table", "events", "--key", "account", "--ts", "ts")
    assert result.exit_code == 1, result.output
    assert f"({url})" in result.output  # shown as given: nothing in a path is masked


def test_cleanup_dash_o_never_writes_the_rollback_over_the_cleanup_file(dup_db, tmp_path):
    out = tmp_path / "out"
    assert run("scan", dup_db, "--table", "events", "--key", "account", "--ts", "ts", "--out", str(out)).exit_code == 1
    for name, rollback in (("again.sql", "again.rollback.sql"), ("cleanup-2.sql", "rollback-2.sql"),
                           ("fix", "fix.rollback.sql")):
        result = run("cleanup", str(out / "findings.json"), "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        cleanup_text = (tmp_path / name).read_text()
        assert "dupfinder cleanup.sql" in cleanup_text and "DELETE" in cleanup_text
        assert "dupfinder rollback.sql" in (tmp_path / rollback).read_text()


def test_a_sqlite_timestamp_of_any_declared_type_is_read_by_its_values(sqlite_url):
    """SQLite's own documentation keeps times as TEXT, INTEGER or REAL, and a read-only audit cannot rebuild the
    table: a --ts column declared TEXT, INTEGER or nothing is read by its values (space or T, an offset, epoch
    seconds) and finds what the same values under DATETIME find, with a note saying how it was read; a column
    whose values are dates or small numbers is still refused, with one of them shown."""
    import sqlalchemy as sa

    values = [(1, 7, "2026-11-03 02:30:00.100", "2026-11-03"), (2, 7, "2026-11-03T02:30:00.400", "2026-11-03"),
              (3, 8, "2026-11-03 05:00:00+01:00", "2026-11-03"), (4, 8, "2026-11-03T04:00:00.300Z", "2026-11-04"),
              (5, 9, 1762137000, "2026-11-04"), (6, 9, 1762137000.25, "2026-11-04"), (7, 10, None, None)]
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        for name, declared in (("typed", "DATETIME"), ("as_text", "TEXT"), ("as_int", "INTEGER"), ("bare", "")):
            conn.exec_driver_sql(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, k INTEGER, at {declared}, day TEXT)")
            conn.exec_driver_sql(f"INSERT INTO {name} VALUES " + ", ".join("(?, ?, ?, ?)" for _ in values),
                                 tuple(v for row in values for v in row))
    engine.dispose()

    def clusters(table: str) -> list:
        result = run("scan", sqlite_url, "--table", table, "--key", "k", "--ts", "at", "--format", "json")
        assert result.exit_code == 1, result.output
        found = json.loads(result.output)["tables"][0]
        return [(c["key"], [r["pk"]["id"] for r in c["rows"]]) for c in found["clusters"]], found["notes"]

    expected, _ = clusters("typed")
    assert sorted(ids for _, ids in expected) == [[1, 2], [3, 4], [5, 6]]
    for table, kind in (("as_text", "declared TEXT"), ("as_int", "declared INTEGER"), ("bare", "of no declared type")):
        found, notes = clusters(table)
        if table == "as_text":  # TEXT affinity stores 1762137000 as the text '1762137000': not read, and said so
            assert found == [c for c in expected if c[0] != {"k": 9}], table
            assert any(n.startswith("2 timestamps are text that is no time") for n in notes), notes
        else:
            assert found == expected, table
        assert any(f"the timestamp column is {kind}: SQLite keeps any value there" in n for n in notes), notes
    dates = run("scan", sqlite_url, "--table", "as_text", "--key", "k", "--ts", "day")
    assert dates.exit_code == 2 and "6 of its first 6 values are not a date-time with a time of day " \
        "(e.g. '2026-11-03')" in dates.output and dates.output.count("\n") == 1, dates.output
    numbers = run("scan", sqlite_url, "--table", "as_text", "--key", "day", "--ts", "k")
    assert numbers.exit_code == 2 and "(e.g. '7')" in numbers.output, numbers.output


def test_a_sqlite_datetime_column_of_julian_days_is_refused_not_read_as_epoch_seconds(sqlite_url, tmp_path):
    """A rates job stores julianday('now') (SQLite's REAL time) in a DATETIME column, once a day per currency.
    Read as epoch seconds the days were one "second" apart: the daily rows became near-duplicate clusters and
    cleanup.sql deleted two days of rates. Refused like the same values in a REAL column, with the way out;
    a DATETIME column of ISO text or epoch seconds is read as before."""
    run_statements(sqlite_url,
                   "CREATE TABLE fx_rates (id INTEGER PRIMARY KEY, ccy TEXT, rate REAL, fetched_at DATETIME)",
                   "INSERT INTO fx_rates (ccy, rate, fetched_at) VALUES ('EUR', 1.1, julianday('2026-11-20 06:00:00')),"
                   " ('EUR', 1.1, julianday('2026-11-21 06:00:00')), ('EUR', 1.1, julianday('2026-11-22 06:00:00'))",
                   "CREATE TABLE fx_iso (id INTEGER PRIMARY KEY, ccy TEXT, fetched_at DATETIME)",
                   "INSERT INTO fx_iso (ccy, fetched_at) VALUES ('EUR', '2026-11-20 06:00:00.100'),"
                   " ('EUR', '2026-11-20 06:00:00.300'), ('USD', 1762137000)")
    result = run("scan", sqlite_url, "--table", "fx_rates", "--key", "ccy", "--ts", "fetched_at",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "is declared DATETIME, and 3 of its first 3 values are not a date-time" \
        in result.output and "(col - 2440587.5) * 86400" in result.output, result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "out" / "cleanup.sql").exists(), result.output
    iso = run("scan", sqlite_url, "--table", "fx_iso", "--key", "ccy", "--ts", "fetched_at", "--format", "json")
    assert iso.exit_code == 1, iso.output
    assert [c["key"] for c in json.loads(iso.output)["tables"][0]["clusters"]] == [{"ccy": "EUR"}]


def test_sqlite_epoch_second_timestamps_reach_every_output_as_times(sqlite_url, tmp_path):
    """A settlement client that retried after a timeout wrote its copies into an INTEGER column of epoch
    seconds (SQLite's other usual way to keep times): the scan reads them as UTC, and findings.json, the
    report and --runs must read them the same way; the report stopped with "Invalid isoformat string"."""
    run_statements(sqlite_url, "CREATE TABLE settlements (id INTEGER PRIMARY KEY, ref TEXT, cents INTEGER, at INTEGER)",
                   "INSERT INTO settlements VALUES (1, 'S-1', 900, 1762137000), (2, 'S-1', 900, 1762137000),"
                   " (3, 'S-2', 100, 1762137001), (4, 'S-3', 250, 1762137002.5), (5, 'S-3', 250, 1762137003)")
    runs = tmp_path / "runs.jsonl"
    runs.write_text('{"start": 1762136999, "end": 1762137010, "job": "settle"}\n')
    out = tmp_path / "out"
    result = run("scan", sqlite_url, "--table", "settlements", "--key", "ref", "--ts", "at", "--out", str(out),
                 "--runs", str(runs))
    assert result.exit_code == 1, result.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    assert [[r["ts"] for r in c["rows"]] for c in table["clusters"]] == [
        ["2025-11-03T02:30:00", "2025-11-03T02:30:00"], ["2025-11-03T02:30:02.500000", "2025-11-03T02:30:03"]]
    assert table["time_range"] == {"first": "2025-11-03T02:30:00", "last": "2025-11-03T02:30:03"}
    assert all(r["run"] for c in table["clusters"] for r in c["rows"]), table["clusters"]
    assert "2025-11-03" in (out / "report.html").read_text()


def test_cleanup_to_standard_output_says_no_rollback_was_written(dup_db, tmp_path):
    """Piped straight into psql, the cleanup has no rollback beside it: standard error says so, and standard
    output holds only the SQL (so the pipe still runs)."""
    out = tmp_path / "out"
    assert run("scan", dup_db, "--table", "events", "--key", "account", "--ts", "ts", "--out", str(out)).exit_code == 1
    result = run("cleanup", str(out / "findings.json"))
    assert result.exit_code == 0, result.output
    assert "no rollback written" in result.stderr
    assert "no rollback" not in result.stdout and "dupfinder cleanup.sql" in result.stdout
    assert not any(p.name.endswith(".sql") for p in tmp_path.iterdir())


def test_epoch_seconds_kept_as_text_are_refused_with_advice_that_works(sqlite_url):
    """A TEXT column of epoch seconds written as strings (SQLite compares them as text, so they are not read as
    times): the refusal said "ISO text, epoch seconds" are read and this column "holds something else"; it now
    says these are epoch seconds kept as text, and the view it names finds the pair."""
    import sqlalchemy as sa

    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE ev (id INTEGER PRIMARY KEY, k INTEGER, at TEXT)")
        conn.exec_driver_sql("INSERT INTO ev VALUES (1, 7, '1762137000'), (2, 7, '1762137000.4'), "
                             "(3, 8, '1762140000')")
    result = run("scan", sqlite_url, "--table", "ev", "--key", "k", "--ts", "at")
    assert result.exit_code == 2, result.output
    assert "epoch seconds stored as text" in result.output and result.output.count("\n") == 1
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW ev_s AS SELECT id, k, CAST(at AS REAL) AS at FROM ev")
    engine.dispose()
    viewed = run("scan", sqlite_url, "--table", "ev_s", "--key", "k", "--ts", "at", "--id", "id", "--format", "json")
    assert viewed.exit_code == 1, viewed.output
    assert [c["key"]["k"] for c in json.loads(viewed.output)["tables"][0]["clusters"]] == [7]


@pytest.mark.parametrize("engine", ["sqlite_url", "duckdb_url"])
def test_a_statement_timeout_interrupts_sqlite_and_duckdb_too(request, engine):
    """Neither engine has a statement timeout of its own, and --statement-timeout was accepted and ignored on
    both: a CI check meant to stop at a bound ran on. The statement is interrupted (exit 3, one line), and a
    bound it keeps within changes nothing."""
    import sqlalchemy as sa

    url = request.getfixturevalue(engine)
    count = 100_000 if engine == "sqlite_url" else 1_000_000
    engine_ = sa.create_engine(url)
    with engine_.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE big (id INTEGER PRIMARY KEY, k INTEGER, ts TIMESTAMP)")
        if url.startswith("sqlite"):
            conn.exec_driver_sql(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
                                 "INSERT INTO big SELECT i, i, datetime('2026-11-03', '+' || i || ' seconds') FROM n")
        else:
            conn.exec_driver_sql(f"INSERT INTO big SELECT i, i, TIMESTAMP '2026-11-03' + to_seconds(i) "
                                 f"FROM range(1, {count + 1}) t(i)")
    engine_.dispose()
    args = ["scan", url, "--table", "big", "--key", "k", "--ts", "ts", "--format", "summary"]
    timed_out = run(*args, "--statement-timeout", "1ms")
    assert timed_out.exit_code == 3, timed_out.output
    assert "longer than --statement-timeout (1 ms)" in timed_out.output
    assert timed_out.output.count("\n") == 1, timed_out.output
    untimed, bounded = run(*args), run(*args, "--statement-timeout", "10m")
    assert bounded.exit_code == untimed.exit_code == 0, bounded.output
    assert json.loads(bounded.output)["tables"] == json.loads(untimed.output)["tables"]


def test_the_last_line_names_the_tables_that_hold_clusters(pg_url, tmp_path):
    """stranger14: a nightly text scan of 750 tenant tables ended "95 clusters found": the hit tenants were
    somewhere in 1,500 lines above. The last line now names them, with their counts."""
    schemas = [f"tenant_{i:02d}" for i in range(1, 21)] + ["Tenant-ACME"]
    statements, config = [], []
    for s in schemas:
        copies = 2 if s in ("tenant_07", "Tenant-ACME") else 1
        statements += [f'CREATE SCHEMA "{s}"', f'CREATE TABLE "{s}".invoices (id serial PRIMARY KEY, customer_id int, '
                       'created_at timestamptz)', f'INSERT INTO "{s}".invoices (customer_id, created_at) SELECT c, '
                       "timestamptz '2026-11-01' + c * interval '1 s' + r * interval '5 ms' "
                       f"FROM generate_series(1, 3) c, generate_series(1, {copies}) r"]
        config.append(f'[[table]]\nname = "{s}.invoices"\nkeys = ["customer_id"]\nts = "created_at"\n')
    run_statements(pg_url, *statements)
    (tmp_path / "tenants.toml").write_text("\n".join(config))
    result = run("scan", pg_url, "--config", str(tmp_path / "tenants.toml"))
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1].startswith(
        "6 clusters found in 2 of 21 tables: tenant_07.invoices (3), Tenant-ACME.invoices (3) (postgresql")
