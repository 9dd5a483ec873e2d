"""Clock-change evidence: a local-time schedule firing twice in the hour the autumn change repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from helpers import make_table, scan_one


def _table(url: str, aware: bool, rows: list[tuple[int, datetime, str]]) -> None:
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("ts", sa.DateTime(timezone=aware)), sa.Column("host", sa.String(10))]
    make_table(url, "events", columns, [{"id": i, "account": 7, "ts": ts, "host": h} for i, ts, h in rows])


def test_instants_an_hour_apart_in_the_repeated_hour(pg_url):
    # Europe/Berlin went from 03:00 CEST back to 02:00 CET at 01:00 UTC on 2026-10-25: a job scheduled
    # at 02:30 local time runs at 00:30 UTC and again at 01:30 UTC.
    first = datetime(2026, 10, 25, 0, 30, 0, 120000, tzinfo=UTC)
    _table(pg_url, True, [(1, first, "cron-1"), (2, first + timedelta(seconds=3600.3), "cron-1")])
    plain = scan_one(pg_url, keys=["account"])
    assert plain.clusters == () and plain.far_total == 1
    zoned = scan_one(pg_url, keys=["account"], timezone="Europe/Berlin")
    assert [c.mechanism for c in zoned.clusters] == ["dst_fallback"]
    assert zoned.far_total == 0
    assert "clock change" in zoned.clusters[0].explanation
    elsewhere = scan_one(pg_url, keys=["account"], timezone="America/New_York")  # no change that night there
    assert elsewhere.clusters == () and elsewhere.far_total == 1


def test_naive_local_time_shows_the_pair_moments_apart(db_url):
    wall = datetime(2026, 10, 25, 2, 30, 0, 100000)
    _table(db_url, False, [(1, wall, "cron-1"), (900, wall + timedelta(milliseconds=150), "cron-1")])
    assert [c.mechanism for c in scan_one(db_url, keys=["account"], timezone="Europe/Berlin").clusters] == [
        "dst_fallback"]
    assert [c.mechanism for c in scan_one(db_url, keys=["account"]).clusters] != ["dst_fallback"]
