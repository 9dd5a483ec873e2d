"""Generated SQL names the schema the scan found the table in: run under another search_path (one that finds a
same-named table first), cleanup, rollback, migration and verify still act on the scanned table (a stranger's
cleanup.sql cleaned another schema's copy of ledger_entries and put the backup there)."""

from __future__ import annotations

import sqlalchemy as sa
from helpers import at
from sqlrun import rows_of, scan_doc

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec
from dupfinder.remediate import cleanup_sql, migration_sql_for_findings, rollback_sql

SHADOW = "SET search_path TO shadow, public;\n"


def ledger(url: str, schema: str | None) -> None:
    engine = sa.create_engine(url)
    md = sa.MetaData(schema=schema)
    table = sa.Table("ledger_entries", md, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("entry_ref", sa.String(10)), sa.Column("amount", sa.Integer),
                     sa.Column("created_at", sa.DateTime))
    with engine.begin() as conn:
        md.create_all(conn)
        conn.execute(table.insert(), [{"id": 1, "entry_ref": "E1", "amount": 5, "created_at": at(0)},
                                      {"id": 2, "entry_ref": "E1", "amount": 5, "created_at": at(0.3)},
                                      {"id": 3, "entry_ref": "E2", "amount": 6, "created_at": at(9)}])
    engine.dispose()


def tables_in(url: str, schema: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sorted(sa.inspect(engine).get_table_names(schema=schema))
    finally:
        engine.dispose()


def test_every_generated_statement_names_the_scanned_tables_schema(pg_url, runner_pg):
    ledger(pg_url, None)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA shadow")
    engine.dispose()
    ledger(pg_url, "shadow")
    result = api.scan(ScanOptions(url=pg_url, tables=(table_spec(table="ledger_entries", keys=["entry_ref"],
                                                                  ts="created_at"),)))
    verify = result.tables[0].verify_sql
    assert 'public.ledger_entries' in verify
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET search_path TO shadow, public")
        conn.exec_driver_sql("DELETE FROM shadow.ledger_entries WHERE id = 2")  # the shadow copy: no duplicate
        found = conn.execute(sa.text(verify), {"since": at(-60)}).all()
        shadow = conn.exec_driver_sql("SELECT * FROM shadow.ledger_entries ORDER BY id").all()
    engine.dispose()
    assert len(found) == 2
    doc = scan_doc(pg_url, table="ledger_entries", keys=["entry_ref"], ts="created_at")
    assert doc["tables"][0]["schema"] == "public" and doc["tables"][0]["table"] == "ledger_entries"

    def shadow_untouched() -> None:
        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT * FROM shadow.ledger_entries ORDER BY id").all() == shadow
        engine.dispose()
        assert tables_in(pg_url, "shadow") == ["ledger_entries"]

    runner_pg(SHADOW + cleanup_sql(doc))
    assert [r[0] for r in rows_of(pg_url, "ledger_entries")] == ["1", "3"]
    assert any(t.startswith("dupfinder_backup_ledger_entries") for t in tables_in(pg_url, "public"))
    shadow_untouched()
    runner_pg(SHADOW + migration_sql_for_findings(doc))
    engine = sa.create_engine(pg_url)
    uniques = sa.inspect(engine).get_unique_constraints("ledger_entries", schema="public")
    engine.dispose()
    assert [u["column_names"] for u in uniques] == [["entry_ref"]]
    shadow_untouched()
    assert "public.ledger_entries" in api.migrate(pg_url, "ledger_entries", ["entry_ref"])  # `dupfinder migrate`
    runner_pg(SHADOW + "ALTER TABLE public.ledger_entries DROP CONSTRAINT " + uniques[0]["name"] + ";\n"
              + rollback_sql(doc))
    assert [r[0] for r in rows_of(pg_url, "ledger_entries")] == ["1", "2", "3"]
    shadow_untouched()
