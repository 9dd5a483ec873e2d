"""The report says what the figures in its evidence sentences mean (a stranger's finding: "(+5.5)", "(-2.8, for
worker_race)" stood in every incident with no word of what they measure; only the README said it)."""

from __future__ import annotations

import math
import re

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table

from dupfinder.cli import main


def test_the_report_explains_the_figures_its_evidence_shows(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    rows = [{"id": 2 * n + w, "account_id": n, "amount": 10 * n, "node": ("ledger-a", "ledger-b")[w],
             "created_at": at(n * 0.01 + w * 0.004)} for n in range(40) for w in (0, 1)]
    make_table(url, "standby_ledger", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                                       sa.Column("account_id", sa.Integer), sa.Column("amount", sa.Integer),
                                       sa.Column("node", sa.String(20)), sa.Column("created_at", sa.DateTime)], rows)
    said = CliRunner().invoke(main, ["scan", url, "--table", "standby_ledger", "--key", "account_id",
                                     "--ts", "created_at", "--writer", "host=node", "--out", str(tmp_path / "out")])
    assert said.exit_code == 1, said.output
    page = (tmp_path / "out" / "report.html").read_text()
    assert re.search(r"\(\+\d+\.\d\)", page), "the evidence carries its figures"
    legend = re.search(r"a figure such as \(\+4\.6\) says how much\s+more likely that observation is under the "
                       r"answer than under the closest alternative, as a natural logarithm: \+2\.3 is 10 times", page)
    assert legend, "the figures are explained where they are shown"
    assert round(math.exp(2.3)) == 10 and round(math.exp(4.6)) == 99  # the legend's arithmetic (e^4.6 ≈ 100)
