"""A multiprocessing pool of 8 worker processes claiming jobs from a table.

The racy claim is check-then-act: read that the job is still open, charge it, then mark it claimed; two
workers that pick the same job between one's check and its update both charge it. The fixed claim is one
``UPDATE ... WHERE NOT claimed RETURNING id``: only the worker whose update returned the row charges.
Every worker starts at once (a barrier) and picks at random among the first open jobs, as a pool spreading
its load does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import time
from datetime import UTC, datetime

import psycopg

from real.batch import libpq, record_run

SCHEMA = """
CREATE TABLE jobs (id integer PRIMARY KEY, claimed boolean NOT NULL DEFAULT false);
CREATE INDEX jobs_open ON jobs (id) WHERE NOT claimed;
INSERT INTO jobs (id) SELECT g FROM generate_series(1, %(jobs)s) g;
CREATE TABLE charges (
    id bigserial PRIMARY KEY,
    job_id integer NOT NULL,
    amount_cents integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    host text NOT NULL,
    pid integer NOT NULL
);
"""

_barrier = None


def _init(barrier) -> None:
    global _barrier
    _barrier = barrier


def work(args: tuple[str, bool, int, int, str, float]) -> int:
    url, fixed, seed, page, runs, think = args
    rng = random.Random(seed)
    charged = 0
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        start = datetime.now(UTC).isoformat()
        _barrier.wait()
        while True:
            open_jobs = conn.execute("SELECT id FROM jobs WHERE NOT claimed ORDER BY id LIMIT %s", (page,)).fetchall()
            if not open_jobs:
                break
            job = rng.choice(open_jobs)[0]
            if fixed:
                if conn.execute("UPDATE jobs SET claimed = true WHERE id = %s AND NOT claimed RETURNING id",
                                (job,)).fetchone() is None:
                    continue
                conn.execute("INSERT INTO charges (job_id, amount_cents, host, pid) VALUES (%s, 100, %s, %s)",
                             (job, "worker-01", os.getpid()))
            else:
                if not conn.execute("SELECT NOT claimed FROM jobs WHERE id = %s", (job,)).fetchone()[0]:
                    continue
                conn.execute("INSERT INTO charges (job_id, amount_cents, host, pid) VALUES (%s, 100, %s, %s)",
                             (job, "worker-01", os.getpid()))
                conn.execute("UPDATE jobs SET claimed = true WHERE id = %s", (job,))
            charged += 1
            if think:
                time.sleep(think)
        record_run(runs, job="charge_jobs", start=start, end=datetime.now(UTC).isoformat(), host="worker-01",
                   process=os.getpid(), run=f"pool-{seed}")
    return charged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--page", type=int, default=200)
    parser.add_argument("--fixed", action="store_true")
    parser.add_argument("--runs")
    parser.add_argument("--think", type=float, default=0.0, help="seconds a worker rests between two jobs")
    a = parser.parse_args()
    with psycopg.connect(libpq(a.url), autocommit=True) as conn:
        conn.execute(SCHEMA.replace("%(jobs)s", str(a.jobs)))
    barrier = multiprocessing.Barrier(a.workers)
    t = time.monotonic()
    with multiprocessing.Pool(a.workers, initializer=_init, initargs=(barrier,)) as pool:
        charged = pool.map(work, [(a.url, a.fixed, n, a.page, a.runs, a.think) for n in range(a.workers)], chunksize=1)
    print(json.dumps({"charged": sum(charged), "seconds": round(time.monotonic() - t, 2)}))


if __name__ == "__main__":
    main()
