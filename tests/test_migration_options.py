"""Migration options executed for real: NULLS NOT DISTINCT and partial unique indexes (PostgreSQL, SQLite),
MySQL 8 text against a golden file, and the Alembic revision upgraded and downgraded by Alembic itself."""

from __future__ import annotations

from pathlib import Path

import hostile
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import events_table
from hypothesis import HealthCheck, given, settings
from sqlrun import SQLFailed, apply_sql

from dupfinder.cli import main
from dupfinder.errors import UsageError
from dupfinder.remediate import cleanup_sql, migration_sql, rollback_sql

GOLDEN = Path(__file__).parent / "golden"


def _dialect(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def _insert(url: str, rows: list[tuple]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO events (id, account, day, ts, host, note) "
                             "VALUES (:id, :account, :day, '2026-11-03 02:30:00', 'a', :note)"),
                     [{"id": r[0], "account": r[1], "day": r[2], "note": r[3] if len(r) > 3 else "same"}
                      for r in rows])
    engine.dispose()


def test_mysql_migration_matches_the_golden_file():
    """MySQL 8 is not run here: the text is reviewed once and pinned (online DDL, CHECK-based pre-flight)."""
    text = migration_sql("mysql", "shop.Order Lines", ["account id", "select"])
    assert text == (GOLDEN / "mysql_migration.sql").read_text()
    assert "ALGORITHM=INPLACE, LOCK=NONE" in text and "shop.`Order Lines`" in text


def test_mysql_cleanup_and_rollback_match_the_golden_files():
    """MySQL 8 cleanup/rollback from a findings document with a re-pointable child, a child that cannot be
    re-pointed, a divergent cluster and a value with a quote and a backslash; pinned after review."""
    import json

    doc = json.loads((GOLDEN / "mysql_findings.json").read_text())
    cleanup, rollback = cleanup_sql(doc), rollback_sql(doc)
    assert cleanup == (GOLDEN / "mysql_cleanup.sql").read_text()
    assert rollback == (GOLDEN / "mysql_rollback.sql").read_text()
    assert "'O''Brien \\\\ x'" in cleanup  # MySQL's default sql_mode reads backslashes as escapes
    assert cleanup.index("CREATE TABLE IF NOT EXISTS") < cleanup.index("START TRANSACTION")  # DDL commits
    assert "CHECK (changed = 0)" in cleanup and "UPDATE receipts AS ch JOIN" in cleanup


def test_options_that_a_dialect_cannot_honour_are_refused():
    with pytest.raises(UsageError, match="PostgreSQL 15"):
        migration_sql("sqlite", "events", ["account"], nulls_not_distinct=True)
    with pytest.raises(UsageError, match="no partial indexes"):
        migration_sql("mysql", "events", ["account"], where="note = 'x'")
    for predicate in ("note = 'x'; DROP TABLE events", "true -- x", "true $dupfinder$"):
        with pytest.raises(UsageError, match="one boolean expression"):
            migration_sql("postgresql", "events", ["account"], where=predicate)


def test_nulls_not_distinct_counts_null_keys_as_duplicates(pg_url, pg_server):
    def runner(sql: str) -> None:
        apply_sql(pg_url, sql, pg_server)

    events_table(pg_url, [])
    _insert(pg_url, [(1, None, "2026-11-02"), (2, None, "2026-11-02"), (3, 7, "2026-11-02")])
    with pytest.raises(SQLFailed, match="pre-flight"):
        runner(migration_sql("postgresql", "events", ["account", "day"], nulls_not_distinct=True))
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM events WHERE id = 2")
    runner(migration_sql("postgresql", "events", ["account", "day"], nulls_not_distinct=True))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO events (id, account, day) VALUES (9, NULL, '2026-11-02')")
    engine.dispose()


def test_a_preflight_stopped_only_by_null_keys_says_so_and_names_the_remedy(pg_url, pg_server):
    """Only NULL keys collide: the message says NULL keys (cleanup.sql never removes them) and points at filling
    them in or dropping --nulls-not-distinct, which then applies; a real duplicate keeps the cleanup message."""
    events_table(pg_url, [])
    _insert(pg_url, [(1, None, "2026-11-02"), (2, None, "2026-11-02"), (3, 7, "2026-11-02")])
    result = CliRunner().invoke(main, ["migrate", pg_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--nulls-not-distinct"])
    assert result.exit_code == 0, result.output
    with pytest.raises(SQLFailed) as stopped:
        apply_sql(pg_url, result.output, pg_server)
    message = str(stopped.value)
    assert "no duplicate keys without NULLs, but rows whose key holds a NULL collide" in message
    assert "cleanup.sql never removes them" in message and "without --nulls-not-distinct" in message
    assert "run cleanup.sql" not in message
    _insert(pg_url, [(4, 7, "2026-11-02")])
    with pytest.raises(SQLFailed, match="still holds duplicate keys .* run cleanup.sql"):
        apply_sql(pg_url, result.output, pg_server)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM events WHERE id = 4")
        assert not conn.exec_driver_sql("SELECT 1 FROM pg_indexes WHERE tablename = 'events' "
                                        "AND indexname = 'uq_events_account_day'").all()
    engine.dispose()
    apply_sql(pg_url, migration_sql("postgresql", "events", ["account", "day"]), pg_server)  # the remedy named


def test_nulls_not_distinct_after_an_earlier_migration_stops_instead_of_keeping_the_old_index(pg_url, pg_server):
    events_table(pg_url, [])
    _insert(pg_url, [(1, None, "2026-11-02"), (3, 7, "2026-11-02")])
    apply_sql(pg_url, migration_sql("postgresql", "events", ["account", "day"]), pg_server)
    with pytest.raises(SQLFailed, match="NULL keys distinct"):
        apply_sql(pg_url, migration_sql("postgresql", "events", ["account", "day"], nulls_not_distinct=True), pg_server)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # the old index is still the one in force: a second NULL key is accepted
        conn.exec_driver_sql("INSERT INTO events (id, account, day) VALUES (9, NULL, '2026-11-02')")
        conn.exec_driver_sql("DELETE FROM events WHERE id = 9")
    engine.dispose()


def test_partial_unique_index_only_constrains_matching_rows(db_url, runner):
    events_table(db_url, [])
    # cancelled rows may repeat a key; live ones may not
    _insert(db_url, [(1, 7, "d", "cancelled"), (2, 7, "d", "cancelled"), (3, 7, "d", "live")])
    text = migration_sql(_dialect(db_url), "events", ["account", "day"], where="note = 'live'")
    runner(text)
    engine = sa.create_engine(db_url)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO events (id, account, day, note) VALUES (9, 7, 'd', 'live')")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO events (id, account, day, note) VALUES (10, 7, 'd', 'cancelled')")
    engine.dispose()
    if db_url.startswith("postgresql"):
        assert "cannot back a UNIQUE constraint" in text and "UNIQUE USING INDEX" not in text


def test_migrate_checks_the_predicate_on_the_database(sqlite_url):
    events_table(sqlite_url, [])
    result = CliRunner().invoke(main, ["migrate", sqlite_url, "--table", "events", "--key", "account",
                                       "--where", "no_such_column = 1"])
    assert result.exit_code == 2
    assert "--where" in result.output and "no_such_column" in result.output


def _alembic(url: str, folder: Path):
    from alembic import command
    from alembic.config import Config

    config = Config(str(folder.parent / "alembic.ini"))
    command.init(config, str(folder))
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config, command


def _up_refuses_down_accepts(config, command, url: str, duplicate_insert: str) -> None:
    """Upgrade to the revision: the duplicate is refused; downgrade: it goes in."""
    command.upgrade(config, "head")
    engine = sa.create_engine(url)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql(duplicate_insert)
    command.downgrade(config, "-1")
    with engine.begin() as conn:
        conn.exec_driver_sql(duplicate_insert)
    engine.dispose()


def test_alembic_revision_upgrades_and_downgrades(db_url, tmp_path):
    events_table(db_url, [(1, 7, 0.0), (2, 8, 0.0)])
    folder = tmp_path / "migrations"
    config, command = _alembic(db_url, folder)
    command.revision(config, message="an earlier revision of the project")
    result = CliRunner().invoke(main, ["migrate", db_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--alembic", str(folder)])
    assert result.exit_code == 0, result.output
    written = list((folder / "versions").glob("*_dupfinder_uq_events_account_day.py"))
    assert len(written) == 1
    text = written[0].read_text()
    if db_url.startswith("postgresql"):
        assert "autocommit_block()" in text
    _up_refuses_down_accepts(config, command, db_url,
                             "INSERT INTO events (id, account, day) VALUES (3, 7, '2026-11-02')")
    # with the duplicate back, the revision's pre-flight stops the upgrade
    with pytest.raises(sa.exc.DBAPIError if db_url.startswith("postgresql") else sa.exc.IntegrityError):
        command.upgrade(config, "head")


def test_alembic_needs_a_single_head(sqlite_url, tmp_path):
    events_table(sqlite_url, [])
    folder = tmp_path / "migrations"
    config, command = _alembic(sqlite_url, folder)
    base = command.revision(config, message="base")
    command.revision(config, message="one", head=base.revision)
    command.revision(config, message="two", head=base.revision, splice=True)
    result = CliRunner().invoke(main, ["migrate", sqlite_url, "--table", "events", "--key", "account",
                                       "--alembic", str(folder)])
    assert result.exit_code == 2
    assert "several heads" in result.output


def _revision_shape(path: Path) -> list[str]:
    """What a revision file does at import time, as statement kinds (its docstring, the import, the four
    revision assignments, the two functions): a name that escaped the docstring would add code here."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [type(node).__name__ for node in tree.body]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=hostile.names("postgresql"), key=hostile.names("postgresql"))
def test_alembic_revision_of_any_names_is_only_the_revision(tmp_path_factory, table, key):
    """A quote, backslash or line break in a table or key name once closed the revision's docstring: the
    rest of the name was Python that `alembic upgrade` would run."""
    from dupfinder.alembic_revision import write_revision

    folder = tmp_path_factory.mktemp("versions")
    path = write_revision(folder, "postgresql", table, [key], schema="billing", name=table)
    assert _revision_shape(path) == ["Expr", "ImportFrom", "Assign", "Assign", "Assign", "Assign",
                                     "FunctionDef", "FunctionDef"]
    import ast

    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)
    assert docstring.startswith(f'dupfinder: UNIQUE ("{key}") on "{table}"\n')


def test_alembic_revision_names_the_schema_the_table_was_found_in(pg_url, tmp_path):
    """The revision qualifies the table with the schema the scan found it in, as migration.sql does: the scan's
    URL sets a search_path, Alembic's connection has the default one, where `ledger` alone is not found."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA billing")
        conn.exec_driver_sql("CREATE TABLE billing.ledger (id int PRIMARY KEY, account int, day date)")
        conn.exec_driver_sql("INSERT INTO billing.ledger VALUES (1, 7, '2026-11-01'), (2, 8, '2026-11-01')")
    folder = tmp_path / "migrations"
    config, command = _alembic(pg_url, folder)
    on_path = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3Dbilling"
    result = CliRunner().invoke(main, ["migrate", on_path, "--table", "ledger", "--key", "account",
                                       "--key", "day", "--alembic", str(folder)])
    assert result.exit_code == 0, result.output
    engine.dispose()
    _up_refuses_down_accepts(config, command, pg_url, "INSERT INTO billing.ledger VALUES (3, 7, '2026-11-01')")
