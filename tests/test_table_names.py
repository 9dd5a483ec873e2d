"""--table as a person copies it from psql or the catalog: SQL's quoting (``"Billing Ops".invoices``) and a
schema whose name holds a dot (``acme.prod.orders``). Both were refused as "not found" (stranger7): the name
was split at its first dot only, quotes and all, so a table in such a schema could not be scanned at all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import at
from sqlrun import scan_doc


def invoices(url: str, schema: str) -> None:
    """Two copies of one invoice 0.3 s apart, one other invoice, in ``schema``."""
    engine = sa.create_engine(url)
    md = sa.MetaData(schema=schema)
    table = sa.Table("invoices", md, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("account_id", sa.Integer), sa.Column("created_at", sa.DateTime))
    with engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
        md.create_all(conn)
        conn.execute(table.insert(), [{"id": 1, "account_id": 7, "created_at": at(0)},
                                      {"id": 2, "account_id": 7, "created_at": at(0.3)},
                                      {"id": 3, "account_id": 8, "created_at": at(5)}])
    engine.dispose()


@pytest.mark.parametrize(("schema", "given"), [
    ("Billing Ops", '"Billing Ops".invoices'),
    ("Billing Ops", '"Billing Ops"."invoices"'),
    ("acme.prod", "acme.prod.invoices"),
    ("acme.prod", '"acme.prod".invoices'),
    ('say "hi"', '"say ""hi""".invoices'),
])
def test_a_quoted_or_dotted_schema_name_finds_the_table(pg_url, schema, given):
    invoices(pg_url, schema)
    doc = scan_doc(pg_url, table=given, keys=["account_id"], ts="created_at")
    table = doc["tables"][0]
    assert (table["schema"], table["name"], table["table"]) == (schema, "invoices", f"{schema}.invoices")
    assert [[r["pk"]["id"] for r in c["rows"]] for c in table["clusters"]] == [[1, 2]]
