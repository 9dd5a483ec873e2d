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
from datetime import UTC, datetime

from real.firing import fire_at_go


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

    def add(scheduler, go: float) -> int:
        at = datetime.fromtimestamp(go + a.delay, UTC)
        for n, argv in enumerate(commands):
            scheduler.add_job(launch, "date", run_date=at, args=[argv], id=f"{a.name}-{n}",
                              name=argv[argv.index("--job") + 1] if "--job" in argv else argv[1],
                              misfire_grace_time=120)
        return len(commands)

    fire_at_go(a.name, a.barrier, add)

if __name__ == "__main__":
    main()
