"""PostgreSQL key columns of odd types, as a stranger's undocumented database has them (stranger9)."""

from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner
from helpers import run_statements

from dupfinder.cli import main
from dupfinder.discover import discover

TABLE = ("CREATE TABLE docs (id serial PRIMARY KEY, doc json, spot point, ref text, "
         "created_at timestamptz NOT NULL)",
         "INSERT INTO docs (doc, spot, ref, created_at) VALUES "
         "('{\"a\": 1}', '(1,2)', 'r1', '2026-11-03 02:30:00+00'), ('{\"a\": 1}', '(1,2)', 'r1', '2026-11-03 02:30:00.2+00')")


@pytest.mark.parametrize("key,kind", [("doc", "json"), ("spot", "point")])
def test_a_key_without_equality_is_bad_input_not_a_failed_query(pg_url, key, kind):
    """json and point have no = operator: the detection's GROUP BY failed with exit 3 ("query failed"), as if
    the database were at fault; it is the key chosen, refused in one line naming the column, exit 2."""
    run_statements(pg_url, *TABLE)
    result = CliRunner().invoke(main, ["scan", pg_url, "--table", "docs", "--key", key, "--ts", "created_at"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: key column ")
    assert repr(key) in lines[0] and f"equality operator for type {kind}" in lines[0]


def test_a_column_of_an_unrecognised_type_warns_nothing(pg_url):
    """SQLAlchemy does not know point: reading the table's columns printed an SAWarning with a source line on
    stderr of every scan of such a table, two lines that are neither an error nor a note."""
    run_statements(pg_url, *TABLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = CliRunner().invoke(main, ["scan", pg_url, "--table", "docs", "--key", "ref", "--ts", "created_at",
                                           "--format", "summary"])
    assert result.exit_code == 1, result.output
    assert "SAWarning" not in result.output and '"verdict"' in result.output


def test_discover_measures_a_parent_table_on_its_own_rows(pg_url):
    """A scan reads a parent table that others INHERIT from with ONLY; discover measured it with its heirs'
    rows, so an archive heir holding old copies of the keys (far duplicates) hid the parent's double writes and
    no key was proposed for it."""
    rows = ", ".join(f"({k}, '2026-11-03 02:30:00+00'::timestamptz + {k} * interval '1 min' + {d} * interval '0.1 s')"
                     for k in range(20) for d in ((0, 1) if k < 5 else (0,)))
    archive = ", ".join(f"({k}, '2026-10-01 00:00:00+00'::timestamptz + {k} * interval '1 min')" for k in range(20))
    run_statements(pg_url, "CREATE TABLE orders (id serial PRIMARY KEY, order_ref int, created_at timestamptz)",
                   "CREATE TABLE orders_archive () INHERITS (orders)",
                   f"INSERT INTO orders (order_ref, created_at) VALUES {rows}",
                   f"INSERT INTO orders_archive (order_ref, created_at) VALUES {archive}")
    proposals = {p.table: p for p in discover(pg_url)}
    assert proposals["orders"].keys == ("order_ref",), proposals["orders"]
    assert "20 keys; 5 written more than once" in proposals["orders"].evidence
