"""--ignore COL: a column left out of the comparison between copies. A job that stamps every row with its own
request id (or a second write time, ``updated_at DEFAULT now()``) made every cluster divergent, so cleanup.sql
deleted nothing and nothing said why; the scan now says which one column every cluster differs in, and with
``--ignore`` the copies are exact duplicates again: cleanup.sql deletes them (executed), the backup keeps the
ignored values and rollback.sql puts every row back as it was."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import make_table
from sqlrun import apply_sql, rows_of

from dupfinder.cli import main

T0 = datetime(2026, 11, 3, 2, 30)
SCAN = ["--table", "payouts", "--key", "account", "--key", "day", "--ts", "ts"]


def _payouts(url: str) -> None:
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("day", sa.String(10)), sa.Column("amount", sa.Numeric(10, 2)),
               sa.Column("request_id", sa.String(36)), sa.Column("ts", sa.DateTime)]
    rows = []
    for n in range(6):  # six payouts, each written twice 300 ms apart by a job that names every request
        for copy in range(2):
            rows.append({"id": 2 * n + copy + 1, "account": 100 + n, "day": "2026-11-03", "amount": 25 + n,
                         "request_id": str(uuid.UUID(int=2 * n + copy + 1)),
                         "ts": T0 + timedelta(minutes=n, milliseconds=300 * copy)})
    make_table(url, "payouts", columns, rows)


def _scan(url: str, *extra: str, out=None):
    args = ["scan", url, *SCAN, *extra, *(["--out", str(out)] if out else []), "--format", "json"]
    result = CliRunner().invoke(main, args)
    return result, (json.loads(result.stdout)["tables"][0] if result.exit_code == 1 and not out else None)


def test_a_per_row_request_id_is_named_and_ignoring_it_lets_cleanup_delete(db_url, tmp_path, request):
    pg = request.getfixturevalue("pg_server") if db_url.startswith("postgresql") else None
    _payouts(db_url)
    before = rows_of(db_url, "payouts")
    result, table = _scan(db_url)
    assert result.exit_code == 1, result.output
    assert table["divergent_clusters"] == 6 and table["rows_to_delete"] == 0, table["divergent_clusters"]
    assert any("differs in column 'request_id' alone" in n and "--ignore request_id" in n for n in table["notes"]), (
        table["notes"])
    result, table = _scan(db_url, "--ignore", "request_id")
    assert table["divergent_clusters"] == 0 and table["rows_to_delete"] == 6, table
    assert table["ignored_columns"] == ["request_id"]
    assert not any("--ignore" in n for n in table["notes"]), table["notes"]
    out = tmp_path / "out"
    result, _ = _scan(db_url, "--ignore", "request_id", out=out)
    assert result.exit_code == 1, result.output
    apply_sql(db_url, (out / "cleanup.sql").read_text(), pg)
    left = rows_of(db_url, "payouts")
    assert [r[0] for r in left] == [str(n) for n in range(1, 13, 2)], left  # the earliest copy of each payout
    apply_sql(db_url, (out / "rollback.sql").read_text(), pg)
    assert rows_of(db_url, "payouts") == before  # the ignored request ids come back with their rows


def test_ignore_in_a_config_file(sqlite_url, tmp_path):
    _payouts(sqlite_url)
    config = tmp_path / "dupfinder.toml"
    config.write_text(f'database = "{sqlite_url}"\n[[table]]\nname = "payouts"\nkeys = ["account", "day"]\n'
                      'ts = "ts"\nignore = ["request_id"]\n')
    result = CliRunner().invoke(main, ["scan", "--config", str(config), "--format", "json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["tables"][0]["rows_to_delete"] == 6


@pytest.mark.parametrize(("column", "message"), [
    ("request", "--ignore column 'request' not found in table 'payouts'; columns with a similar name: request_id"),
    ("account", "--ignore account names a --key column"),
    ("ts", "--ignore ts names the --ts column"),
])
def test_a_bad_ignore_column_is_one_error_and_reads_nothing(sqlite_url, column, message):
    _payouts(sqlite_url)
    result = CliRunner().invoke(main, ["scan", sqlite_url, *SCAN, "--ignore", column])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_an_ignored_amount_is_still_summed_as_paid_twice(sqlite_url):
    """Leaving an amount out of the comparison does not make the copies' money disappear from ``extra_copy_totals``."""
    _payouts(sqlite_url)
    _, table = _scan(sqlite_url, "--ignore", "request_id")
    _, ignored = _scan(sqlite_url, "--ignore", "request_id", "--ignore", "amount")
    assert table["extra_copy_totals"] and ignored["extra_copy_totals"] == table["extra_copy_totals"], ignored
