"""--table read as PostgreSQL reads a name, as --schema is since discover14: ``Orders`` finds a table created as
``CREATE TABLE Orders`` (which PostgreSQL names orders), ``'"Orders"'`` only one created quoted. A name written
exactly as a table's wins; a name found only by that reading while another table differs from it only in case
(orders and "Orders" both there, --table ORDERS) is refused naming both, never picked in silence."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import run_statements
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dupfinder.cli import main
from dupfinder.connect import introspect, read_only
from dupfinder.errors import TableNotFound

COLUMNS = "(id int PRIMARY KEY, account int, created_at timestamp)"
ROWS = "VALUES (1, 7, '2026-11-03 02:00:00'), (2, 7, '2026-11-03 02:00:00.3'), (3, 8, '2026-11-03 02:00:05')"


def _scan(url: str, table: str, *more: str):
    return CliRunner().invoke(main, ["scan", url, "--table", table, "--key", "account", "--ts", "created_at",
                                     "--format", "summary", *more])


def test_an_unquoted_name_typed_in_any_case_finds_its_table(pg_url):
    run_statements(pg_url, f"CREATE TABLE Orders {COLUMNS}", f"INSERT INTO orders {ROWS}",
                   "CREATE SCHEMA Sales", f"CREATE TABLE Sales.Invoices {COLUMNS}",
                   f"INSERT INTO sales.invoices {ROWS}")
    for typed, found in (("Orders", "orders"), ("ORDERS", "orders"), ("Sales.Invoices", "sales.invoices"),
                         ('"sales".INVOICES', "sales.invoices")):
        done = _scan(pg_url, typed)
        assert done.exit_code == 1, (typed, done.output)  # one cluster: the check fails, as it should
        assert done.stdout.count(f'"table": "{found}"') == 1, (typed, done.stdout)
    # a quoted part is read as written: "Sales" is no schema here, and the near tables are named
    quoted = _scan(pg_url, '"Sales".Invoices')
    assert quoted.exit_code == 2 and "table '\"Sales\".Invoices' not found" in quoted.output, quoted.output
    assert "sales.invoices" in quoted.output.partition("similar name")[2], quoted.output


def test_an_exact_name_wins_and_a_case_twin_is_refused_naming_both(pg_url, tmp_path):
    run_statements(pg_url, f"CREATE TABLE orders {COLUMNS}", f"INSERT INTO orders {ROWS}",
                   f'CREATE TABLE "Orders" {COLUMNS}', 'INSERT INTO "Orders" SELECT * FROM orders WHERE id < 3')
    lower, mixed = _scan(pg_url, "orders"), _scan(pg_url, "Orders")
    assert lower.exit_code == mixed.exit_code == 1, (lower.output, mixed.output)
    assert '"rows_scanned": 3' in lower.stdout and '"rows_scanned": 2' in mixed.stdout
    out = tmp_path / "out"
    twin = _scan(pg_url, "ORDERS", "--out", str(out))
    assert twin.exit_code == 2, twin.output
    assert ("Error: table 'ORDERS' is ambiguous: PostgreSQL reads it as orders, and Orders differs from it only "
            "in case; give one exactly as written (a name written exactly wins): --table orders, --table Orders"
            ) in twin.output, twin.output
    assert not out.exists()  # bad input: nothing written


def test_an_unknown_table_lists_the_one_differing_only_in_case_first(pg_url):
    run_statements(pg_url, f'CREATE TABLE "Orders" {COLUMNS}', f"CREATE TABLE order_lines {COLUMNS}",
                   f"CREATE TABLE ordering {COLUMNS}")
    done = _scan(pg_url, "ORDERS")  # PostgreSQL reads orders: there is none, "Orders" is quoted
    assert done.exit_code == 2, done.output
    assert "table 'ORDERS' not found; tables with a similar name: Orders" in done.output, done.output


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,14}", fullmatch=True)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, twin=st.booleans(), flips=st.lists(st.booleans(), min_size=15, max_size=15))
def test_a_name_typed_in_any_case_reads_as_postgresql_reads_it(pg_url, name, twin, flips):
    """A table created unquoted (PostgreSQL keeps its name in lower case), sometimes beside a quoted twin
    differing only in case; --table typed with any letters' case finds the table named exactly so, else the one
    PostgreSQL reads, else (a twin differing from what was typed) is refused as ambiguous."""
    typed = "".join(c.swapcase() if flip else c for c, flip in zip(name, flips, strict=False))
    stored, other = name.lower(), name.swapcase() if name.swapcase() != name.lower() else name.upper()
    twin = twin and other != stored
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(f"CREATE TABLE {name} {COLUMNS}")  # unquoted: a keyword is refused
            except sa.exc.ProgrammingError:
                assume(False)
            if twin:
                conn.exec_driver_sql(f'CREATE TABLE "{other}" {COLUMNS}')
    finally:
        engine.dispose()
    tables = {stored, *([other] if twin else [])}
    with read_only(pg_url) as conn:
        if typed in tables:
            assert introspect(conn, typed, {}).name == typed
        elif twin:
            with pytest.raises(TableNotFound, match="is ambiguous: PostgreSQL reads it as"):
                introspect(conn, typed, {})
        else:
            assert introspect(conn, typed, {}).name == stored


def test_duckdb_reads_a_name_in_any_case_as_its_sql_does(duckdb_url):
    """DuckDB's names ignore case, as SQLite's do (both refuse a second table differing only in case): --table
    orders for a table created as Orders was "not found; tables with a similar name: Orders"."""
    import duckdb

    database = sa.make_url(duckdb_url).database
    conn = duckdb.connect(database)
    conn.execute(f"CREATE TABLE Orders {COLUMNS}")
    conn.execute(f"INSERT INTO orders {ROWS}")
    conn.close()
    for typed in ("Orders", "orders", "ORDERS"):
        done = _scan(duckdb_url, typed)
        assert done.exit_code == 1 and '"table": "Orders"' in done.stdout, (typed, done.output)
