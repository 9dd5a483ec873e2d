"""Clock-change evidence: a local-time schedule firing twice in the hour the autumn change repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from helpers import make_table, scan_one
from hypothesis import given, settings
from hypothesis import strategies as st


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


def _night(url: str, aware: bool, rows: list[tuple[int, int, datetime]]) -> None:
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("ts", sa.DateTime(timezone=aware)), sa.Column("host", sa.String(10))]
    make_table(url, "events", columns, [{"id": i, "account": a, "ts": ts, "host": "cron-1"} for i, a, ts in rows])


def test_naive_column_holding_utc(db_url):
    # New York went from 02:00 EDT back to 01:00 EST at 06:00 UTC on 2026-11-01: a job at 01:30 local time
    # ran at 05:30 UTC and again at 06:30 UTC; a naive column written in UTC holds exactly that.
    first = datetime(2026, 11, 1, 5, 30, 0, 100000)
    rows = [(n, n, first + timedelta(milliseconds=40 * n)) for n in range(1, 7)]
    rows += [(100 + n, n, first + timedelta(seconds=3600.2, milliseconds=40 * n)) for n in range(1, 7)]
    rows += [(200, 99, first - timedelta(days=2)), (201, 99, first)]  # a genuine far duplicate
    _night(db_url, False, rows)
    plain = scan_one(db_url, keys=["account"])
    assert plain.clusters == () and plain.far_total == 7
    zoned = scan_one(db_url, keys=["account"], timezone="America/New_York")
    assert [c.mechanism for c in zoned.clusters] == ["dst_fallback"] * 6
    assert zoned.far_total == 1  # the clock change explains the six; the key written two days apart stays
    assert all(c.evidence["clock_reading"] == "utc" for c in zoned.clusters)
    assert "naive values holding UTC" in zoned.clusters[0].explanation
    (incident,) = zoned.incidents
    assert "01:30 EDT and 01:30 EST" in incident.summary, incident.summary


def test_naive_column_holding_local_time(db_url):
    wall = datetime(2026, 11, 1, 1, 30, 0, 100000)
    rows = [(n, n, wall + timedelta(milliseconds=40 * n)) for n in range(1, 5)]
    rows += [(100 + n, n, wall + timedelta(milliseconds=40 * n + 150)) for n in range(1, 5)]
    _night(db_url, False, rows)
    zoned = scan_one(db_url, keys=["account"], timezone="America/New_York")
    assert [c.mechanism for c in zoned.clusters] == ["dst_fallback"] * 4
    assert "naive values holding local wall time" in zoned.clusters[0].explanation
    assert all(c.evidence["clock_reading"] == "local" for c in zoned.clusters)  # as docs/attribution.md promises
    assert "01:30 EDT and 01:30 EST" in zoned.incidents[0].summary
    assert zoned.far_total == 0


def test_the_xmin_signal_is_read_when_only_clock_change_pairs_exist(pg_url):
    first = datetime(2026, 11, 1, 5, 30, 0, 100000, tzinfo=UTC)
    _night(pg_url, True, [(1, 1, first), (2, 1, first + timedelta(seconds=3600.2))])
    zoned = scan_one(pg_url, keys=["account"], timezone="America/New_York")
    assert [c.mechanism for c in zoned.clusters] == ["dst_fallback"]
    assert zoned.far_total == 0
    assert not zoned.signals["xmin"].startswith("not read"), zoned.signals["xmin"]  # read (here: one load)


@given(st.integers(min_value=int(datetime(1990, 1, 1, tzinfo=UTC).timestamp() * 1e6),
                   max_value=int(datetime(2060, 1, 1, tzinfo=UTC).timestamp() * 1e6)))
@settings(max_examples=400, deadline=None)
def test_the_zones_read_once_an_hour_are_the_zones_read_at_each_moment(ts_us):
    """zone_hint reads the common zones once per wall-clock hour (clock.repeated_in): every moment of the hour
    answers as the moment itself does. Around the autumn changes of those zones' recent decades too."""
    from dupfinder.attribution.clock import COMMON_ZONES, HOUR_US, in_repeated_hour, repeated_in

    assert repeated_in(ts_us // HOUR_US) == tuple(z for z in COMMON_ZONES if in_repeated_hour(ts_us, False, z))


@given(st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney", "Europe/London"]),
       st.integers(1995, 2055), st.integers(0, 3599 * 10**6))
@settings(max_examples=60, deadline=None)
def test_every_moment_of_a_repeated_hour_reads_like_its_hour(zone, year, offset_us):
    """The same, at the moments that matter: inside each zone's repeated hour of a year."""
    from zoneinfo import ZoneInfo

    from dupfinder.attribution.clock import COMMON_ZONES, HOUR_US, in_repeated_hour, repeated_in

    tz = ZoneInfo(zone)
    start = datetime(year, 1, 1, tzinfo=tz)
    # the repeated hour: the wall hour whose fold=0 offset is larger than its fold=1 offset, found day by day
    night = next(start + timedelta(days=d, hours=h) for d in range(366) for h in range(24)
                 if (start + timedelta(days=d, hours=h)).replace(fold=0).utcoffset()
                 > (start + timedelta(days=d, hours=h)).replace(fold=1).utcoffset())
    wall_us = int(night.replace(tzinfo=UTC).timestamp() * 1e6) + offset_us
    assert zone in repeated_in(wall_us // HOUR_US)
    assert repeated_in(wall_us // HOUR_US) == tuple(z for z in COMMON_ZONES if in_repeated_hour(wall_us, False, z))
