"""Under --where the CREATE INDEX the scan and discover advise, and migration.sql's unique index, are partial on
the predicate. PostgreSQL refuses a predicate calling a function that is not IMMUTABLE ("functions in index
predicate must be marked IMMUTABLE"), SQLite one that is not deterministic, so with ``--where "created_at > now()
- interval '30 days'"`` each of those statements failed where it was run. The engine is now asked first
(connect.index_predicate): the advised index is then on every row, with a note saying why, and migration.sql
holds the table back, saying plainly that its unique index cannot be partial on that predicate. PostgreSQL is read,
not asked (a scan never writes): SQL's clock words and functions pg_proc marks not IMMUTABLE are refused for
certain; a cast or an operator it may refuse is left open, with a note saying so."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import run_statements

from dupfinder.cli import main
from dupfinder.discover import discover

BASE = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)  # inside every bound below

# (engine, predicate, whether the engine takes it in an index; None: not checked, left partial with a caveat)
PREDICATES = [
    ("postgresql", "deleted_at IS NULL", True),
    ("postgresql", "created_at > now() - interval '30 days'", False),
    ("postgresql", "created_at > CURRENT_TIMESTAMP - interval '2 days'", False),
    ("postgresql", "created_at > clock_timestamp() - interval '2 days' AND deleted_at IS NULL", False),
    ("postgresql", "lower(order_ref) <> 'void'", True),  # lower() is IMMUTABLE: nothing to say
    # no function named, yet refused: a timestamptz compared with a date goes through a STABLE cast, which only
    # a CREATE INDEX would tell: left open, and the note says what PostgreSQL refuses
    ("postgresql", "created_at > '2026-01-01'::date", None),
    ("postgresql", "created_at > timestamptz '2026-01-01 00:00:00+00' AND deleted_at IS NULL", None),
    ("sqlite", "deleted_at IS NULL", True),
    ("sqlite", "created_at > datetime('now', '-30 days')", False),  # refused only when evaluated on a row
    ("sqlite", "created_at > '2026-01-01' AND abs(random()) >= 0", False),
    # the probe's row of NULLs never reached the clock behind a condition it fails: the index was advised partial,
    # and CREATE INDEX failed on the table's rows ("non-deterministic use of datetime() in an index")
    ("sqlite", "order_ref <> 'void' AND created_at > datetime('now', '-30 days')", False),
    ("sqlite", "CASE WHEN order_ref IS NOT NULL THEN created_at > date('now', '-30 days') END", False),
]


def _orders(url: str) -> None:
    """15 orders each written twice 0.3 s apart a day ago, none soft-deleted."""
    kind = "timestamptz" if url.startswith("postgresql") else "timestamp"
    rows = []
    for n in range(30):
        written = BASE + timedelta(minutes=n % 15, seconds=0.3 * (n // 15))
        shown = written.isoformat(sep=" ") if kind == "timestamptz" else written.replace(tzinfo=None).isoformat(
            sep=" ", timespec="microseconds")
        rows.append(f"INSERT INTO orders VALUES ({n}, 'O{n % 15}', NULL, '{shown}')")
    run_statements(url, f"CREATE TABLE orders (id integer PRIMARY KEY, order_ref varchar(20) NOT NULL, "
                        f"deleted_at {kind}, created_at {kind} NOT NULL)", *rows)


def _partial_indexes(url: str, unique: bool) -> list[str]:
    """The predicates of the table's partial indexes (unique ones, or the others), as the catalog holds them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("postgresql"):
                return list(conn.exec_driver_sql(
                    "SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indrelid = 'orders'::regclass "
                    f"AND indpred IS NOT NULL AND indisunique = {unique}").scalars())
            return [s.partition(" WHERE ")[2] for s in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %' AND "
                f"sql {'' if unique else 'NOT '}LIKE 'CREATE UNIQUE%'").scalars()]
    finally:
        engine.dispose()


def _indexes(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return len(sa.inspect(conn).get_indexes("orders"))
    finally:
        engine.dispose()


@pytest.mark.parametrize(("engine", "predicate", "partial"), PREDICATES)
def test_the_advised_index_and_the_migration_run_whatever_the_predicate(engine, predicate, partial, request,
                                                                         tmp_path):
    url = request.getfixturevalue("pg_url" if engine == "postgresql" else "sqlite_url")
    server = request.getfixturevalue("pg_server") if engine == "postgresql" else None
    from sqlrun import apply_sql

    _orders(url)
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["scan", url, "--table", "orders", "--key", "order_ref", "--ts", "created_at",
                                     "--where", predicate, "--out", str(out), "--format", "summary"])
    assert done.exit_code == 1, done.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    assert len(table["clusters"]) == 15
    # the index the scan advises, as its note gives it, runs where it is to be run
    (note,) = [n for n in table["notes"] if n.startswith("the scan sorted every key of the table")]
    advised = re.search(r"in order \((CREATE INDEX .*?)\)(?:; (?:not )?partial on --where.*)?$", note)
    assert advised, note
    if partial is None:  # not checked: partial as asked, and the note says what the engine may refuse there
        assert " WHERE " in advised.group(1) and "; partial on --where, which was not checked (" in note, note
        assert "such as now() or a timestamptz compared with a date" in note and "where_not_indexable" not in table
        return
    apply_sql(url, advised.group(1), server)
    # cleanup.sql, then migration.sql: the unique index partial on the predicate, or the table held back
    apply_sql(url, (out / "cleanup.sql").read_text(), server)
    migration = (out / "migration.sql").read_text()
    apply_sql(url, migration, server)
    assert len(_partial_indexes(url, unique=False)) == partial
    assert len(_partial_indexes(url, unique=True)) == partial, migration
    assert (" WHERE " in advised.group(1)) == partial, note
    assert ("; not partial on --where" in note) == (not partial), note
    assert ("where_not_indexable" in table) == (not partial), table.get("where_not_indexable")
    if not partial:
        assert re.search("IMMUTABLE|non-deterministic", table["where_not_indexable"]), table["where_not_indexable"]
        assert "not migrated: the scan read only the rows where" in migration
        assert "the unique index cannot be partial on it" in migration
        assert "migration.sql holds the table back" in done.stderr, done.stderr


def test_discover_advises_an_index_the_engine_takes(pg_server, pg_url, sqlite_url):
    """discover --where with a predicate that moves with the clock: the index it proposes is on every row and
    says why; created as proposed it is made (it failed: functions in index predicate must be marked IMMUTABLE)."""
    from sqlrun import apply_sql

    for url, predicate in ((pg_url, "created_at > now() - interval '30 days'"),
                           (sqlite_url, "created_at > datetime('now', '-30 days')")):
        _orders(url)
        (p,) = discover(url, where=predicate)
        assert p.keys == ("order_ref",) and p.index is not None, p
        before = _indexes(url)
        apply_sql(url, p.index, pg_server if url.startswith("postgresql") else None)
        assert _indexes(url) == before + 1
        assert " WHERE " not in p.index and p.index_note.startswith(f"not partial on --where {predicate}: "), p
        assert "index_note" in p.as_dict() and p.index_note in p.index_advice


def test_migrate_refuses_a_predicate_no_index_can_take_and_changes_nothing(pg_url, tmp_path):
    _orders(pg_url)
    target = tmp_path / "migration.sql"
    done = CliRunner().invoke(main, ["migrate", pg_url, "--table", "orders", "--key", "order_ref",
                                     "--where", "created_at > now() - interval '30 days'", "-o", str(target)])
    assert done.exit_code == 2, done.output
    assert "cannot be the predicate of a unique index on orders: PostgreSQL refuses it in an index: functions in " \
           "index predicate must be marked IMMUTABLE" in done.output, done.output
    assert not target.exists() and _indexes(pg_url) == 0
    fine = CliRunner().invoke(main, ["migrate", pg_url, "--table", "orders", "--key", "order_ref",
                                     "--where", "deleted_at IS NULL", "-o", str(target)])
    assert fine.exit_code == 0 and "WHERE deleted_at IS NULL" in target.read_text(), fine.output


def test_the_predicate_is_read_in_the_scans_one_read_only_transaction(pg_url):
    """Whatever the predicate, the scan stays one READ ONLY transaction on one connection and creates nothing: the
    volatility of what a predicate calls is read from pg_proc (an empty temporary copy of the table asked with a
    CREATE INDEX, on a second connection, was the first way: a write, which design.md rules out)."""
    from test_scan_statements import statements

    from dupfinder import api
    from dupfinder.config import ScanOptions, table_spec

    _orders(pg_url)
    for where, refused in (("deleted_at IS NULL AND order_ref <> 'void'", None),
                           ("created_at > now() - interval '30 days'", True),
                           ("created_at > '2026-01-01'::date", False)):
        spec = table_spec(table="orders", keys=["order_ref"], ts="created_at", where=where)
        with statements() as seen:
            result = api.scan(ScanOptions(url=pg_url, tables=(spec,)))
        table = result.tables[0]
        assert len(table.clusters) == 15
        assert (table.info.where_index.refused if table.info.where_index else None) is refused, table.info
        assert len({backend for backend, _ in seen}) == 1, seen
        assert not [s for _, s in seen if re.match(r"\s*(CREATE|INSERT|DROP|ALTER)\b", s, re.IGNORECASE)], seen
