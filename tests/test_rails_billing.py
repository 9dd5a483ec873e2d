"""A Rails-style billing schema on PostgreSQL: bigint ids, ``lock_version``, JSONB ``metadata``, naive-UTC
``timestamp(6)`` columns, a table named ``order`` and soft deletes (``deleted_at``; rows are never removed and
the application's uniqueness holds among the rows not deleted). The night's double run left copies, and
support soft-deleted one copy of some of them the morning after. Every generated file is executed with psql."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import run_statements
from sqlrun import SQLFailed, digest, rows_of

from dupfinder import api
from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec
from dupfinder.discover import discover
from dupfinder.findings import findings_dict
from dupfinder.remediate import cleanup_sql, migration_sql_for_findings, rollback_sql

SCHEMA = """
CREATE TABLE "order" (
    id bigserial PRIMARY KEY, subscription_id bigint NOT NULL, period_start date NOT NULL,
    kind varchar NOT NULL, lock_version integer NOT NULL DEFAULT 0, metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, deleted_at timestamp(6));
CREATE TABLE invoices (
    id bigserial PRIMARY KEY, subscription_id bigint NOT NULL, period_start date NOT NULL,
    amount_cents bigint NOT NULL, currency varchar NOT NULL DEFAULT 'USD', lock_version integer NOT NULL DEFAULT 0,
    metadata jsonb NOT NULL DEFAULT '{}', created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL,
    deleted_at timestamp(6));
CREATE TABLE invoice_line_items (
    id bigserial PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES invoices (id), description varchar NOT NULL,
    amount_cents bigint NOT NULL, quantity integer NOT NULL DEFAULT 1,
    created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);
CREATE TABLE payments (
    id bigserial PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES invoices (id), amount_cents bigint NOT NULL,
    lock_version integer NOT NULL DEFAULT 0, metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, deleted_at timestamp(6));
"""
NIGHT = "2026-11-24 02:00:0"
MORNING = "'2026-11-24 08:15:00'"


def _orders(url: str, soft_deleted: dict[int, int], subscriptions: int = 3) -> None:
    """The subscriptions' renewal orders, each written twice 300 ms apart (the two pods' copies; each
    pod stamped its own updated_at). ``soft_deleted`` maps a subscription to the copy (0 or 1) support
    soft-deleted the morning after."""
    run_statements(url, SCHEMA)
    values = []
    for sub in range(1, subscriptions + 1):
        for copy in (0, 1):
            ts = f"'2026-11-24 02:00:{sub:02}.{copy * 3 + 1}00000'"
            deleted = MORNING if soft_deleted.get(sub) == copy else "NULL"
            values.append(f"({sub}, '2026-11-24', 'renewal', '{{\"trigger\": \"nightly\"}}', {ts}, {ts}, {deleted})")
    run_statements(url, 'INSERT INTO "order" (subscription_id, period_start, kind, metadata, created_at, updated_at, '
                  "deleted_at) VALUES " + ", ".join(values))


def _scan(url: str, *tables: tuple[str, list[str], list[str]], keep: str = "earliest") -> dict:
    return findings_dict(api.scan(ScanOptions(url=url, tables=tuple(
        table_spec(table=name, keys=keys, ts="created_at", ignore=ignore, keep=keep)
        for name, keys, ignore in tables))))


def _live_copies(url: str, table: str = '"order"', key: str = "subscription_id") -> dict[int, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT {key}, count(*) FROM {table} WHERE deleted_at IS NULL GROUP BY 1")
        found = dict(rows.fetchall())
    engine.dispose()
    return found


def test_the_migration_is_unique_among_the_rows_not_deleted(pg_url, runner_pg):
    """The application's rule is "unique among rows not deleted": migration.sql must say so with a partial
    unique index. A cluster whose other copy support already soft-deleted does not hold the table back, and
    the application can still create a row again after soft-deleting it; a second live copy is refused."""
    _orders(pg_url, soft_deleted={2: 1})
    doc = _scan(pg_url, ("order", ["subscription_id", "period_start"], ["updated_at"]))
    migration, cleanup = migration_sql_for_findings(doc), cleanup_sql(doc)
    assert "held back" not in migration
    said = '--   every copy but one is soft-deleted ("deleted_at" set): the application sees one row'
    assert cleanup.count(said) == 1 and cleanup.index('"subscription_id": 2') < cleanup.index(said)
    runner_pg(cleanup)
    runner_pg(migration)
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        index = conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE tablename = 'order' "
                                     "AND indexname LIKE 'uq_%%'").scalar_one()
    engine.dispose()
    assert index.endswith("WHERE (deleted_at IS NULL)")
    renewal = ("INSERT INTO \"order\" (subscription_id, period_start, kind, created_at, updated_at) "
               "VALUES (1, '2026-11-24', 'renewal', now(), now())")
    run_statements(pg_url, "UPDATE \"order\" SET deleted_at = now() WHERE subscription_id = 1", renewal)  # re-created
    with pytest.raises(sa.exc.IntegrityError):
        run_statements(pg_url, renewal)
    assert _live_copies(pg_url) == {1: 1, 2: 1, 3: 1}


def test_cleanup_keeps_the_copy_that_is_not_soft_deleted(pg_url, runner_pg):
    """With deleted_at left out of the comparison, the copies are identical; the survivor must be the live
    copy, whichever came first: keeping the soft-deleted one deleted the invoice from the application."""
    _orders(pg_url, soft_deleted={1: 0, 2: 1})
    doc = _scan(pg_url, ("order", ["subscription_id", "period_start"], ["updated_at", "deleted_at"]))
    survivors = {c["key"]["subscription_id"]: next(r for r in c["rows"] if r["survivor"])
                 for c in doc["tables"][0]["clusters"]}
    assert survivors[1]["values"]["deleted_at"] is None and survivors[2]["values"]["deleted_at"] is None
    runner_pg(cleanup_sql(doc))
    assert _live_copies(pg_url) == {1: 1, 2: 1, 3: 1}
    assert len(rows_of(pg_url, "order")) == 3  # one row per key is left


def test_a_child_table_is_cleaned_before_the_parent_that_repoints_it(pg_url, runner_pg):
    """invoices written twice by the two pods, each copy charged once, and the second copy's charge retried 1.2 s
    later by the job library. cleanup.sql cleans payments before invoices (the invoices' cleanup re-points payments,
    and payments' own plan then stopped on "changed since the scan", the file half done); migration.sql holds
    payments back, since the re-pointed charges of the two copies now share an invoice_id; rollback.sql puts
    both tables back exactly."""
    run_statements(pg_url, SCHEMA,
             "INSERT INTO invoices (id, subscription_id, period_start, amount_cents, created_at, updated_at) VALUES "
             f"(1, 7, '2026-11-24', 4900, '{NIGHT}1.100000', '{NIGHT}1.100000'), "
             f"(2, 7, '2026-11-24', 4900, '{NIGHT}1.130000', '{NIGHT}1.130000')",
             "INSERT INTO payments (invoice_id, amount_cents, created_at, updated_at) VALUES "
             f"(1, 4900, '{NIGHT}2.000000', '{NIGHT}2.000000'), (2, 4900, '{NIGHT}2.100000', '{NIGHT}2.100000'), "
             f"(2, 4900, '{NIGHT}3.300000', '{NIGHT}3.300000')")
    before = {t: digest(rows_of(pg_url, t)) for t in ("invoices", "payments")}
    doc = _scan(pg_url, ("invoices", ["subscription_id", "period_start"], ["updated_at"]),
                ("payments", ["invoice_id"], ["updated_at"]))
    runner_pg(cleanup_sql(doc))
    assert [r[:2] for r in rows_of(pg_url, "payments")] == [("1", "1"), ("2", "1")]
    migration = migration_sql_for_findings(doc)
    assert 'held back (duplicates cleanup.sql does not remove): "payments"' in migration
    runner_pg(migration)
    with pytest.raises(SQLFailed, match="unique"):  # the migration is in force: undo it first, as the header says
        runner_pg(rollback_sql(doc))
    runner_pg("DROP INDEX uq_invoices_subscription_id_period_start;")
    runner_pg(rollback_sql(doc))
    assert {t: digest(rows_of(pg_url, t)) for t in ("invoices", "payments")} == before


def test_lock_version_is_compared_not_taken_for_the_writers_version(pg_url, runner_pg):
    """lock_version counts a row's updates (Rails' optimistic locking); it was inferred as the writer's
    software version and, the data agreeing, left out of the comparison: with --keep latest the copy updated
    since (lock_version 1) was deleted as identical to the one never updated."""
    _orders(pg_url, soft_deleted={}, subscriptions=30)  # enough rows for the data to "confirm" a writer column
    run_statements(pg_url, 'UPDATE "order" SET lock_version = 1 WHERE subscription_id = 2 AND created_at = '
                     f"'{NIGHT}2.100000'")
    doc = _scan(pg_url, ("order", ["subscription_id", "period_start"], ["updated_at"]), keep="latest")
    table = doc["tables"][0]
    assert "lock_version" not in {w["column"] for w in table["writer_columns"]}
    differing = {c["key"]["subscription_id"]: c["differing_columns"] for c in table["clusters"]}
    assert differing == {sub: ["lock_version"] if sub == 2 else [] for sub in range(1, 31)}
    runner_pg(cleanup_sql(doc))
    assert _live_copies(pg_url) == {sub: 2 if sub == 2 else 1 for sub in range(1, 31)}


def test_the_updated_at_note_survives_a_few_soft_deleted_copies(pg_url):
    """Each pod stamped its own updated_at, so every cluster differs in it; support soft-deleted one copy of
    two of them (deleted_at differs there too). The note naming updated_at and --ignore was left out
    altogether, and the reader saw 30 divergent clusters with no word on why cleanup.sql deletes none."""
    _orders(pg_url, soft_deleted={4: 1, 9: 0}, subscriptions=30)
    notes = _scan(pg_url, ("order", ["subscription_id", "period_start"], []))["tables"][0]["notes"]
    assert any(n.startswith("28 of the 30 clusters differ in column 'updated_at' alone") and "--ignore updated_at" in n
               for n in notes), notes


def test_totals_of_a_cents_column_are_said_in_cents(pg_url, tmp_path):
    """amount_cents sums cents: "amount_cents 4,900 USD" read as 4,900 dollars where 49.00 were doubled."""
    run_statements(pg_url, SCHEMA,
             "INSERT INTO invoices (subscription_id, period_start, amount_cents, created_at, updated_at) VALUES "
             f"(7, '2026-11-24', 4900, '{NIGHT}1.100000', '{NIGHT}1.100000'), "
             f"(7, '2026-11-24', 4900, '{NIGHT}1.130000', '{NIGHT}1.100000')")
    done = CliRunner().invoke(main, ["scan", pg_url, "--table", "invoices", "--key", "subscription_id", "--key",
                                     "period_start", "--ts", "created_at", "--out", str(tmp_path)])
    assert done.exit_code == 1, done.output
    said = "amount_cents 4,900 USD cents (all to delete)"
    assert said in done.output and said in (tmp_path / "report.html").read_text()


def test_discover_proposes_no_key_that_an_invoices_lines_share(pg_url):
    """Each invoice has a "Subscription" and a "Sales tax" line, inserted in one statement: invoice_id was
    proposed as their key (908 keys "written twice within 5 s"), and a scan reported every invoice as doubled,
    with its descriptions read as two hosts. The description and amount tell the lines apart."""
    run_statements(pg_url, SCHEMA)
    for n in range(1, 31):
        ts = f"'2026-11-24 02:00:{n:02}.000000'"
        run_statements(pg_url, "INSERT INTO invoices (id, subscription_id, period_start, amount_cents, created_at, "
                         f"updated_at) VALUES ({n}, {n}, '2026-11-24', 4900, {ts}, {ts})",
                 "INSERT INTO invoice_line_items (invoice_id, description, amount_cents, created_at, updated_at) "
                 f"VALUES ({n}, 'Subscription', 4900, {ts}, {ts}), ({n}, 'Sales tax', 392, {ts}, {ts})")
    lines = next(p for p in discover(pg_url) if p.table == "invoice_line_items")
    assert lines.keys is None and "differ in another column" in lines.evidence


def test_migrate_by_hand_warns_a_soft_deleting_table_without_where(pg_url, tmp_path):
    """`dupfinder migrate` on a table with deleted_at wrote a UNIQUE constraint over every row without a word:
    the application's next re-creation of a soft-deleted row would fail. It says so and names --where."""
    run_statements(pg_url, SCHEMA)
    command = ["migrate", pg_url, "--table", "order", "--key", "subscription_id", "--key", "period_start",
               "-o", str(tmp_path / "m.sql")]
    done = CliRunner().invoke(main, command)
    assert done.exit_code == 0, done.output
    assert "warning: order soft-deletes its rows (deleted_at)" in done.stderr
    assert "--where 'deleted_at IS NULL'" in done.stderr
    quiet = CliRunner().invoke(main, [*command, "--where", "deleted_at IS NULL"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr


def test_verify_sql_says_an_offset_is_dropped_for_a_naive_column(pg_url, tmp_path):
    """created_at holds UTC without a zone (Rails). verify.sql's example bound carries "+00", as if the offset
    counted; PostgreSQL drops it: a Berlin engineer's '03:00:00+01' (02:00 UTC) read as 03:00 and returned
    nothing of the 02:00 night. The file now says to give the bound in the column's own clock."""
    _orders(pg_url, soft_deleted={}, subscriptions=3)
    done = CliRunner().invoke(main, ["scan", pg_url, "--table", "order", "--key", "subscription_id", "--key",
                                     "period_start", "--ts", "created_at", "-q", "--out", str(tmp_path)])
    assert done.exit_code == 1, done.output
    verify = (tmp_path / "verify.sql").read_text()
    assert ("-- created_at has no time zone: give :since in the column's own clock (its values' zone, UTC where "
            "the application writes UTC); PostgreSQL drops an offset such as +01 from the bound") in verify
    query = "\n".join(line for line in verify.splitlines() if not line.startswith("--")).strip().rstrip(";")
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        found = {bound: len(conn.execute(sa.text(query), {"since": bound}).fetchall())
                 for bound in ("2026-11-24 02:00:00", "2026-11-24 03:00:00+01")}
    engine.dispose()
    assert found == {"2026-11-24 02:00:00": 6, "2026-11-24 03:00:00+01": 0}  # one instant, two answers
