"""What every APScheduler process of the scenarios does: date jobs added at the harness's go time, run, waited
for, and a failure turned into a non-zero exit the harness sees."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import UTC

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler

from real.scenario import await_go, signal_ready


def fire_at_go(name: str, barrier: str, add_jobs: Callable[[BackgroundScheduler, float], int]) -> None:
    """Say ``name`` is ready, wait for the go time, let ``add_jobs(scheduler, go)`` add the jobs (it returns how
    many runs to wait for), run them in a ``BackgroundScheduler`` and exit non-zero if one failed or never ran."""
    done = threading.Semaphore(0)
    failed: list[str] = []

    def listener(event) -> None:
        if event.code == EVENT_JOB_ERROR:
            failed.append(repr(event.exception))
        done.release()

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    signal_ready(barrier, name)
    runs = add_jobs(scheduler, await_go(barrier))
    scheduler.start()
    for _ in range(runs):
        if not done.acquire(timeout=120):
            sys.exit(f"{name}: a job never ran")
    scheduler.shutdown()
    if failed:
        sys.exit(f"{name}: {failed}")
