"""What the extra copies add up to (a finance reader's "how much money"): exact decimal sums of the amount columns
over the copies beyond each survivor, per currency, checked against the database's own sum of the same rows, on
SQLite, PostgreSQL and DuckDB; shown in the text summary and the report."""

from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder.cli import main
from dupfinder.totals import described


def _payments(url: str, rows: list[tuple]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE payments (id integer PRIMARY KEY, invoice_no varchar(20), "
                             "amount numeric(12, 2), currency varchar(3), customer_id integer, host varchar(10), "
                             "paid_at timestamp)")
        for row in rows:
            conn.exec_driver_sql("INSERT INTO payments VALUES "
                                 f"({row[0]}, '{row[1]}', {row[2] if row[2] is not None else 'NULL'}, '{row[3]}', "
                                 f"{row[4]}, '{row[5]}', '{row[6]}')")
    engine.dispose()


def test_the_extra_copies_amounts_are_summed_exactly_per_currency(any_url, tmp_path):
    # an export written twice by two hosts: three invoices in EUR (one with a NULL amount), one in JPY; one pair
    # differs in its amount (divergent: not deleted, still counted as an extra copy); one invoice written once
    rows = [(1, "INV-1", "9999999999.99", "EUR", 7, "a", "2026-11-03 02:30:00.100"),
            (2, "INV-1", "9999999999.99", "EUR", 7, "b", "2026-11-03 02:30:00.400"),
            (3, "INV-2", "0.10", "EUR", 8, "a", "2026-11-03 02:30:00.200"),
            (4, "INV-2", "0.10", "EUR", 8, "b", "2026-11-03 02:30:00.500"),
            (5, "INV-3", None, "EUR", 9, "a", "2026-11-03 02:30:00.300"),
            (6, "INV-3", None, "EUR", 9, "b", "2026-11-03 02:30:00.600"),
            (7, "INV-4", "1200", "JPY", 9, "a", "2026-11-03 02:30:00.300"),
            (8, "INV-4", "1250", "JPY", 9, "b", "2026-11-03 02:30:00.700"),
            (9, "INV-5", "5.00", "EUR", 9, "a", "2026-11-03 02:30:00.300")]
    _payments(any_url, rows)
    out = tmp_path / "out"
    args = ["scan", any_url, "--table", "payments", "--key", "invoice_no", "--ts", "paid_at",
            "--writer", "host=host"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 1, result.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    assert [(t["column"], t["currency"], Decimal(t["extra_copies"]), Decimal(t["to_delete"]), t["rows"])
            for t in table["extra_copy_totals"]] == [
        ("amount", "EUR", Decimal("10000000000.09"), Decimal("10000000000.09"), 2),
        ("amount", "JPY", Decimal(1250), Decimal(0), 1),
    ]
    # the same sums from the database itself, over the rows that are not their cluster's survivor
    losers = [r["pk"]["id"] for c in table["clusters"] for r in c["rows"] if not r["survivor"]]
    engine = sa.create_engine(any_url)
    with engine.connect() as conn:
        sums = dict(conn.exec_driver_sql(
            f"SELECT currency, sum(amount) FROM payments WHERE id IN ({', '.join(map(str, losers))}) "
            "GROUP BY currency").all())
    engine.dispose()
    assert {t["currency"]: Decimal(t["extra_copies"]) for t in table["extra_copy_totals"]} == {
        k: Decimal(str(v)) for k, v in sums.items() if v is not None}
    summary = "amount 10,000,000,000.09 EUR (all to delete), amount 1,250"
    assert summary in result.output  # the text summary
    assert summary in (out / "report.html").read_text()
    assert "customer_id" not in json.dumps(table["extra_copy_totals"])  # an identifier is not summed


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False),
                          st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False)),
                min_size=1, max_size=20))
def test_the_line_states_each_total_as_summed(pairs):
    """Whatever the amounts, the line shows the exact totals (never a rounded double, never 1E+3)."""
    from types import SimpleNamespace as NS

    from dupfinder.totals import extra_copy_totals

    clusters = [NS(payload="identical", rows=[NS(survivor=True, values={"amount": a}),
                                               NS(survivor=False, values={"amount": b})]) for a, b in pairs]
    [entry] = extra_copy_totals(clusters, ["amount"], None, True)
    total = sum((b for _, b in pairs), Decimal(0))
    assert Decimal(entry["extra_copies"]) == total and "E" not in entry["extra_copies"]
    assert described([entry]) == f"amount {total:,f} (all to delete)"
