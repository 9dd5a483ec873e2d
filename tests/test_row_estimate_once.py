"""A PostgreSQL scan of a table with clusters read the planner's row estimate twice, in one catalog statement each
with the same answer: once to decide whether the statistics run beside the detection, once for the xmin share's
sample. It is read once."""

from __future__ import annotations

import sqlalchemy as sa
from helpers import events_table
from sqlrun import scan_doc

PAIRS = [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0, "a"), (4, 8, 0.2, "b"), (5, 9, 0.0, "a")]


def test_a_scan_with_clusters_reads_the_row_estimate_once(pg_url):
    events_table(pg_url, PAIRS)
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "reltuples" in statement:
            seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        doc = scan_doc(pg_url, writers=["host=host"])
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
    table = doc["tables"][0]
    assert len(table["clusters"]) == 2 and table["signals"]["xmin"] is not None
    assert len(seen) == 1, seen
