"""One check-then-act job on two APScheduler hosts firing at the same moment (the job deployed on a second
scheduler that should have been a standby).

The job charges every pending invoice: it reads the pending ones, then charges each and marks it charged.
Each host runs it in its own APScheduler 3 process (``BackgroundScheduler``, a date trigger at the harness's
firing time); both read the same pending invoices before either marks one, so each charges (nearly) every
invoice the other charges: the claim is not atomic, but what made two claims at all is the second scheduler.
Each run is recorded in a job-run file (start, end, host, process, run).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime

import psycopg

from real.batch import libpq, now_iso, record_run
from real.firing import fire_at_go

SCHEMA = """
CREATE TABLE invoices (id integer PRIMARY KEY, charged boolean NOT NULL DEFAULT false);
INSERT INTO invoices (id) SELECT g FROM generate_series(1, %(invoices)s) g;
CREATE TABLE invoice_charges (
    id bigserial PRIMARY KEY,
    invoice_id integer NOT NULL,
    amount_cents integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    host text NOT NULL,
    worker_pid integer NOT NULL
);
"""


def charge_pending(conn: psycopg.Connection, runs: str, pace: float, oldest: bool,
                   ticks: tuple[float, float, int] | None = None) -> None:
    """The job: read the pending invoices, then charge each and mark it charged (check, then act). ``oldest``:
    take the oldest pending invoice, charge it, mark it, again until none is pending. ``conn``: the process's
    pooled connection, open before the firing (as an application's pool holds one): a connection made at the
    firing took long enough on a loaded machine for one host to start after the other had charged every
    invoice (0 collisions, one run in 35). ``ticks``: take the oldest pending invoice at each of this host's
    claim times (``claim_time``) instead of ``pace`` after the last."""
    host, start = os.environ["SCENARIO_HOSTNAME"], now_iso()
    pending = [r[0] for r in conn.execute("SELECT id FROM invoices WHERE NOT charged ORDER BY id")]
    claims = itertools.count()
    while pending:
        if ticks:
            time.sleep(max(0.0, claim_time(*ticks, next(claims)) - time.time()))
            pending = _oldest(conn)  # the check, at this host's claim time
            if not pending:
                break
        invoice = pending.pop(0)
        conn.execute("INSERT INTO invoice_charges (invoice_id, amount_cents, host, worker_pid) "
                     "VALUES (%s, %s, %s, %s)", (invoice, 500 + invoice % 11, host, os.getpid()))
        conn.execute("UPDATE invoices SET charged = true WHERE id = %s", (invoice,))
        if not ticks:
            threading.Event().wait(pace)
        if oldest or ticks:
            pending = _oldest(conn)
    record_run(runs, job="charge_pending", start=start, end=now_iso(), host=host, process=os.getpid(),
               run=uuid.uuid4().hex[:12])


def _oldest(conn: psycopg.Connection) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM invoices WHERE NOT charged ORDER BY id LIMIT 1")]


def claim_time(go: float, period: float, collide_every: int, n: int) -> float:
    """When a host's ``n``-th claim falls with the phases kept apart: sched-a claims at ``go + n * period``,
    sched-b half a period later, except every ``collide_every``-th period, when it claims with sched-a (the
    two schedulers' clocks drifting into step now and then). Each claim takes a few milliseconds, so the two
    hosts take turns and collide only where they claim together (and where a loaded machine stalls one)."""
    step = go + n * period
    if os.environ["SCENARIO_HOSTNAME"] == "sched-a" or n % collide_every == collide_every - 1:
        return step
    return step + period / 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--barrier", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--pace", type=float, default=0.005)
    parser.add_argument("--oldest", action="store_true", help="claim the oldest pending invoice, one at a time")
    parser.add_argument("--collide-every", type=int, help="claim by the clock, the hosts' phases kept apart "
                        "except every N-th period (claim_time)")
    parser.add_argument("--period", type=float, default=0.05)
    a = parser.parse_args()
    host = os.environ["SCENARIO_HOSTNAME"]
    logging.basicConfig(filename=a.log, level=logging.INFO,
                        format=f"%(asctime)s {host} %(process)d %(name)s %(levelname)s %(message)s")

    def ticks(go: float) -> tuple[float, float, int] | None:
        return (go, a.period, a.collide_every) if a.collide_every else None

    def add(scheduler, go: float) -> int:
        scheduler.add_job(charge_pending, "date", run_date=datetime.fromtimestamp(go, UTC),
                          args=[conn, a.runs, a.pace, a.oldest, ticks(go)], id="charge_pending",
                          misfire_grace_time=120)
        return 1

    with psycopg.connect(libpq(a.url), autocommit=True) as conn:
        fire_at_go(host, a.barrier, add)

if __name__ == "__main__":
    main()
