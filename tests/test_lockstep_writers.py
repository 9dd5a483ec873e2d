"""Two hosts running the same job at once walk its keys in lockstep: host A writes key 1, host B key 1, A key
2, B key 2 ... Their host column then changes at every row, more often than any shuffle of two values, and
was taken for business data "taken in turn": the guessed host column was not trusted, every cluster of the
double run was divergent and cleanup.sql deleted nothing (stranger7: two cron launchers of an invoicing job,
246 clusters, 0 to delete). A host column found by its name that changes in turn is now trusted when each copy
carries its own value in nearly every cluster (`roles._lockstep`)."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import sqlalchemy as sa
from helpers import T0
from sqlrun import rows_of, scan_doc

from dupfinder.remediate import cleanup_sql

KEYS = 60


def invoicing_job(dsn: str, host: str, mine: list[threading.Event], before: list[threading.Event] | None,
                  clock: list[float]) -> None:
    """The job: one invoice per account, each its own transaction; ``before[k]`` is the other host's insert of
    key k (host B follows A's key k; A goes on after B's k - 1), so the two runs interleave exactly."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for k in range(KEYS):
            if before is not None:
                before[k].wait(10)
            clock[0] += 0.003
            conn.execute("INSERT INTO invoices (account_id, amount, created_at, hostname) VALUES (%s, %s, %s, %s)",
                         (k, 100 + k, T0 + timedelta(seconds=clock[0]), host))
            mine[k].set()


def test_two_hosts_in_lockstep_keep_their_guessed_host_column_trusted(pg_url, runner_pg):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE invoices (id serial PRIMARY KEY, account_id int, amount int, "
                             "created_at timestamp, hostname text)")
    engine.dispose()
    dsn = sa.make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    a_done = [threading.Event() for _ in range(KEYS)]
    b_done = [threading.Event() for _ in range(KEYS)]
    a_waits = [threading.Event()] + b_done[:-1]
    a_waits[0].set()
    clock = [0.0]
    runs = [threading.Thread(target=invoicing_job, args=(dsn, "batch-01", a_done, a_waits, clock)),
            threading.Thread(target=invoicing_job, args=(dsn, "batch-02", b_done, a_done, clock))]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert [r[4] for r in rows_of(pg_url, "invoices")][:4] == ["batch-01", "batch-02", "batch-01", "batch-02"]
    doc = scan_doc(pg_url, table="invoices", keys=["account_id"], ts="created_at")
    table = doc["tables"][0]
    host = [w for w in table["writer_columns"] if w["column"] == "hostname"]
    assert host and host[0]["trusted"], host
    assert (len(table["clusters"]), table["divergent_clusters"], table["rows_to_delete"]) == (KEYS, 0, KEYS)
    runner_pg(cleanup_sql(doc))
    assert sorted(r[4] for r in rows_of(pg_url, "invoices")) == ["batch-01"] * KEYS
