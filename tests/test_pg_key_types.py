"""PostgreSQL key columns of odd types, as a stranger's undocumented database has them (stranger9)."""

from __future__ import annotations

import json
import warnings

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table, run_statements, ts_type
from sqlrun import scan_doc

from dupfinder.cli import main
from dupfinder.discover import discover
from dupfinder.remediate import cleanup_sql, migration_sql_for_findings

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


def test_discover_config_runs_unedited_beside_a_table_scan_cannot_identify_rows(mariadb_url, tmp_path):
    """MariaDB has no row id: discover proposed a key for a table without a primary key and wrote it as a live
    [[table]], so `scan --config` on the unedited starter config stopped at it (exit 2) and scanned nothing.
    The entry is now a comment saying to add ids; the other tables are scanned."""
    make_table(mariadb_url, "a_no_pk", [sa.Column("ref", sa.Integer), sa.Column("created_at", ts_type())],
               [{"ref": 1, "created_at": at(0)}, {"ref": 1, "created_at": at(0.2)}, {"ref": 2, "created_at": at(0)}])
    make_table(mariadb_url, "b_orders", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                                         sa.Column("order_ref", sa.Integer), sa.Column("created_at", ts_type())],
               [{"id": i, "order_ref": i // 2 if i < 4 else i, "created_at": at(i * 0.1)} for i in range(20)])
    config = tmp_path / "dupfinder.toml"
    found = CliRunner().invoke(main, ["discover", mariadb_url, "-o", str(config)])
    assert found.exit_code == 0, found.output
    assert "a_no_pk" in found.output and "add ids = [...]" in found.output
    assert '# name = "a_no_pk"' in config.read_text()
    scan = CliRunner().invoke(main, ["scan", mariadb_url, "--config", str(config), "--format", "summary"])
    assert scan.exit_code == 1, scan.output
    assert [t["table"] for t in json.loads(scan.output)["tables"]] == ["b_orders"]


def test_a_parents_migration_counts_its_own_rows_after_cleanup(pg_url, runner_pg):
    """The scan and cleanup.sql of a table others INHERIT from are about its own rows (ONLY), and its UNIQUE
    index covers only those; migration.sql's pre-flight counted the heirs' rows too, so an archive heir holding
    old copies of its keys stopped the migration after every cleanup ("still holds duplicate keys")."""
    run_statements(pg_url, "CREATE TABLE ev (id integer PRIMARY KEY, k text, ts timestamp)",
                   "CREATE TABLE ev_archive () INHERITS (ev)",
                   "INSERT INTO ev VALUES (1, 'a', '2026-11-23 10:00:00'), (2, 'a', '2026-11-23 10:00:00.3'), "
                   "(3, 'b', '2026-11-23 11:00:00')",
                   "INSERT INTO ev_archive VALUES (7, 'a', '2026-01-01 00:00:00'), (8, 'b', '2026-01-01 00:00:00')")
    doc = scan_doc(pg_url, table="ev", keys=["k"], ts="ts")
    runner_pg(cleanup_sql(doc))
    runner_pg(migration_sql_for_findings(doc))
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        constraints = conn.exec_driver_sql("SELECT conname FROM pg_constraint WHERE conrelid = 'ev'::regclass "
                                           "AND contype = 'u'").scalars().all()
    engine.dispose()
    assert constraints == ["uq_ev_k"]
    migrate = CliRunner().invoke(main, ["migrate", pg_url, "--table", "ev", "--key", "k"])
    assert migrate.exit_code == 0 and "SELECT 1 FROM ONLY " in migrate.output, migrate.output
