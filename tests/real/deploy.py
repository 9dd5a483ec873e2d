"""A rolling deploy: the old and the new release of a service each run its APScheduler.

The job fires every slot (compressed here to one second) and exports that slot's batch. The old pod runs
until its slot ``--last`` and the new pod starts at slot ``--first``: in the slots where both were up, both
releases ran the job. Firing times are explicit (a base time from the harness's barrier plus the slot).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from datetime import UTC, date, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler

from real.batch import run_export
from real.scenario import await_go, signal_ready

SLOT_SECONDS = 1.0


def export_slot(url: str, table: str, slot: int, count: int, host: str, version: str, runs: str) -> None:
    run_export(url, table, range(1, count + 1), date(2026, 11, 1) + timedelta(days=slot), host=host,
               version=version, job="slot_export", runs=runs, one_transaction=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--pod", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--last", type=int, required=True)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--barrier", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--log", required=True)
    a = parser.parse_args()
    logging.basicConfig(filename=a.log, level=logging.INFO,
                        format=f"%(asctime)s {a.pod} {a.version} %(process)d %(name)s %(levelname)s %(message)s")
    slots = range(a.first, a.last + 1)
    done = threading.Semaphore(0)
    failed: list[str] = []

    def listener(event) -> None:
        if event.code == EVENT_JOB_ERROR:
            failed.append(repr(event.exception))
        done.release()

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    signal_ready(a.barrier, a.pod)
    base = await_go(a.barrier)
    for slot in slots:
        scheduler.add_job(export_slot, "date", run_date=datetime.fromtimestamp(base + slot * SLOT_SECONDS, UTC),
                          args=[a.url, a.table, slot, a.count, a.pod, a.version, a.runs], id=f"slot-{slot}",
                          name="slot_export", misfire_grace_time=120)
    scheduler.start()
    for _ in slots:
        if not done.acquire(timeout=120):
            sys.exit(f"{a.pod}: a slot never ran")
    scheduler.shutdown()
    if failed:
        sys.exit(f"{a.pod}: {failed}")
    print(f"{a.pod} pid {os.getpid()} ran slots {a.first}..{a.last}")


if __name__ == "__main__":
    main()
