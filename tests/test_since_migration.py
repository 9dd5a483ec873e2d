"""migration.sql after a --since scan: the rows before the bound were not read, so a key written twice there (a
backfill's far duplicate) is neither found nor cleaned up, and the pre-flight, which reads the whole table,
stops after cleanup.sql with "run cleanup.sql and resolve the rest" (stranger7: a post-deploy scan's files,
run as the README says, did not apply cleanly and nothing said why). The file now says so for such a table."""

from __future__ import annotations

import re

import pytest
from helpers import events_table
from sqlrun import SQLFailed, scan_doc

from dupfinder.remediate import cleanup_sql, migration_sql_for_findings
from dupfinder.report import render_report

SINCE = "2026-11-03T03:30:00Z"  # an hour after the helpers' T0


@pytest.mark.parametrize("aware", [True, False])
def test_a_since_scan_migration_says_older_rows_were_not_looked_at(pg_url, runner_pg, aware):
    # account 7 written twice a day before the bound (a far duplicate the scan cannot see), account 8 twice
    # 0.3 s apart after it (the near cluster cleanup.sql removes)
    events_table(pg_url, [(1, 7, -86400.0), (2, 7, 0.0), (3, 8, 7200.0), (4, 8, 7200.3)], aware=aware)
    doc = scan_doc(pg_url, since=SINCE, timezone="UTC")
    table = doc["tables"][0]
    assert (len(table["clusters"]), table["far_duplicates"]) == (1, 0)
    migration = migration_sql_for_findings(doc)
    caveat = [line for line in migration.splitlines() if "(--since)" in line]
    assert len(caveat) == 1 and "2026-11-03" in caveat[0] and "not looked for" in caveat[0]
    assert ("+00:00" in caveat[0]) is aware and ("(wall time" in caveat[0]) is not aware
    assert "scan it without --since" in migration
    runner_pg(cleanup_sql(doc))
    with pytest.raises(SQLFailed, match="pre-flight"):
        runner_pg(migration)  # what the comment warns of: the far duplicate before the bound remains


def test_the_report_shows_a_naive_columns_since_as_the_wall_time_it_compared(pg_url):
    """The report's "since" of a naive column scanned with --timezone America/New_York said 18:46+00:00 (UTC)
    where the scan had started at 18:46 New York wall time, five hours later than that reads."""
    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.3)])
    doc = scan_doc(pg_url, since=SINCE, timezone="America/New_York")  # 03:30 UTC is 22:30 the day before there
    html = render_report(doc, {})
    shown = re.search(r"\(since <span[^>]*>([^<]*)</span>", html).group(1)
    assert shown == "2026-11-02T22:30:00 (wall time, as the column holds it)", shown


def test_no_since_caveat_without_since(pg_url):
    events_table(pg_url, [(1, 7, 0.0), (2, 7, 0.3)])
    assert "(--since)" not in migration_sql_for_findings(scan_doc(pg_url))
