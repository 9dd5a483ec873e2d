"""cleanup.sql's header says what a scan run again afterwards reports, and it is true (a stranger's finding: it said
"should report no near-duplicate clusters", but cleanup re-points a child table's rows to the survivor, and a scan of
the child keyed on its reference column then found the copies' child rows under one reminder).

Run on PostgreSQL with psql, as a person would: reminders written twice or three times by a job that ran twice, an
email queued in email_outbox for some copies, some copies divergent (left for a person); cleanup.sql is run, both
tables are scanned again, and every cluster the scans report is one the header said to expect.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlrun import apply_sql, scan_doc

from dupfinder.remediate import cleanup_sql

# one reminder: how many copies the job wrote, whether each copy queued an email, whether the copies differ
REMINDER = st.tuples(st.integers(1, 3), st.lists(st.booleans(), min_size=3, max_size=3), st.booleans())


def _tables(url: str, reminders: list[tuple[int, list[bool], bool]]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        # each example starts afresh: the backup tables of an earlier example's cleanup too (a stamp per second)
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
        conn.exec_driver_sql("CREATE TABLE reminders (id integer PRIMARY KEY, user_id integer NOT NULL, "
                             "remind_on date NOT NULL, note text, created_at timestamp NOT NULL)")
        conn.exec_driver_sql("CREATE TABLE email_outbox (id integer PRIMARY KEY, reminder_id integer NOT NULL "
                             "REFERENCES reminders (id), template text NOT NULL, created_at timestamp NOT NULL)")
        rid = eid = 0
        for n, (copies, emails, divergent) in enumerate(reminders):
            for copy in range(copies):
                rid += 1
                note = f"copy {copy}" if divergent else "same"
                conn.exec_driver_sql(
                    "INSERT INTO reminders VALUES (%s, %s, '2026-11-25', %s, "
                    "timestamp '2026-11-24 07:00:00' + %s * interval '1 minute' + %s * interval '50 ms')",
                    (rid, 100 + n, note, n, copy))
                if emails[copy]:
                    eid += 1
                    conn.exec_driver_sql(
                        "INSERT INTO email_outbox VALUES (%s, %s, 'reminder', "
                        "timestamp '2026-11-24 07:00:00' + %s * interval '1 minute' + %s * interval '50 ms' "
                        "+ interval '10 ms')", (eid, rid, n, copy))
    engine.dispose()


def _clusters(url: str, table: str, keys: list[str]) -> int:
    return len(scan_doc(url, table=table, keys=keys, ts="created_at")["tables"][0]["clusters"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reminders=st.lists(REMINDER, min_size=1, max_size=6))
def test_a_scan_after_cleanup_reports_only_the_clusters_the_header_expects(pg_url, pg_server, reminders):
    _tables(pg_url, reminders)
    doc = scan_doc(pg_url, table="reminders", keys=["user_id", "remind_on"], ts="created_at")
    sql = cleanup_sql(doc)
    apply_sql(pg_url, sql, pg_server)
    head = sql.split("-- ----", 1)[0]
    verify = head[head.index("-- Verify afterwards"):]

    # the cleaned table: only the clusters left for a person, as many as the header says
    left = re.search(r"but the (\d+) clusters? left for a person", verify)
    divergent = sum(1 for copies, _, differ in reminders if copies > 1 and differ)
    assert _clusters(pg_url, "reminders", ["user_id", "remind_on"]) == (int(left[1]) if left else 0) == divergent

    # the child: the emails each copy queued now point at the survivor together, a cluster per reminder whose
    # deleted copies had queued one beside an email of the surviving copy's or another deleted copy's
    expected = sum(1 for copies, emails, differ in reminders if copies > 1 and not differ and sum(emails[:copies]) > 1)
    found = _clusters(pg_url, "email_outbox", ["reminder_id", "template"])
    assert found == expected
    named = '"email_outbox" ("reminder_id" -> "reminders")' in verify
    if found:
        assert named and "Expect new clusters in the child table" in verify, verify
    if not any(copies > 1 and not differ for copies, _, differ in reminders):  # nothing deleted, nothing re-pointed
        assert not named, verify
