"""Key values in findings.json have one JSON type per column, the same on every engine (a stranger's finding:
PostgreSQL's numeric keys came out as 17 for 17.00 and "1.50" for 1.50, SQLite's as 17 and 1.5)."""

from __future__ import annotations

import json
from decimal import Decimal

import jsonschema
import sqlalchemy as sa
from helpers import at, make_table, ts_type
from sqlrun import rows_of, scan_doc

from dupfinder.findings import SCHEMA_PATH
from dupfinder.remediate import cleanup_sql, rollback_sql

KEYS = [(17, 10**15, Decimal("17.00")), (18, 2**53 + 1, Decimal("1.50")), (19, 5, Decimal("0.10"))]


def numbers(url: str) -> None:
    """Each key written twice 200 ms apart, and again 50 s later (a far duplicate too); the primary key is a
    numeric(12,2) as well."""
    rows, n = [], 0
    for k, (a, b, c) in enumerate(KEYS):
        for offset in (0.0, 0.2, 50.0):
            n += 1
            rows.append({"id": Decimal(n) / 4, "a": a, "b": b, "c": c, "ts": at(k * 100 + offset)})
    make_table(url, "nums", [sa.Column("id", sa.Numeric(12, 2), primary_key=True), sa.Column("a", sa.Integer),
                             sa.Column("b", sa.BigInteger), sa.Column("c", sa.Numeric(10, 2)),
                             sa.Column("ts", ts_type())], rows)


def test_numeric_keys_are_json_numbers_of_one_type_per_column(db_url, runner):
    numbers(db_url)
    doc = scan_doc(db_url, table="nums", keys=["a", "b", "c"], ts="ts", window="1s")
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    table = doc["tables"][0]
    keys = [c["key"] for c in table["clusters"]]
    assert keys == [{"a": 17, "b": 10**15, "c": 17}, {"a": 18, "b": 2**53 + 1, "c": 1.5}, {"a": 19, "b": 5, "c": 0.1}]
    assert [f["key"] for f in table["far_duplicate_keys"]] == keys
    for column in ("a", "b"):
        assert {type(k[column]) for k in keys} == {int}
    assert all(isinstance(k["c"], (int, float)) and not isinstance(k["c"], bool) for k in keys)
    pks = [r["pk"]["id"] for c in table["clusters"] for r in c["rows"]]
    assert pks == [0.25, 0.5, 1, 1.25, 1.75, 2]
    before = rows_of(db_url, "nums")
    runner(cleanup_sql(doc))  # the plan finds rows by the numeric primary key read back as numbers
    after = rows_of(db_url, "nums")
    assert table["rows_to_delete"] == 3 and len(after) == len(before) - 3
    assert [float(r[0]) for r in before if r not in after] == [0.5, 1.25, 2.0]
    runner(rollback_sql(doc))
    assert rows_of(db_url, "nums") == before
    table["clusters"][0]["key"]["a"] = [17]  # a key value is a scalar
    assert not jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).is_valid(doc)

