"""Two APScheduler 3.x processes (two "hosts") sharing one SQLAlchemyJobStore on PostgreSQL.

APScheduler 3 does not support sharing a job store: each scheduler reads the due jobs, runs them and
only then writes the next run time back. The processes here are a real ``BackgroundScheduler`` (sched-a)
and a real ``BlockingScheduler`` (sched-b), each in its own OS process; the harness widens the window
between "read the due job" and "write the next run time" with a table lock (reads pass, the write waits),
so both always run the job instead of most of the time, and releases it once both runs are recorded.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from datetime import date

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from real.batch import run_export
from real.scenario import await_go, signal_ready

JOBS_TABLE = "apscheduler_jobs"


def nightly_export(url: str, table: str, count: int, runs: str, run_id: str | None = None) -> None:
    """The job stored in the job store (by reference): export the day's batch from whichever host runs it.
    ``run_id``: the logical run both hosts record (Airflow's ``scheduled__<logical date>``) instead of one id
    per execution."""
    run_export(url, table, range(1, count + 1), date(2026, 11, 20), host=os.environ["SCENARIO_HOSTNAME"],
               job="nightly_export", runs=runs, run_id=run_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--barrier", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--blocking", action="store_true", help="a BlockingScheduler in the main thread")
    a = parser.parse_args()
    host = os.environ["SCENARIO_HOSTNAME"]
    logging.basicConfig(filename=a.log, level=logging.INFO,
                        format=f"%(asctime)s {host} %(process)d %(name)s %(levelname)s %(message)s")
    done = threading.Event()
    failed: list[str] = []

    def listener(event) -> None:
        if event.code == EVENT_JOB_ERROR:
            failed.append(repr(event.exception))
        done.set()

    kind = BlockingScheduler if a.blocking else BackgroundScheduler
    scheduler = kind(jobstores={"default": SQLAlchemyJobStore(url=a.url, tablename=JOBS_TABLE)}, timezone="UTC")
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    signal_ready(a.barrier, host)
    await_go(a.barrier)
    if a.blocking:
        # the main thread runs the scheduler loop; a helper thread stops it once the job has run
        stopper = threading.Thread(target=lambda: done.wait(120) and scheduler.shutdown(wait=False), daemon=True)
        stopper.start()
        scheduler.start()
    else:
        scheduler.start()
        if not done.wait(120):
            sys.exit(f"{host}: the job never ran")
        scheduler.shutdown()  # waits for the scheduler thread, held until the harness releases the lock
    if not done.is_set():
        sys.exit(f"{host}: the job never ran")
    if failed:
        sys.exit(f"{host}: {failed}")


if __name__ == "__main__":
    main()
