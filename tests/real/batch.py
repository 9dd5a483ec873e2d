"""The job the scenarios run: an export writing one row per item of a batch, and its run record.

Run as a script (``python -m real.batch ...``) it is the command a launcher starts; the scheduler scenarios
call ``run_export`` from their job functions. Every run appends one JSON line to a runs file
(start, end, host, process, run, job), the way a job wrapper records its runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import sqlalchemy as sa

from real.scenario import await_go

SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id bigserial PRIMARY KEY,
    item_id integer NOT NULL,
    export_date date NOT NULL,
    amount_cents integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    host text,
    pid integer,
    run_id text,
    version text
)
"""


def libpq(url: str) -> str:
    u = sa.make_url(url)
    return f"host={u.host} port={u.port} dbname={u.database} user={u.username}"


SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL,
    export_date DATE NOT NULL,
    amount_cents INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    host TEXT,
    pid INTEGER,
    run_id TEXT,
    version TEXT
)
"""


def create_table(url: str, table: str, sqlite: str | Path | None = None) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(SCHEMA.format(table=table))
    if sqlite:
        with sqlite3.connect(sqlite) as lite:
            lite.execute("PRAGMA journal_mode=WAL")
            lite.execute(SQLITE_SCHEMA.format(table=table))


CSV_FIELDS = ("job", "start", "end", "host", "process", "run", "version")


def record_run(path: str | Path | None, **fields) -> None:
    """Append one run to a JSON-lines file, or to a CSV file whose header the scenario wrote (one short
    write: concurrent runs never interleave a line)."""
    if not path:
        return
    if str(path).endswith(".csv"):
        line = ",".join("" if fields.get(f) is None else str(fields[f]) for f in CSV_FIELDS) + "\n"
    else:
        line = json.dumps(fields) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def run_export(url: str, table: str, items: range, export_date: date, *, host: str, job: str = "export",
               version: str | None = None, pace: float = 0.001, one_transaction: bool = False,
               runs: str | Path | None = None, run_id: str | None = None, sqlite: str | None = None,
               at: float | None = None) -> str:
    """Write one row per item (each in its own transaction, or all in one) and record the run. With
    ``sqlite``, each row also goes to the same table in that SQLite file (the app's clock, naive UTC). With
    ``at`` (epoch seconds), the n-th row is written at ``at + n * pace`` by the clock instead of ``pace`` after
    the previous one: runs given the same ``at`` write in lockstep, each key at the same moment."""
    run_id = run_id or uuid.uuid4().hex[:12]
    start = now_iso()
    lite = sqlite3.connect(sqlite, timeout=60, isolation_level=None) if sqlite else None
    with psycopg.connect(libpq(url), autocommit=not one_transaction) as conn:
        for n, item in enumerate(items):
            if at is not None:
                time.sleep(max(0.0, at + n * pace - time.time()))
            values = (item, export_date, 100 + item % 7, host, os.getpid(), run_id, version)
            conn.execute(f"INSERT INTO {table} (item_id, export_date, amount_cents, host, pid, run_id, version) "
                         "VALUES (%s, %s, %s, %s, %s, %s, %s)", values)
            if lite is not None:
                lite.execute(f"INSERT INTO {table} (item_id, export_date, amount_cents, host, pid, run_id, version, "
                             "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (*values[:1], export_date.isoformat(), *values[2:],
                              datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")))
            if pace and at is None:
                time.sleep(pace)
        if one_transaction:
            conn.commit()
    if lite is not None:
        lite.close()
    record_run(runs, job=job, start=start, end=now_iso(), host=host, process=os.getpid(), run=run_id,
               version=version)
    return run_id


def main() -> None:
    parser = argparse.ArgumentParser(description="one run of the export job")
    parser.add_argument("--url", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--date", default="2026-11-20")
    parser.add_argument("--job", default="export")
    parser.add_argument("--host", default=os.environ.get("SCENARIO_HOSTNAME", "batch-01"))
    parser.add_argument("--pace", type=float, default=0.001)
    parser.add_argument("--one-transaction", action="store_true")
    parser.add_argument("--runs")
    parser.add_argument("--sqlite", help="also write each row to this SQLite file")
    parser.add_argument("--lockstep", help="barrier folder: write the n-th row at its go time + 4 s + n * pace "
                        "(time enough for the interpreter of each run to start and import everything)")
    a = parser.parse_args()
    at = await_go(a.lockstep) + 4.0 if a.lockstep else None
    run_export(a.url, a.table, range(a.first, a.first + a.count), date.fromisoformat(a.date), host=a.host,
               job=a.job, pace=a.pace, one_transaction=a.one_transaction, runs=a.runs, sqlite=a.sqlite, at=at)


if __name__ == "__main__":
    main()
