"""The command line: exit codes, one clear Error: line, no traceback, no password anywhere."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import events_table

from dupfinder import api
from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec

SHARED_CHECK = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check_findings.py"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def dup_db(db_url):
    events_table(db_url, [(1, 7, 0.0, "a"), (2, 7, 0.4, "b"), (3, 8, 0.0, "a")])
    return db_url


def test_exit_1_when_clusters_found_and_0_when_clean(dup_db):
    found = run("scan", dup_db, "--table", "events", "--key", "account", "--key", "day", "--ts", "ts")
    assert found.exit_code == 1, found.output
    assert "1 near-duplicate cluster(s)" in found.output
    assert "writer columns: host=host" in found.output
    clean = run("scan", dup_db, "--table", "events", "--key", "account", "--key", "day", "--ts", "ts",
                "--window", "100ms")
    assert clean.exit_code == 0, clean.output
    assert "clean" in clean.output


def test_json_format_and_out_dir(dup_db, tmp_path):
    result = run("scan", dup_db, "--table", "events", "--key", "account", "--key", "day", "--ts", "ts",
                 "--format", "json", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["tables"][0]["clusters"][0]["key"] == {"account": 7, "day": "2026-11-02"}
    for name in ("findings.json", "report.html", "cleanup.sql", "rollback.sql", "migration.sql"):
        assert (tmp_path / "out" / name).exists()
    check = subprocess.run([sys.executable, str(SHARED_CHECK), str(tmp_path / "out" / "findings.json")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


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
        (["--table", "events", "--ts", "ts"], "missing --key"),
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
