"""The clock change on every engine the suite runs: one fall-back night (America/New_York, 2026-11-01, 02:00
EDT back to 01:00 EST) written into a naive column holding UTC, a naive column holding local wall time, and
an aware column where the engine has one, then scanned with ``--timezone America/New_York``.

A job scheduled at 01:30 local time fires at 05:30 UTC and again at 06:30 UTC. Read as instants (aware or
naive UTC) the copies are an hour apart: without the time zone they are far duplicates, with it they are
``dst_fallback`` clusters and stop counting as far duplicates. Read as local wall time they are moments
apart inside the repeated hour. Every test executes real statements on the engine named in its id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from helpers import make_table, scan_one, spark_table

ZONE = "America/New_York"
FIRST_UTC = datetime(2026, 11, 1, 5, 30, 0, 100000)  # 01:30 EDT
WALL = datetime(2026, 11, 1, 1, 30, 0, 100000)       # 01:30 on the local clock, twice that night
ACCOUNTS = 5


def _ts_type(engine: str, kind: str) -> sa.types.TypeEngine:
    aware = kind == "aware"
    if engine == "mariadb":
        from sqlalchemy.dialects import mysql

        # TIMESTAMP stores an instant (converted from and to the session's time zone); DATETIME a wall value
        return mysql.TIMESTAMP(fsp=6) if aware else mysql.DATETIME(fsp=6)
    if engine == "chdb":
        from chdb_sqlalchemy.types import DateTime64

        return DateTime64(6, timezone="UTC") if aware else DateTime64(6)
    return sa.DateTime(timezone=aware)


def _rows(kind: str) -> tuple[list[dict], int]:
    """The night's rows and the far duplicates a scan without a time zone must count."""
    rows = []
    for n in range(1, ACCOUNTS + 1):
        if kind == "naive_local":
            first, second = WALL + timedelta(milliseconds=40 * n), WALL + timedelta(milliseconds=40 * n + 150)
        else:
            first = FIRST_UTC + timedelta(milliseconds=40 * n)
            second = first + timedelta(seconds=3600.2)
        if kind == "aware":
            first, second = first.replace(tzinfo=UTC), second.replace(tzinfo=UTC)
        rows += [{"id": n, "account": n, "ts": first, "host": "cron-1"},
                 {"id": 100 + n, "account": n, "ts": second, "host": "cron-1"}]
    # a key written again two days later: a genuine far duplicate the clock change does not explain
    later = FIRST_UTC + timedelta(days=2)
    rows += [{"id": 200, "account": 99, "ts": FIRST_UTC - timedelta(days=1)}, {"id": 201, "account": 99, "ts": later}]
    for row in rows[-2:]:
        row["host"] = "cron-1"
        if kind == "aware":
            row["ts"] = row["ts"].replace(tzinfo=UTC)
    return rows, (ACCOUNTS if kind != "naive_local" else 0) + 1


CASES = [(engine, kind) for engine in ("sqlite", "postgresql", "duckdb", "mariadb", "chdb", "spark")
         for kind in ("naive_utc", "naive_local", "aware") if not (engine == "sqlite" and kind == "aware")]
# SQLite has no time-zone-aware column type: DateTime(timezone=True) stores the same naive text.


@pytest.mark.parametrize(("engine", "kind"), CASES, ids=[f"{e}-{k}" for e, k in CASES])
def test_fall_back_night_on_every_engine(request, engine, kind):
    url = request.getfixturevalue("pg_url" if engine == "postgresql" else f"{engine}_url")
    rows, far_plain = _rows(kind)
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("ts", _ts_type(engine, kind)), sa.Column("host", sa.String(10))]
    if engine == "spark":
        # TIMESTAMP is an instant in the session's zone (UTC here), TIMESTAMP_NTZ a wall value; no primary key
        spark_table(url, "events", {"id": "INT", "account": "INT", "ts": "TIMESTAMP" if kind == "aware" else
                                    "TIMESTAMP_NTZ", "host": "STRING"}, rows)
    else:
        make_table(url, "events", columns, rows)
    spec = {"keys": ["account"], "writers": ["host=host"], **({"ids": ["id"]} if engine in ("chdb", "spark") else {})}

    plain = scan_one(url, **spec)
    zoned = scan_one(url, **spec, timezone=ZONE)

    assert [c.mechanism for c in zoned.clusters] == ["dst_fallback"] * ACCOUNTS, [
        (c.mechanism, c.explanation) for c in zoned.clusters]
    assert zoned.far_total == 1  # the clock change explains the night's pairs; the key two days apart stays
    reading = {c.evidence.get("clock_reading") for c in zoned.clusters}
    if kind == "naive_local":
        # moments apart: clusters in the plain scan too, but nothing names the clock change without the zone
        assert plain.far_total == far_plain and len(plain.clusters) == ACCOUNTS
        assert all(c.mechanism != "dst_fallback" for c in plain.clusters)
        assert "naive values holding local wall time" in zoned.clusters[0].explanation
        assert reading == {"local"}, reading
    else:
        assert plain.clusters == () and plain.far_total == far_plain
        assert reading == {"instant" if zoned.ts_timezone_aware else "utc"}, (reading, zoned.ts_timezone_aware)
    (incident,) = zoned.incidents
    assert "01:30 EDT and 01:30 EST" in incident.summary, incident.summary
