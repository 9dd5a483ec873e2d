"""A payment-posting job that gives up on a slow payment and posts it again: one process, one run.

The job posts payments one after another, each through a fresh connection on a worker thread, and waits at
most ``--timeout`` seconds for it. Every ``--every``-th payment meets a server slowed by a lock another
session holds for ``--hold`` seconds; the job gives up, rests ``--pause`` seconds and posts the payment
again, and the first attempt, still waiting on the lock, commits too once the lock goes. Each such payment
is written twice by the same host and process, a constant delay apart (hold - timeout - pause, about 1 s
by default: at 0.2 s a loaded machine's scheduling, 10-20 ms either way, spread the delays past the 5% a
fixed delay is read within, and a third of the runs read a race): a retry, not a race.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import threading
import time

import psycopg

from real.batch import libpq, now_iso, record_run

SCHEMA = """
CREATE TABLE payments (
    id bigserial PRIMARY KEY,
    payment_ref integer NOT NULL,
    amount_cents integer NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    host text NOT NULL,
    pid integer NOT NULL
)
"""
LOCK = 4242  # the advisory lock the slow payments wait on


def post(dsn: str, host: str, payment: int, slow: bool) -> None:
    """One attempt: a fresh connection, waiting on the lock when the server is slow, then the insert."""
    with psycopg.connect(dsn) as conn:
        if slow:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        conn.execute("INSERT INTO payments (payment_ref, amount_cents, host, pid) VALUES (%s, %s, %s, %s)",
                     (payment, 100 + payment % 9, host, os.getpid()))


def slow_server(dsn: str, hold: float) -> threading.Event:
    """Hold the lock for ``hold`` seconds from now (another session, as a long report would); the event is
    set once the lock is held."""
    held = threading.Event()

    def holder() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
            held.set()
            time.sleep(hold)
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))

    threading.Thread(target=holder, daemon=True).start()
    held.wait(30)
    return held


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--payments", type=int, default=90)
    parser.add_argument("--every", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=0.2)
    parser.add_argument("--pause", type=float, default=0.3)
    parser.add_argument("--hold", type=float, default=1.5)
    parser.add_argument("--runs", required=True)
    a = parser.parse_args()
    dsn, host = libpq(a.url), os.environ.get("SCENARIO_HOSTNAME", "payments-01")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    start, retried = now_iso(), 0
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for payment in range(1, a.payments + 1):
            slow = payment % a.every == a.every // 2
            if slow:
                slow_server(dsn, a.hold)
            attempt = pool.submit(post, dsn, host, payment, slow)
            try:
                attempt.result(timeout=a.timeout)
            except concurrent.futures.TimeoutError:
                time.sleep(a.pause)
                pool.submit(post, dsn, host, payment, False).result()
                retried += 1
    record_run(a.runs, job="post_payments", start=start, end=now_iso(), host=host, process=os.getpid(),
               run="post-payments-1")
    print(json.dumps({"payments": a.payments, "retried": retried}))


if __name__ == "__main__":
    main()
