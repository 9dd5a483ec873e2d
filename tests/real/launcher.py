"""A cron-like launcher: an APScheduler process that starts commands as subprocesses at a firing time.

Two of these on one host, both carrying the same entry, are the duplicate crontab line / the scheduler
registered twice. Both fire at the time the harness gives them once both are ready (no wall-clock luck), logs the way
APScheduler logs, and exits once its commands have run.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import threading
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler

from real.scenario import await_go, signal_ready


def launch(argv: list[str]) -> None:
    subprocess.run([sys.executable, *argv], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--barrier", required=True, help="folder of the ready/go barrier")
    parser.add_argument("--commands", required=True, help="JSON list of argv lists (after the interpreter)")
    parser.add_argument("--log", required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="fire this many seconds after the go time")
    a = parser.parse_args()
    logging.basicConfig(filename=a.log, level=logging.INFO,
                        format=f"%(asctime)s {a.name} %(process)d %(name)s %(levelname)s %(message)s")
    commands = json.loads(a.commands)
    done = threading.Semaphore(0)
    failed: list[str] = []

    def listener(event) -> None:
        if event.code == EVENT_JOB_ERROR:
            failed.append(str(event.exception))
        done.release()

    scheduler = BackgroundScheduler(timezone=UTC)
    signal_ready(a.barrier, a.name)
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    at = datetime.fromtimestamp(await_go(a.barrier) + a.delay, UTC)
    for n, argv in enumerate(commands):
        scheduler.add_job(launch, "date", run_date=at, args=[argv], id=f"{a.name}-{n}",
                          name=argv[argv.index("--job") + 1] if "--job" in argv else argv[1],
                          misfire_grace_time=120)
    scheduler.start()
    for _ in commands:
        if not done.acquire(timeout=120):
            sys.exit(f"{a.name}: a command did not finish")
    scheduler.shutdown()
    if failed:
        sys.exit(f"{a.name}: {failed}")


if __name__ == "__main__":
    main()
