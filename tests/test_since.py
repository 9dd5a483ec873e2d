"""The post-deploy mode: --since catches a pair straddling the bound, and verify.sql finds the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import events_table, make_table

from dupfinder.cli import main


def _recent_table(url: str, now: datetime) -> datetime:
    bound = now - timedelta(minutes=30)
    rows = [
        (1, 1, bound - timedelta(hours=3)), (2, 1, bound - timedelta(hours=3) + timedelta(milliseconds=300)),
        (3, 2, bound - timedelta(milliseconds=500)), (4, 2, bound + timedelta(milliseconds=500)),  # straddles
        (5, 3, bound + timedelta(minutes=5)), (6, 3, bound + timedelta(minutes=5, milliseconds=200)),
        (7, 4, bound + timedelta(minutes=6)),
    ]
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("ts", sa.DateTime(timezone=True)), sa.Column("host", sa.String(10))]
    make_table(url, "events", columns, [{"id": i, "account": a, "ts": ts, "host": "h"} for i, a, ts in rows])
    return bound


def test_since_catches_a_pair_straddling_the_bound(pg_url, tmp_path):
    now = datetime.now(UTC)
    bound = _recent_table(pg_url, now)
    result = CliRunner().invoke(main, ["scan", pg_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--since", "30m", "--format", "json", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    import json

    doc = json.loads(result.output)
    assert sorted(c["key"]["account"] for c in doc["tables"][0]["clusters"]) == [2, 3]
    assert any("no index starts with ts" in note for note in doc["tables"][0]["notes"])
    verify = (tmp_path / "o" / "verify.sql").read_text()
    query = verify.split("-- table events", 1)[1].split("\n", 1)[1].rstrip().rstrip(";")
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(query), {"since": bound - timedelta(seconds=2)}).mappings().all()
        assert sorted({r["account"] for r in rows}) == [2, 3]  # the table's own column names
        assert conn.execute(sa.text(query), {"since": now + timedelta(minutes=1)}).all() == []
    engine.dispose()
    clean = CliRunner().invoke(main, ["scan", pg_url, "--table", "events", "--key", "account", "--ts", "ts",
                                      "--since", "10m"])
    assert clean.exit_code == 0, clean.output


def test_since_says_nothing_about_indexes_when_the_timestamp_has_one(pg_url):
    import json

    _recent_table(pg_url, datetime.now(UTC))
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX events_ts ON events (ts)")
    engine.dispose()
    result = CliRunner().invoke(main, ["scan", pg_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--since", "30m", "--format", "json"])
    assert not any("no index" in note for note in json.loads(result.output)["tables"][0]["notes"])


def test_findings_state_the_since_bound_as_the_column_reads_it(sqlite_url, pg_url):
    """A column without time zone is read from a wall-time bound (column_since): findings.json labelled it
    +00:00, as if an instant. An aware column's bound is an instant and keeps its offset."""
    import json

    for url, aware in ((sqlite_url, False), (pg_url, True)):
        _recent_table(url, datetime.now(UTC))
        result = CliRunner().invoke(main, ["scan", url, "--table", "events", "--key", "account", "--ts", "ts",
                                           "--since", "2026-11-03T02:00:00Z", "--timezone", "UTC", "--format", "json"])
        table = json.loads(result.output)["tables"][0]
        assert table["ts_timezone_aware"] is aware, table["ts_timezone_aware"]
        assert table["since"] == ("2026-11-03T02:00:00+00:00" if aware else "2026-11-03T02:00:00"), table["since"]


@pytest.mark.parametrize("engine", ["sqlite_url", "pg_url"])
def test_verify_rows_name_their_table(request, engine, tmp_path):
    """verify.sql holds one query per table; run as its header says, the rows of two tables came back with
    nothing saying which table each belonged to. Each row now ends with its table's name (``_table``)."""
    import subprocess
    from collections import Counter

    url = request.getfixturevalue(engine)
    events_table(url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)], name="orders")
    events_table(url, [(1, 7, 0.0), (2, 7, 0.3), (3, 9, 0.0), (4, 9, 0.1)], name="refunds")
    config = tmp_path / "t.toml"
    config.write_text("".join(f'[[table]]\nname = "{n}"\nkeys = ["account"]\nts = "ts"\n'
                              for n in ("orders", "refunds")))
    out = tmp_path / "out"
    scanned = CliRunner().invoke(main, ["scan", url, "--config", str(config), "--out", str(out), "-q"])
    assert scanned.exit_code == 1, scanned.output
    verify, since = str(out / "verify.sql"), "'2000-01-01 00:00:00'"
    if engine == "pg_url":
        parsed = sa.make_url(url)
        command = [request.getfixturevalue("pg_server").psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                   "-v", f"since={since}", "-h", parsed.host, "-p", str(parsed.port), "-U", parsed.username,
                   "-d", parsed.database, "-f", verify]
    else:
        command = ["sqlite3", "-bail", sa.make_url(url).database, f".parameter set :since \"{since}\"",
                   f".read {verify}"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if line]
    assert Counter(row[-1] for row in rows) == {"orders": 2, "refunds": 4}, done.stdout
    assert sorted(row[0] for row in rows if row[-1] == "orders") == ["1", "2"]  # the columns before keep their places
