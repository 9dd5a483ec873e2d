"""discover --schema reads a schema name as PostgreSQL reads an identifier (unquoted: lower case; double-quoted:
as written), says which schemas are near when none matches, and under --where advises a partial index."""

from __future__ import annotations

import json
import tomllib

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import run_statements
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dupfinder.cli import main
from dupfinder.discover import discover


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _entries(schema: str) -> list[str]:
    q = _quoted(schema)
    return [f"CREATE SCHEMA {q}",
            f"CREATE TABLE {q}.entries (id bigserial PRIMARY KEY, entry_ref text NOT NULL, "
            "created_at timestamptz NOT NULL)",
            f"INSERT INTO {q}.entries (entry_ref, created_at) SELECT 'E' || g, timestamptz '2026-11-03 02:30:00+00' "
            "+ g * interval '1 min' FROM generate_series(1, 20) g"]


def _discover(url: str, *args: str, out=None):
    return CliRunner().invoke(main, ["discover", url, *args, "-o", str(out), "--format", "json"])


def test_schema_names_are_read_as_postgresql_reads_them(pg_url, tmp_path):
    """An auditor typed --schema Ledger for a schema created as CREATE SCHEMA Ledger (so named ledger), and
    --schema ledger for one created as "Ledger": both were refused. Unquoted, a name is now read in lower case
    (as PostgreSQL does) when no schema has it as typed; double-quoted, it is taken as written."""
    run_statements(pg_url, *_entries("ledger"), *_entries("Billing Ops"), *_entries("Q4"), *_entries("q4"))
    out = tmp_path / "d.toml"
    for given_name, schema in [("Ledger", "ledger"), ("LEDGER", "ledger"), ('"ledger"', "ledger"),
                               ('"Billing Ops"', "Billing Ops"), ("Q4", "Q4"), ('"Q4"', "Q4"), ("q4", "q4"),
                               ("Led*", "ledger")]:
        result = _discover(pg_url, "--schema", given_name, "--force", out=out)
        assert result.exit_code == 0, (given_name, result.output)
        tables = [t["table"] for t in json.loads(result.output)["tables"]]
        assert tables == [f"{schema}.entries"], (given_name, tables)
        assert tomllib.loads(out.read_text())["table"][0]["name"] == f"{schema}.entries"


def test_a_schema_in_the_wrong_case_is_refused_naming_it_and_how_to_write_it(pg_url, tmp_path):
    """A schema created quoted ("Ledger") is not found by ledger or "LEDGER", as PostgreSQL would not find it;
    the one error line names it first and says how to pass it; nothing is written."""
    run_statements(pg_url, *_entries("Ledger"), *(f"CREATE SCHEMA tenant_{n:02d}" for n in range(12)))
    out = tmp_path / "d.toml"
    for wrong in ("ledger", '"LEDGER"', "ledgr"):
        result = CliRunner().invoke(main, ["discover", pg_url, "--schema", wrong, "-o", str(out)])
        assert result.exit_code == 2, result.output
        line = result.output.strip()
        assert len(line.splitlines()) == 1 and line.startswith(f"Error: schema {wrong!r} not found; closest: Ledger")
        if wrong != "ledgr":
            assert "--schema Ledger or --schema '\"Ledger\"'" in line, line
        assert not out.exists()
    result = CliRunner().invoke(main, ["discover", pg_url, "--schema", '"Ledger', "-o", str(out)])
    assert result.exit_code == 2 and "not found" in result.output and not out.exists()


_names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_names)
def test_any_schema_name_is_found_as_written_and_as_sql_quotes_it(pg_server, name, tmp_path_factory):
    """Hostile schema names (quotes, dots, globs, line breaks, other scripts): the name as written, and its
    double-quoted SQL form, each find exactly that schema; the same name with a letter's case changed, when no
    schema has it, is one clear error line."""
    assume(len(name.encode()) <= 63 and name.lower() not in ("public", "information_schema")
           and not name.lower().startswith("pg_"))
    admin = sa.create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    database = f"hyp_schema_{abs(hash(name)) % 10**9}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    url = pg_server.url(database)
    try:
        run_statements(url, *(s.replace("%", "%%") for s in _entries(name)))  # psycopg reads % as a placeholder
        out = tmp_path_factory.mktemp("d") / "d.toml"
        for given_name in (name, _quoted(name)):
            (p,) = discover(url, [given_name])
            assert p.table == f"{name}.entries" and p.keys == ("entry_ref",), (given_name, p)
        result = _discover(url, "--schema", _quoted(name), out=out)
        assert result.exit_code == 0, result.output
        assert tomllib.loads(out.read_text())["table"][0]["name"] == f"{name}.entries"
        scan = CliRunner().invoke(main, ["scan", url, "--config", str(out), "--format", "summary"])
        assert scan.exit_code == 0, scan.output
        other = name.swapcase()
        if other != name:  # quoted, another case is another name, as PostgreSQL says
            result = CliRunner().invoke(main, ["discover", url, "--schema", _quoted(other), "-o", str(out), "--force"])
            assert result.exit_code == 2, result.output
            assert len(result.output.strip().splitlines()) == 1 and " not found; " in result.output
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


def test_the_index_advised_under_where_is_partial_and_runs(pg_server, pg_url, sqlite_url):
    """Under --where the scan reads only the rows matching it, and migration.sql's unique index is partial on it;
    the index discover advised was on every row. It is now partial on the same predicate: created on PostgreSQL
    (CONCURRENTLY, as advised) and SQLite, it holds that predicate, and once made it is not advised again."""
    for url in (pg_url, sqlite_url):
        run_statements(url, "CREATE TABLE orders (id integer PRIMARY KEY, order_ref varchar(20) NOT NULL, "
                            "deleted_at timestamp, created_at timestamp NOT NULL)",
                       *(f"INSERT INTO orders VALUES ({n}, 'O{n % 15}', "
                         f"{'NULL' if n < 15 else chr(39) + '2026-11-04 00:00:00' + chr(39)}, "
                         f"'2026-11-03 02:{n:02d}:00')" for n in range(30)))
        (p,) = discover(url, where="deleted_at IS NULL")
        assert p.keys == ("order_ref",), p
        assert p.index is not None and p.index.endswith(" WHERE deleted_at IS NULL"), p.index
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT") if url.startswith("postgresql") \
            else sa.create_engine(url)
        with engine.begin() if url.startswith("sqlite") else engine.connect() as conn:
            conn.exec_driver_sql(p.index)
            if url.startswith("postgresql"):
                predicate = conn.exec_driver_sql("SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
                                                 "WHERE indrelid = 'orders'::regclass AND NOT indisprimary").scalar()
                assert predicate == "(deleted_at IS NULL)"
            else:
                sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'index'").scalar()
                assert sql.endswith("WHERE deleted_at IS NULL")
        engine.dispose()
        (again,) = discover(url, where="deleted_at IS NULL")  # the index made as advised serves: no advice again
        assert again.keys == ("order_ref",) and again.index is None, again
