"""discover --where on a schema-per-tenant database: an empty tenant table borrows the key its namesakes got, and
the index a scan of it wants was proposed over every row, where its namesakes' was partial on the predicate (the
table was introspected again without it). The proposals are run on the engine."""

from __future__ import annotations

import sqlalchemy as sa
from helpers import run_statements
from test_discover import _tenant_invoices

from dupfinder.discover import discover

WHERE = "amount_cents > 0"


def test_an_empty_tenant_tables_index_is_partial_as_its_namesakes_are(pg_url):
    run_statements(pg_url, *(s for t in ("tenant_0001", "tenant_0002", "tenant_0003") for s in _tenant_invoices(t)),
                   "CREATE SCHEMA tenant_new", "CREATE TABLE tenant_new.invoices (LIKE tenant_0001.invoices)")
    proposals = {p.table: p for p in discover(pg_url, ["tenant_*"], WHERE)}
    full, empty = proposals["tenant_0001.invoices"], proposals["tenant_new.invoices"]
    assert empty.keys == full.keys and "the table is empty" in empty.evidence, empty
    assert full.index and f"WHERE {WHERE}" in full.index, full.index
    assert empty.index == full.index.replace("tenant_0001", "tenant_new"), (empty.index, full.index)
    run_statements(pg_url, empty.index.replace(" CONCURRENTLY", ""))
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        predicates = conn.exec_driver_sql(
            "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index AS i "
            "WHERE i.indrelid = CAST('tenant_new.invoices' AS regclass) AND NOT i.indisprimary").scalars().all()
    engine.dispose()
    assert predicates == ["(amount_cents > 0)"], predicates
