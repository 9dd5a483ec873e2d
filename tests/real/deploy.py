"""A rolling deploy: the old and the new release of a service each run its APScheduler.

The job fires every slot (compressed here to one second) and exports that slot's batch. The old pod runs
until its slot ``--last`` and the new pod starts at slot ``--first``: in the slots where both were up, both
releases ran the job. Firing times are explicit (a base time from the harness's barrier plus the slot).
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC, date, datetime, timedelta

from real.batch import run_export
from real.firing import fire_at_go

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

    def add(scheduler, base: float) -> int:
        for slot in slots:
            scheduler.add_job(export_slot, "date", run_date=datetime.fromtimestamp(base + slot * SLOT_SECONDS, UTC),
                              args=[a.url, a.table, slot, a.count, a.pod, a.version, a.runs], id=f"slot-{slot}",
                              name="slot_export", misfire_grace_time=120)
        return len(slots)

    fire_at_go(a.pod, a.barrier, add)
    print(f"{a.pod} pid {os.getpid()} ran slots {a.first}..{a.last}")


if __name__ == "__main__":
    main()
