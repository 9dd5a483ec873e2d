"""The text output names every writer column read from the data, also beside columns found by name (a stranger's
finding: a shell loop's ``pid`` was found by name, its ``emitted_by`` unit only from the data, and the text said
"0 to delete, 60 divergent" without naming the column that kept every cluster out of cleanup.sql)."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table, ts_type

from dupfinder.cli import main


def test_a_role_read_from_the_data_beside_one_found_by_name_is_named_with_its_option(db_url):
    rows = [{"id": 2 * n + w, "invoice_no": n, "amount": 7 * n, "pid": (4711, 5210)[w],
             "emitted_by": ("cron.d", "systemd-timer")[w], "created_at": at(n * 0.02 + w * 1.5)}
            for n in range(60) for w in (0, 1)]
    make_table(db_url, "invoice_export", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("invoice_no", sa.Integer),
        sa.Column("amount", sa.Integer), sa.Column("pid", sa.Integer), sa.Column("emitted_by", sa.String(20)),
        sa.Column("created_at", ts_type())], rows)
    said = CliRunner().invoke(main, ["scan", db_url, "--table", "invoice_export", "--key", "invoice_no",
                                     "--ts", "created_at"])
    assert said.exit_code == 1, said.output
    assert "writer columns: process=pid" in said.output, said.output
    assert "0 to delete, 60 divergent" in said.output, said.output
    assert "(a difference there keeps a cluster out of cleanup.sql): --writer run=emitted_by trusts it" \
        in said.output, said.output
