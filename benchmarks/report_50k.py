"""Benchmark: the report of a 50,000-cluster scan stays small and opens fast.

Builds a SQLite table with 50,000 near-duplicate pairs from two hosts, scans it, renders the report, and
measures (median of --runs): scan time, render time, report size, and the time headless Chromium needs to
load the report and print its DOM, against the same Chromium loading an empty page (the baseline).

    python benchmarks/report_50k.py [--clusters 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec
from dupfinder.findings import findings_dict
from dupfinder.remediate import cleanup_sql, migration_sql_for_findings, rollback_sql
from dupfinder.report import render_report

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def build(path: Path, clusters: int, days: int = 20) -> str:
    """A SQLite table of ``clusters`` two-host pairs spread over ``days`` days (one incident a day)."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE summary (id INTEGER PRIMARY KEY, account INTEGER, day TEXT, "
                             "created_at DATETIME, host TEXT, amount INTEGER)")
        start = datetime(2026, 11, 1, 2, 30)
        rows = []
        for n in range(clusters):
            at = start + timedelta(days=n % days, milliseconds=40 * (n // days))
            rows.append({"account": n, "day": "d", "ts": str(at), "host": "batch-01", "amount": n})
            rows.append({"account": n, "day": "d", "ts": str(at + timedelta(milliseconds=300 + n % 500)),
                         "host": "batch-02", "amount": n})
        conn.execute(sa.text("INSERT INTO summary (account, day, created_at, host, amount) "
                             "VALUES (:account, :day, :ts, :host, :amount)"), rows)
    engine.dispose()
    return url


def chromium_load(url: str) -> float:
    profile = tempfile.mkdtemp()
    try:
        started = time.perf_counter()
        subprocess.run([shutil.which("chromium"), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                       capture_output=True, check=True, timeout=300)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dupfinder-bench-"))
    url = build(work / "big.db", args.clusters)
    spec = table_spec(table="summary", keys=["account", "day"], ts="created_at", writers=["host=host"])
    scans, renders, loads, blanks = [], [], [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        result = api.scan(ScanOptions(url=url, tables=(spec,)))
        t1 = time.perf_counter()
        doc = findings_dict(result)
        sql = {"cleanup.sql": cleanup_sql(doc), "rollback.sql": rollback_sql(doc),
               "migration.sql": migration_sql_for_findings(doc)}
        html = render_report(doc, sql)
        t2 = time.perf_counter()
        scans.append(t1 - t0)
        renders.append(t2 - t1)
        report = work / "report.html"
        report.write_text(html)
        blank = work / "blank.html"
        blank.write_text("<!doctype html><title>blank</title>")
        loads.append(chromium_load(report.as_uri()))
        blanks.append(chromium_load(blank.as_uri()))
    size = (work / "report.html").stat().st_size
    print(f"clusters: {len(result.tables[0].clusters)}")
    print(f"scan (SQLite, {2 * args.clusters} rows): median {statistics.median(scans):.2f} s")
    print(f"findings + SQL + report render: median {statistics.median(renders):.2f} s")
    print(f"report size: {size / 1e6:.2f} MB")
    print(f"chromium load+dump of the report: median {statistics.median(loads):.2f} s; "
          f"of an empty page (baseline): {statistics.median(blanks):.2f} s; "
          f"ratio {statistics.median(loads) / statistics.median(blanks):.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
