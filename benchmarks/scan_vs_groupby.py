"""Benchmark: a dupfinder scan against the bare uniqueness check peer tools run, on PostgreSQL.

Starts a throwaway PostgreSQL server (as tests do), builds a table of N rows over the last five days with
~0.05% of keys written again 200–900 ms later by a second host, then measures in one run, median of --runs:
  (a) `dupfinder scan` as a process: wall time including start-up, and its peak RSS;
  (b) SELECT keys, count(*) ... GROUP BY keys HAVING count(*) > 1 (dbt-utils / Soda / Great Expectations);
  (c) SELECT count(*): one sequential scan, the floor;
  (d) pandas.read_sql of the table + DataFrame.duplicated(): what a user would otherwise write;
  (e) `dupfinder scan --since 30m` with an index on the timestamp.
Prints the ratios and checks every injected cluster was found; then runs one scan in-process timing each
statement it sends, and writes EXPLAIN (ANALYZE, BUFFERS) of the detection statement and of the bare GROUP BY
to benchmarks/plans/<rows>.txt.

    python benchmarks/scan_vs_groupby.py [--rows 1000000 5000000] [--runs 3] [--skip-pandas]

Needs /usr/bin/time (Debian package `time`) for the peak RSS of the scan process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pg_server import PostgresServer  # noqa: E402


def build(url: str, rows: int) -> int:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS recon")
        conn.exec_driver_sql(
            "CREATE TABLE recon (id bigserial PRIMARY KEY, account_id integer, window_id date, amount integer, "
            "created_at timestamptz, host text)")
        conn.exec_driver_sql(
            "INSERT INTO recon (account_id, window_id, amount, created_at, host) "
            "SELECT g, date '2026-11-01' + mod(g, 5), mod(g, 1000), "
            f"now() - interval '5 days' + g * (interval '5 days' / {rows}), 'batch-01' "
            f"FROM generate_series(1, {rows}) g")
        injected = conn.exec_driver_sql(
            "INSERT INTO recon (account_id, window_id, amount, created_at, host) "
            "SELECT account_id, window_id, amount, created_at + (200 + random() * 700) * interval '1 ms', "
            "'batch-02' FROM recon WHERE mod(id, 2000) = 7").rowcount
        conn.exec_driver_sql("CREATE INDEX recon_created_at ON recon (created_at)")
        conn.exec_driver_sql("ANALYZE recon")
    engine.dispose()
    return injected


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def sql_runner(url: str, sql: str):
    def run() -> None:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql(sql).fetchall()
        engine.dispose()
    return run


def dupfinder_process(url: str, *extra: str) -> tuple[float, int, dict]:
    """Run one scan as its own process under /usr/bin/time, which reports that process's peak RSS.

    (The rusage of a forked child starts from the parent's peak on Linux, so measuring from here would
    count this script's pandas run.)
    """
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m", "dupfinder", "scan", url,
                           "--table", "recon", "--key", "account_id", "--key", "window_id", "--ts", "created_at",
                           "--writer", "host=host", "--format", "json", *extra], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert done.returncode in (0, 1), done.stderr
    rss_kb = int(done.stderr.strip().splitlines()[-1].split("=")[1])
    return elapsed, rss_kb, json.loads(done.stdout)


def statement_times(url: str) -> list[tuple[float, str]]:
    """One in-process scan with every statement timed (SQLAlchemy cursor events): where the time goes."""
    from dupfinder import api
    from dupfinder.config import ScanOptions, table_spec

    timings: list[tuple[float, str]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        first = next((line.strip() for line in statement.splitlines() if line.strip() and
                      not line.strip().startswith(("--", "{#"))), "")
        timings.append((time.perf_counter() - conn.info.pop("started"), first[:70]))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", after)
    try:
        spec = table_spec(table="recon", keys=["account_id", "window_id"], ts="created_at", writers=["host=host"])
        started = time.perf_counter()
        api.scan(ScanOptions(url=url, tables=(spec,)))
        timings.append((time.perf_counter() - started, "whole scan, in process"))
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", before)
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", after)
    return timings


def write_plans(url: str, rows: int) -> Path:
    from dupfinder.config import table_spec
    from dupfinder.connect import introspect, read_only
    from dupfinder.detect import detect_sql

    spec = table_spec(table="recon", keys=["account_id", "window_id"], ts="created_at")
    out = Path(__file__).resolve().parent / "plans" / f"{rows}.txt"
    out.parent.mkdir(exist_ok=True)
    with read_only(url) as conn:
        info = introspect(conn, "recon", {})
        detection = detect_sql(conn, info, spec)["detect_clusters"]
        sections = []
        for title, sql, params in (
                ("detection statement", detection, {"window_us": 2_000_000, "offset_us": 0}),
                ("bare GROUP BY", "SELECT account_id, window_id, count(*) FROM recon GROUP BY account_id, window_id "
                                  "HAVING count(*) > 1", {})):
            plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"), params).scalars().all()
            sections.append(f"== {title} ==\n" + "\n".join(plan))
    out.write_text("\n\n".join(sections) + "\n")
    return out


def pandas_way(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT * FROM recon"), conn)
    engine.dispose()
    frame.duplicated(subset=["account_id", "window_id"], keep=False).sum()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    server = PostgresServer().start()
    try:
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE bench")
        admin.dispose()
        url = server.url("bench")
        for rows in args.rows:
            injected = build(url, rows)
            group_by = sql_runner(url, "SELECT account_id, window_id, count(*) FROM recon "
                                       "GROUP BY account_id, window_id HAVING count(*) > 1")
            count = sql_runner(url, "SELECT count(*) FROM recon")
            a, b, c, d, e, rss = [], [], [], [], [], 0
            found = 0
            for _ in range(args.runs):
                elapsed, peak, doc = dupfinder_process(url)
                a.append(elapsed)
                rss = max(rss, peak)
                found = len(doc["tables"][0]["clusters"])
                b.append(timed(group_by))
                c.append(timed(count))
                e.append(dupfinder_process(url, "--since", "30m")[0])
            if not args.skip_pandas:
                d.append(timed(lambda: pandas_way(url)))
            m = {k: statistics.median(v) for k, v in {"a": a, "b": b, "c": c, "e": e}.items()}
            print(f"\n== {rows:,} rows, {injected} injected near-duplicate pairs, median of {args.runs} ==")
            print(f"(a) dupfinder scan (process, incl. start-up): {m['a']:.2f} s, peak RSS {rss / 1024:.0f} MB; "
                  f"clusters found {found} of {injected}")
            print(f"(b) bare GROUP BY ... HAVING count(*) > 1:   {m['b']:.2f} s   (a)/(b) = {m['a'] / m['b']:.2f}")
            print(f"(c) SELECT count(*):                         {m['c']:.2f} s   (a)/(c) = {m['a'] / m['c']:.2f}")
            if d:
                print(f"(d) pandas read_sql + duplicated():          {d[0]:.2f} s   (d)/(a) = {d[0] / m['a']:.2f}")
            print(f"(e) dupfinder scan --since 30m:              {m['e']:.2f} s   (e)/(a) = {m['e'] / m['a']:.2f}")
            print("where the time of one scan goes (in process, each statement):")
            for seconds, what in statement_times(url):
                if seconds >= 0.01:
                    print(f"    {seconds:7.2f} s  {what}")
            print(f"plans (EXPLAIN ANALYZE, BUFFERS): {write_plans(url, rows)}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
