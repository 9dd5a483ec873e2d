"""A fall-back night: an APScheduler cron trigger at 01:30 America/New_York, the process clock simulated.

time-machine puts the scheduler process at 01:29:58 EDT on 2026-11-01; APScheduler fires the nightly job
at 01:30 EDT, then the clock is moved to 01:29:58 EST (an hour later) and the scheduler woken: its own
local-time trigger fires the job again at 01:30 EST. Each firing writes one row per account for the local
business date into three PostgreSQL tables (timestamptz, naive UTC, naive local wall time) and two SQLite
tables (naive UTC, naive local), with the application's (simulated) clock as the timestamp.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg
import time_machine
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from real.batch import libpq, record_run

ZONE = ZoneInfo("America/New_York")
FIRST = datetime(2026, 11, 1, 5, 29, 58, tzinfo=UTC)    # 01:29:58 EDT
SECOND = datetime(2026, 11, 1, 6, 29, 58, tzinfo=UTC)   # 01:29:58 EST, the same wall time an hour later
PG_TABLES = {"events_tz": "timestamptz", "events_utc": "timestamp", "events_local": "timestamp"}
SQLITE_TABLES = ("events_utc", "events_local")
HOST = "sched-01"


def create(pg_url: str, sqlite_path: str) -> None:
    with psycopg.connect(libpq(pg_url), autocommit=True) as conn:
        for table, kind in PG_TABLES.items():
            conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, account integer NOT NULL, "
                         f"business_date date NOT NULL, amount_cents integer NOT NULL, ts {kind} NOT NULL, "
                         "host text, pid integer)")
    with sqlite3.connect(sqlite_path) as conn:
        for table in SQLITE_TABLES:
            conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, account INTEGER NOT NULL, "
                         "business_date DATE NOT NULL, amount_cents INTEGER NOT NULL, ts DATETIME NOT NULL, "
                         "host TEXT, pid INTEGER)")


def nightly(pg_url: str, sqlite_path: str, accounts: int, runs: str) -> None:
    """The nightly job: one row per account for today's (local) business date, stamped by the app clock."""
    start = datetime.now(UTC)
    business_date = start.astimezone(ZONE).date()
    pid = os.getpid()
    with psycopg.connect(libpq(pg_url)) as pg, sqlite3.connect(sqlite_path) as lite:
        for account in range(1, accounts + 1):
            now = datetime.now(UTC)
            stamps = {"events_tz": now, "events_utc": now.replace(tzinfo=None),
                      "events_local": now.astimezone(ZONE).replace(tzinfo=None)}
            for table in PG_TABLES:
                pg.execute(f"INSERT INTO {table} (account, business_date, amount_cents, ts, host, pid) "
                           "VALUES (%s, %s, 500, %s, %s, %s)", (account, business_date, stamps[table], HOST, pid))
            for table in SQLITE_TABLES:
                lite.execute(f"INSERT INTO {table} (account, business_date, amount_cents, ts, host, pid) "
                             "VALUES (?, ?, 500, ?, ?, ?)",
                             (account, business_date.isoformat(), stamps[table].isoformat(sep=" "), HOST, pid))
            time.sleep(0.001)
        pg.commit()
        lite.commit()
    record_run(runs, job="nightly", start=start.isoformat(), end=datetime.now(UTC).isoformat(), host=HOST,
               process=pid, run=start.astimezone(ZONE).isoformat())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", required=True)
    parser.add_argument("--sqlite", required=True)
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--log", required=True)
    a = parser.parse_args()
    create(a.pg_url, a.sqlite)
    with time_machine.travel(FIRST, tick=True) as clock:
        logging.basicConfig(filename=a.log, level=logging.INFO,
                            format=f"%(asctime)s {HOST} %(process)d %(name)s %(levelname)s %(message)s")
        fired: list[str] = []
        failed: list[str] = []
        finished = threading.Event()
        scheduler = BackgroundScheduler(timezone=ZONE)

        def listener(event) -> None:
            if event.code == EVENT_JOB_ERROR:
                failed.append(repr(event.exception))
            fired.append(str(event.scheduled_run_time))
            if len(fired) == 1:
                clock.move_to(SECOND)  # the night goes on: 01:29:58 again, now in EST
                scheduler.wakeup()
            else:
                finished.set()

        scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        scheduler.add_job(nightly, CronTrigger(hour=1, minute=30, timezone=ZONE), id="nightly", name="nightly",
                          args=[a.pg_url, a.sqlite, a.accounts, a.runs], misfire_grace_time=60)
        scheduler.start()
        ok = finished.wait(60)
        scheduler.shutdown(wait=False)
    if not ok or failed:
        sys.exit(f"the cron trigger fired {fired}; errors {failed}")
    print("fired at", fired)


if __name__ == "__main__":
    main()
