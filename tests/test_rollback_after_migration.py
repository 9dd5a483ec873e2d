"""rollback.sql after migration.sql: its header says to undo the migration first and gives the down step; run as
written, the rollback then restores every row (a stranger's finding: the header did not say so, and the
rollback stopped at a unique violation)."""

from __future__ import annotations

import pytest
from helpers import events_table
from sqlrun import SQLFailed, digest, rows_of, scan_doc

from dupfinder.remediate import cleanup_sql, migration_sql_for_findings, rollback_sql

DOWN = "--   "


def test_rollback_header_gives_the_migration_down_step_that_lets_it_restore(db_url, runner):
    events_table(db_url, [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0, "a"), (4, 9, 0.0, "a"),
                          (5, 9, 0.4, "b")])
    before = rows_of(db_url)
    doc = scan_doc(db_url, writers=["host=host"])
    rollback = rollback_sql(doc)
    head = rollback.split("\n\n")[0]
    assert "FIRST, if migration.sql was applied since the cleanup, undo it" in head
    downs = [line[len(DOWN):] for line in head.splitlines() if line.startswith(DOWN)]
    assert downs and all("uq_events_account_day" in d for d in downs)
    runner(cleanup_sql(doc))
    runner(migration_sql_for_findings(doc))
    cleaned = rows_of(db_url)
    assert [r[0] for r in cleaned] == ["1", "3", "4"]
    with pytest.raises(SQLFailed, match="(?i)unique"):
        runner(rollback)  # the constraint refuses the copies: nothing restored
    assert rows_of(db_url) == cleaned
    runner("\n".join(downs))
    runner(rollback)
    assert digest(rows_of(db_url)) == digest(before)


def test_no_down_step_when_nothing_was_deleted(db_url):
    events_table(db_url, [(1, 7, 0.0), (2, 8, 0.3)])
    assert "FIRST, if migration.sql" not in rollback_sql(scan_doc(db_url))
