"""A real check-then-act race on PostgreSQL: worker threads from two "hosts" claim jobs without a lock.

Each thread has its own connection; its application_name plays the host and pg_backend_pid() the
process, captured by column defaults the way an application's own columns would.
"""

from __future__ import annotations

import random
import threading
import time

import psycopg
import sqlalchemy as sa

SCHEMA = """
CREATE TABLE jobs (id integer PRIMARY KEY, claimed boolean NOT NULL DEFAULT false);
CREATE TABLE race_charges (
    id bigserial PRIMARY KEY,
    job_id integer NOT NULL,
    amount_cents integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    host text NOT NULL DEFAULT current_setting('application_name'),
    pid integer NOT NULL DEFAULT pg_backend_pid()
);
"""


def dsn(url: str, host: str) -> str:
    parsed = sa.make_url(url)
    return (f"host={parsed.host} port={parsed.port} dbname={parsed.database} user={parsed.username} "
            f"application_name={host}")


def create(url: str, jobs: int) -> None:
    with psycopg.connect(dsn(url, "setup"), autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("INSERT INTO jobs (id) SELECT g FROM generate_series(1, %s) g", (jobs,))


def _worker(url: str, host: str, seed: int, stop_at: int, errors: list) -> None:
    rng = random.Random(seed)
    try:
        with psycopg.connect(dsn(url, host), autocommit=True) as conn:
            while True:
                row = conn.execute("SELECT id FROM jobs WHERE NOT claimed ORDER BY random() LIMIT 1").fetchone()
                left = conn.execute("SELECT count(*) FROM jobs WHERE NOT claimed").fetchone()[0]
                if row is None or left <= stop_at:
                    return
                time.sleep(rng.uniform(0.0005, 0.004))  # the gap between the check and the act
                conn.execute("INSERT INTO race_charges (job_id, amount_cents) VALUES (%s, 100)", (row[0],))
                conn.execute("UPDATE jobs SET claimed = true WHERE id = %s", (row[0],))
    except Exception as err:  # surfaced by the caller
        errors.append(err)


def race(url: str, hosts: dict[str, int], stop_at: int = 20, seed: int = 1) -> list[Exception]:
    """Run the unguarded claim loop: ``hosts`` maps a host name to its number of worker threads."""
    errors: list[Exception] = []
    threads = [threading.Thread(target=_worker, args=(url, host, seed * 100 + n * 10 + i, stop_at, errors))
               for n, (host, count) in enumerate(hosts.items()) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def duplicate_groups(url: str) -> dict[int, list[int]]:
    """What the table really holds: job_id → ids of its rows, for every job written more than once."""
    with psycopg.connect(dsn(url, "check")) as conn:
        rows = conn.execute("SELECT job_id, array_agg(id ORDER BY id) FROM race_charges GROUP BY job_id "
                            "HAVING count(*) > 1").fetchall()
    return {job: ids for job, ids in rows}


def host_sets(url: str) -> dict[int, set[str]]:
    with psycopg.connect(dsn(url, "check")) as conn:
        rows = conn.execute("SELECT job_id, array_agg(DISTINCT host) FROM race_charges GROUP BY job_id "
                            "HAVING count(*) > 1").fetchall()
    return {job: set(hosts) for job, hosts in rows}
