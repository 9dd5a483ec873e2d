"""Under --where the CREATE INDEX the scan and discover advise, and migration.sql's unique index, are partial on
the predicate. PostgreSQL refuses a predicate calling a function that is not IMMUTABLE ("functions in index
predicate must be marked IMMUTABLE"), SQLite one that is not deterministic, so with ``--where "created_at > now()
- interval '30 days'"`` each of those statements failed where it was run. The engine is now asked first
(connect.index_predicate): the advised index is then on every row, with a note saying why, and migration.sql
holds the table back, saying plainly that its unique index cannot be partial on that predicate."""

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

# (engine, predicate, whether the engine takes it in an index)
PREDICATES = [
    ("postgresql", "deleted_at IS NULL", True),
    ("postgresql", "created_at > now() - interval '30 days'", False),
    # no function named, yet refused: a timestamptz compared with a date goes through a STABLE cast
    ("postgresql", "created_at > '2026-01-01'::date", False),
    ("postgresql", "created_at > timestamptz '2026-01-01 00:00:00+00' AND deleted_at IS NULL", True),
    ("sqlite", "deleted_at IS NULL", True),
    ("sqlite", "created_at > datetime('now', '-30 days')", False),  # refused only when evaluated on a row
    ("sqlite", "created_at > '2026-01-01' AND abs(random()) >= 0", False),
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
    advised = re.search(r"in order \((CREATE INDEX .*?)\)(?:; not partial on --where .*)?$", note)
    assert advised, note
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


def test_a_role_without_temporary_tables_is_told_the_predicate_was_not_checked(pg_url):
    """A SELECT-only role in a database that grants no TEMP: the engine cannot be asked, so the advised index
    stays partial as before, and its note says that this was not checked and what PostgreSQL refuses there."""
    import os

    role = f"reader_{os.getpid()}"
    _orders(pg_url)
    database = sa.make_url(pg_url).database
    run_statements(pg_url, f"CREATE ROLE {role} LOGIN", f"GRANT SELECT ON orders TO {role}",
                   f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')
    reader = sa.make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    try:
        done = CliRunner().invoke(main, ["scan", reader, "--table", "orders", "--key", "order_ref", "--ts",
                                         "created_at", "--where", "created_at > now() - interval '30 days'",
                                         "--format", "json"])
    finally:
        run_statements(pg_url, f"REVOKE SELECT ON orders FROM {role}", f"DROP ROLE {role}")
    assert done.exit_code == 1, done.output
    table = json.loads(done.stdout)["tables"][0]
    assert len(table["clusters"]) == 15 and "where_not_indexable" not in table
    (note,) = [n for n in table["notes"] if n.startswith("the scan sorted every key of the table")]
    assert "WHERE created_at > now() - interval '30 days')" in note, note
    assert ("; partial on --where, which the engine could not be asked to take in an index (permission denied to "
            "create temporary tables in database") in note, note


def test_a_plain_predicate_is_not_asked_and_the_scan_writes_nothing(pg_url):
    """Columns tested for NULL or compared with a quoted literal are taken in any index: a soft-delete filter
    opens no second connection and creates no temporary table (the scan itself stays one READ ONLY
    transaction); a predicate calling a function is asked, on a connection of its own."""
    from test_scan_statements import statements

    from dupfinder import api
    from dupfinder.config import ScanOptions, table_spec

    _orders(pg_url)
    sent = {}
    for where in ("deleted_at IS NULL AND order_ref <> 'void'", "created_at > now() - interval '30 days'"):
        spec = table_spec(table="orders", keys=["order_ref"], ts="created_at", where=where)
        with statements() as seen:
            result = api.scan(ScanOptions(url=pg_url, tables=(spec,)))
        assert len(result.tables[0].clusters) == 15
        sent[where] = seen
    plain, clock = sent.values()
    assert len({backend for backend, _ in plain}) == 1 and not any("TEMPORARY" in s for _, s in plain)
    probes = [(backend, s) for backend, s in clock if "_dupfinder_probe" in s]
    assert [s.split(" (")[0] for _, s in probes] == ["CREATE TEMPORARY TABLE _dupfinder_probe",
                                                     "CREATE INDEX _dupfinder_probe_where ON _dupfinder_probe"]
    assert len({backend for backend, _ in probes}) == 1 and probes[0][0] != clock[0][0]  # its own connection
