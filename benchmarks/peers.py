"""Benchmark: dupfinder against the checks people run instead, whole processes, on one server and one table.

Starts a throwaway PostgreSQL 15 (as the tests do) and builds, for each size N, a ledger of N rows over the
last five days with 0.05% of its keys written again 200-900 ms later by a second host and 50 keys written again
an hour later (far duplicates), an index on the timestamp, vacuumed and analyzed. Then, median of --runs, every
tool as its own process under /usr/bin/time (wall time and peak RSS):

  bare GROUP BY (psql) - the baseline every ratio divides by, measured in the same run;
  the dbt-utils unique_combination_of_columns test (its SQL written here from its documented semantics:
    the key columns grouped, groups of more than one row are failures, counted the way dbt wraps a test);
  a hand-written LAG query (rows whose previous row of the key is at most 2 s older);
  pandas read_sql of the table + DataFrame.duplicated();
  Soda Core (duplicate_count) and Great Expectations (ExpectCompoundColumnsToBeUnique), when --peers-venv
    holds them (they are installed apart from the project: python -m venv V; V/bin/pip install
    soda-core-postgres great-expectations psycopg2-binary sqlalchemy: Great Expectations needs SQLAlchemy for a
    database and does not install it);
  dupfinder scan --out, without and with an index on (key, ts), and dupfinder scan --since 30m;
and the same data in DuckDB and SQLite files: each engine's own GROUP BY against dupfinder scan --out.
It also measures a post-deploy check that finds nothing (a clean 1,000-row SQLite table), the peak RSS of a
scan --out of 50,000 clusters and of one key written 100,000 times, writes EXPLAIN plans to
benchmarks/plans/ and the table to docs/benchmarks.md (between the benchmark markers; --no-readme: print only).

    python benchmarks/peers.py [--rows 1000000 5000000] [--runs 3] [--peers-venv /tmp/peers-venv] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "benchmarks.md"  # publish() writes the figures between its markers
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from pg_server import PostgresServer  # noqa: E402

KEYS = ["account_id", "window_id"]
GROUP_BY = "SELECT account_id, window_id, count(*) FROM recon GROUP BY account_id, window_id HAVING count(*) > 1"
# dbt-utils unique_combination_of_columns: the test query selects the key combinations that occur more than
# once; dbt runs a test as count(*) of what its query returns (failures, should_warn, should_error)
DBT_UTILS = ("SELECT count(*) AS failures, count(*) <> 0 AS should_warn, count(*) <> 0 AS should_error FROM ("
             "WITH validation_errors AS (SELECT account_id, window_id FROM recon "
             "GROUP BY account_id, window_id HAVING count(*) > 1) SELECT * FROM validation_errors"
             ") AS dbt_internal_test")
LAG = ("SELECT * FROM (SELECT id, account_id, window_id, created_at, created_at - lag(created_at) OVER "
       "(PARTITION BY account_id, window_id ORDER BY created_at) AS gap FROM recon) AS s "
       "WHERE gap <= interval '2 seconds'")
SCAN = ["--table", "recon", "--key", "account_id", "--key", "window_id", "--ts", "created_at", "--writer", "host=host"]


def compile_once(work: Path) -> None:
    """Every process from here on reads dupfinder's modules compiled once, as an installed wheel has them
    (benchmarks/startup.py does the same): with PYTHONDONTWRITEBYTECODE=1, a checkout's processes compiled
    every dupfinder module from source at each start, which the peers, installed packages, never pay (a
    ``--since 30m`` scan of the 5M-row table: 1.01 s of CPU from source, 0.89 s from bytecode, medians of 5
    interleaved runs, load 6-7)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
    import compileall

    compileall.compile_dir(str(ROOT / "dupfinder"), quiet=1)


def build_postgres(url: str, rows: int) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS recon")
        conn.exec_driver_sql(
            "CREATE TABLE recon (id bigserial PRIMARY KEY, account_id integer, window_id date, amount integer, "
            "created_at timestamptz, host text)")
        conn.exec_driver_sql(
            "INSERT INTO recon (account_id, window_id, amount, created_at, host) "
            "SELECT g, date '2026-11-01' + mod(g, 5), mod(g, 1000), "
            f"now() - interval '5 days' + g * (interval '5 days' / {rows}), 'batch-01' "
            f"FROM generate_series(1, {rows}) g")
        conn.exec_driver_sql(  # near duplicates: a second host 200-900 ms later
            "INSERT INTO recon (account_id, window_id, amount, created_at, host) "
            "SELECT account_id, window_id, amount, created_at + (200 + mod(id * 7919, 700)) * interval '1 ms', "
            "'batch-02' FROM recon WHERE mod(id, 2000) = 7")
        conn.exec_driver_sql(  # far duplicates: 50 keys written again an hour later
            "INSERT INTO recon (account_id, window_id, amount, created_at, host) "
            "SELECT account_id, window_id, amount, created_at + interval '1 hour', 'batch-03' "
            f"FROM recon WHERE mod(id, 2000) = 1001 AND id <= {rows} ORDER BY id LIMIT 50")
        conn.exec_driver_sql("CREATE INDEX recon_created_at ON recon (created_at)")
        conn.exec_driver_sql("VACUUM ANALYZE recon")
    engine.dispose()


def export_rows(url: str):
    """The PostgreSQL table's rows, streamed, to build the same data in DuckDB and SQLite."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=100_000).exec_driver_sql(
            "SELECT id, account_id, window_id, amount, created_at, host FROM recon ORDER BY id")
        yield from result.partitions()
    engine.dispose()


def build_sqlite(url: str, path: Path) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE recon (id INTEGER PRIMARY KEY, account_id INTEGER, window_id TEXT, amount INTEGER, "
                "created_at DATETIME, host TEXT)")
    for part in export_rows(url):
        con.executemany("INSERT INTO recon VALUES (?, ?, ?, ?, ?, ?)",
                        [(i, a, str(w), m, c.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), h)
                         for i, a, w, m, c, h in part])
    con.execute("CREATE INDEX recon_created_at ON recon (created_at)")
    con.commit()
    con.close()


def build_duckdb(url: str, path: Path) -> None:
    import duckdb

    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE recon (id BIGINT PRIMARY KEY, account_id INTEGER, window_id DATE, amount INTEGER, "
                "created_at TIMESTAMPTZ, host VARCHAR)")
    import pandas as pd

    for part in export_rows(url):  # through a DataFrame: DuckDB's executemany takes minutes for millions of rows
        staged = pd.DataFrame([tuple(r) for r in part], columns=["id", "account_id", "window_id", "amount",
                                                                 "created_at", "host"])
        con.register("staged", staged)
        con.execute("INSERT INTO recon SELECT id, account_id, CAST(window_id AS DATE), amount, created_at, host "
                    "FROM staged")
        con.unregister("staged")
    con.close()


def timed_process(cmd: list[str], env: dict | None = None, ok: tuple[int, ...] = (0, 1)) -> tuple[float, int, str]:
    """Wall time, peak RSS (MB) and stdout of one process run under /usr/bin/time (exit 0, or 1-2: found
    something)."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *cmd], capture_output=True, text=True,
                          env=env, timeout=3600)
    elapsed = time.perf_counter() - started
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if not last.startswith("maxrss_kb=") or done.returncode not in ok:
        raise RuntimeError(f"{cmd[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, int(last.split("=")[1]) // 1024, done.stdout


def median_run(cmd: list[str], runs: int, env: dict | None = None, ok: tuple[int, ...] = (0, 1)) -> dict:
    results = [timed_process(cmd, env, ok) for _ in range(runs)]
    return {"s": statistics.median(r[0] for r in results), "rss": max(r[1] for r in results),
            "out": results[-1][2]}


def psql(server: PostgresServer, db: str, sql: str) -> list[str]:
    return [server.psql, "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
            "-d", db, "-c", "SET jit = off", "-c", sql]


def py(code: str, *args: str, python: str = sys.executable) -> list[str]:
    return [python, "-c", textwrap.dedent(code), *args]


PANDAS = """
    import sys, pandas as pd, sqlalchemy as sa
    engine = sa.create_engine(sys.argv[1])
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT * FROM recon"), conn)
    print(int(frame.duplicated(subset=["account_id", "window_id"], keep=False).sum()))
"""
GX = """
    import sys, great_expectations as gx
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_postgres("pg", connection_string=sys.argv[1])
    batch = source.add_table_asset("recon", table_name="recon").add_batch_definition_whole_table("all").get_batch()
    result = batch.validate(gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=["account_id", "window_id"]))
    print(result.result.get("unexpected_count"))
"""
DUCKDB_GROUP_BY = """
    import sys, duckdb
    print(len(duckdb.connect(sys.argv[1], read_only=True).execute(sys.argv[2]).fetchall()))
"""
SQLITE_GROUP_BY = """
    import sys, sqlite3
    print(len(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchall()))
"""


def soda_files(work: Path, server: PostgresServer, db: str) -> tuple[Path, Path]:
    config = work / "soda.yml"
    config.write_text(f"data_source bench:\n  type: postgres\n  host: 127.0.0.1\n  port: {server.port}\n"
                      f"  username: postgres\n  password: ''\n  database: {db}\n  schema: public\n")
    checks = work / "checks.yml"
    checks.write_text("checks for recon:\n  - duplicate_count(account_id, window_id) = 0\n")
    # its anonymous usage statistics would retry an unreachable collector for seconds: opted out, as documented
    (work / ".soda").mkdir(exist_ok=True)
    (work / ".soda" / "config.yml").write_text("send_anonymous_usage_stats: false\n")
    return config, checks


def dupfinder_scan(url: str, out: Path | None, runs: int, *extra: str, args: list[str] = SCAN) -> dict:
    """``dupfinder scan --out`` as a process (text output; the counts read back from findings.json), or with
    ``out`` None, ``--format json`` to stdout (DuckDB: no cleanup SQL generator yet, so no --out)."""
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
        result = median_run([sys.executable, "-m", "dupfinder", "scan", url, *args, "--out", str(out), *extra], runs)
        doc = json.loads((out / "findings.json").read_text())
    else:
        result = median_run([sys.executable, "-m", "dupfinder", "scan", url, *args, "--format", "json", *extra],
                            runs)
        doc = json.loads(result["out"])
    t = doc["tables"][0]
    mechanisms = sorted({c["mechanism"] for c in t["clusters"]})
    result["reports"] = (f"{len(t['clusters']):,} clusters, {t['far_duplicates']} far keys, "
                         f"mechanism {', '.join(mechanisms) or '-'}")
    return result


def explain_postgres(url: str, rows: int, index: bool) -> str:
    from dupfinder.config import table_spec
    from dupfinder.connect import introspect, read_only, timestamp_awareness
    from dupfinder.detect import _sorted_aggregation, detect, detect_sql, key_index, since_bind
    from dupfinder.sqltemplates import quote_table, render_sql

    spec = table_spec(table="recon", keys=KEYS, ts="created_at")
    sections = []
    with read_only(url) as conn:
        info = introspect(conn, "recon", {})
        found = key_index(conn, info, spec)
        sql = detect_sql(conn, info, spec, found)
        params = {"window_us": 2_000_000, "offset_us": 0}
        with _sorted_aggregation(conn):
            plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {sql['detect_clusters']}"), params).scalars()
            sections.append(f"== detection statement, plan {'index' if found else 'rowid'} "
                            f"(enable_hashagg off) ==\n" + "\n".join(plan))
        for title, statement in (("statistics statement", sql["table_stats"]), ("bare GROUP BY", GROUP_BY)):
            plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {statement}"), params).scalars()
            sections.append(f"== {title} ==\n" + "\n".join(plan))
        # the coverage statement over the whole table (one incident spanning the five days, as in this
        # benchmark), reading the detection's duplicated-key rows by ctid
        aware = timestamp_awareness(info, "created_at")
        members = detect(conn, info, spec, aware, found).members
        lo, hi = conn.exec_driver_sql("SELECT min(created_at), max(created_at) FROM recon").one()
        coverage = render_sql("writer_counts.sql.j2", conn.dialect, table=quote_table(conn.dialect, "recon"),
                              keys=KEYS, ts="created_at", spans=1, groups=["host"], shared_by=["w0"],
                              members=members is not None)
        plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {coverage}"), {
            "bucket_us": max(100_000, int((hi - lo).total_seconds() * 1e6) // 4000), "lo0": lo, "hi0": hi,
            **({"members": members.ids} if members is not None else {})}).scalars()
        sections.append("== coverage statement (writer_counts), spans = the whole table ==\n" + "\n".join(
            line if len(line) < 400 else line[:400] + " ... (the ctid list, cut here)" for line in plan))
        sections.extend(explain_cells(conn, info, spec, aware, members, (lo, hi)))
        if not index:
            since = table_spec(table="recon", keys=KEYS, ts="created_at", since="30m")
            sql = detect_sql(conn, info, since, found)
            with _sorted_aggregation(conn):
                plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {sql['detect_clusters']}"), {
                    **params, "since": since_bind(info, since, aware)}).scalars()
                sections.append("== detection statement with --since 30m (the index on created_at) ==\n"
                                + "\n".join(plan))
    (HERE / "plans").mkdir(exist_ok=True)
    path = HERE / "plans" / f"postgresql_{rows}{'_key_index' if index else ''}.txt"
    path.write_text(f"-- PostgreSQL 15, {rows:,} rows, {'with' if index else 'without'} an index on "
                    f"(account_id, window_id, created_at); {datetime.now(UTC):%Y-%m-%d}\n\n"
                    + "\n\n".join(sections) + "\n")
    return path.name


def explain_cells(conn, info, spec, aware, members, span: tuple) -> list[str]:
    """Plans of the coverage from time cells, as a scan with the writer column runs it: the statistics per
    writer per cell (on the second connection, beside the detection), the parts of cells the buckets cut
    (through the index on created_at) and the shared counts from the member rows."""
    from dupfinder.attribution import written
    from dupfinder.detect import CELL_ROWS, _epoch_us, cells_sql
    from dupfinder.sqltemplates import quote_table, render_sql

    cells = cells_sql(conn, info, spec, ("host",))
    if cells is None or members is None:
        return ["== coverage from cells: not used on this table =="]
    first, last = conn.execute(sa.text(cells.range_sql)).one()
    cell_us = (_epoch_us(last) - _epoch_us(first)) // cells.cells + 1
    previous = conn.exec_driver_sql("SELECT current_setting('max_parallel_workers_per_gather'), "
                                    "current_setting('enable_sort')").one()
    conn.exec_driver_sql("SELECT set_config('max_parallel_workers_per_gather', '0', true), "
                         "set_config('enable_sort', 'off', true)")  # as the second connection runs it
    sections = ["== statistics per writer per time cell (stats_cells.sql.j2, on the second connection) ==\n"
                + "\n".join(conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {cells.counts_sql}"),
                                          {"cell_us": cell_us, "max_rows": CELL_ROWS}).scalars())]
    conn.execute(sa.text("SELECT set_config('max_parallel_workers_per_gather', :p, true), "
                         "set_config('enable_sort', :s, true)"), {"p": previous[0], "s": previous[1]})
    lo, hi = (_epoch_us(t) for t in span)
    bucket = max(written.MIN_BUCKET_US, (hi - lo) // written.BUCKETS)
    cut = sorted({x for _, a, b in written._pieces([(lo, hi)], bucket) for x in (a, b) if x % cell_us})
    parts = [(x - x % cell_us, x) if x % cell_us <= cell_us // 2 else (x, x - x % cell_us + cell_us) for x in cut]
    table = quote_table(conn.dialect, "recon")
    edges = render_sql("writer_edges.sql.j2", conn.dialect, table=table, keys=KEYS, ts="created_at",
                       groups=["host"], aware=bool(aware))
    plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {edges}"),
                        {"starts": [a for a, _ in parts], "ends": [b for _, b in parts]}).scalars()
    sections.append(f"== the parts of {len(cut):,} cells cut by a bucket bound (writer_edges.sql.j2, the index on "
                    "created_at) ==\n" + "\n".join(plan))
    shared = render_sql("writer_counts.sql.j2", conn.dialect, table=table, keys=KEYS, ts="created_at", spans=1,
                        groups=["host"], shared_by=["w0"], members=True, shared_only=True)
    plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {shared}"), {
        "bucket_us": bucket, "lo0": span[0], "hi0": span[1], "members": members.ids}).scalars()
    sections.append("== shared counts from the member rows (writer_counts.sql.j2, shared_only) ==\n" + "\n".join(
        line if len(line) < 400 else line[:400] + " ... (the ctid list, cut here)" for line in plan))
    return sections


def explain_embedded(kind: str, path: Path, rows: int) -> str:
    from dupfinder.config import table_spec
    from dupfinder.connect import introspect, read_only
    from dupfinder.detect import detect_sql

    spec = table_spec(table="recon", keys=KEYS, ts="created_at")
    with read_only(f"{kind}:///{path}") as conn:
        info = introspect(conn, "recon", {})
        sql = detect_sql(conn, info, spec)["detect_clusters"].replace(":window_us", "2000000").replace(
            ":offset_us", "0")
        if kind == "duckdb":
            plan = "\n".join(r[1] for r in conn.exec_driver_sql(f"EXPLAIN ANALYZE {sql}").all())
        else:
            plan = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all())
    out = HERE / "plans" / f"{kind}_{rows}.txt"
    out.write_text(f"-- {kind}, {rows:,} rows, detection statement (plan rowid)\n\n{plan}\n")
    return out.name


STAGES = (("dupfinder.detect", "detect", "detection + statistics statements"),
          ("dupfinder.cluster", "build_clusters", "clusters built in Python"),
          ("dupfinder.attribution.written", "count", "coverage statement (writer_counts)"),
          ("dupfinder.attribution", "attribute_table", "attribution in Python (the coverage statement apart)"),
          ("dupfinder.api", "write_outputs", "writing findings, SQL files and report"))
REST = "the rest of the scan (introspection, roles, xmin share; between the stages)"


def exclusive_timer(timings: list[tuple[float, str]]):
    """Wrap functions so each call's time is recorded under its label without the time of the wrapped calls
    inside it: attribute_table calls the coverage statement, and the 2026-11-24 README counted those 1.89 s
    twice (coverage 1.89 s, attribution "with coverage counts" 2.19 s, of which 0.30 s was Python)."""
    inner: list[float] = []

    def wrap(original, label: str):
        def timed(*a, **k):
            started = time.perf_counter()
            inner.append(0.0)
            try:
                return original(*a, **k)
            finally:
                took = time.perf_counter() - started
                nested = inner.pop()
                if inner:
                    inner[-1] += took
                timings.append((took - nested, label))

        return timed

    return wrap


def stage_times(url: str, out: Path) -> list[tuple[float, str]]:
    """One in-process scan --out with each stage timed apart from the stages inside it, and what the stages
    leave: where the time of a scan goes (start-up aside)."""
    import importlib

    from dupfinder import api
    from dupfinder.config import ScanOptions, table_spec

    timings: list[tuple[float, str]] = []
    wrap = exclusive_timer(timings)
    wrapped = []
    for module_name, name, label in STAGES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        original = getattr(module, name, None)
        if original is None:
            continue
        setattr(module, name, wrap(original, label))
        wrapped.append((module, name, original))
    try:
        spec = table_spec(table="recon", keys=KEYS, ts="created_at", writers=["host=host"])
        started = time.perf_counter()
        api.write_outputs(api.scan(ScanOptions(url=url, tables=(spec,))), out)
        whole = time.perf_counter() - started
    finally:
        for module, name, original in wrapped:
            setattr(module, name, original)
    timings.append((whole - sum(s for s, _ in timings), REST))
    timings.append((whole, "the whole scan --out, in process"))
    return timings


def fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peers-venv", default="/tmp/peers-venv")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--shared", default="", help="a note on what else ran on the machine meanwhile")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dupfinder-peers-"))
    compile_once(work)
    venv = Path(args.peers_venv)
    soda = venv / "bin" / "soda"
    gx_python = venv / "bin" / "python"
    has_gx = gx_python.exists() and subprocess.run([str(gx_python), "-c", "import great_expectations, sqlalchemy"],
                                                   capture_output=True).returncode == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sections: list[str] = []
    server = PostgresServer(commit_timestamps=False).start()
    try:
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE bench")
        admin.dispose()
        url = server.url("bench")
        for rows in args.rows:
            build_postgres(url, rows)
            table: list[tuple[str, dict, str]] = []
            base = median_run(psql(server, "bench", GROUP_BY), args.runs)
            keys = len(base["out"].split())
            table.append(("bare GROUP BY … HAVING count(*) > 1 (psql)", base, f"{keys:,} keys, near and far mixed"))
            dbt = median_run(psql(server, "bench", DBT_UTILS), args.runs)
            table.append(("dbt-utils `unique_combination_of_columns` SQL (psql)", dbt,
                          f"{int(dbt['out'].split('|')[0]):,} keys"))
            lag = median_run(psql(server, "bench", LAG), args.runs)
            table.append(("hand-written `LAG` query, gap ≤ 2 s (psql)", lag,
                          f"{len(lag['out'].split(chr(10))) - 1:,} rows (second row of each pair)"))
            if soda.exists():
                config, checks = soda_files(work, server, "bench")
                result = median_run([str(soda), "scan", "-d", "bench", "-c", str(config), str(checks)], args.runs,
                                    {**os.environ, "HOME": str(work)}, ok=(0, 1, 2))  # 2: a check failed
                found = re.search(r"check_value: (\d+)", result["out"]) or re.search(r"value: (\d+)", result["out"])
                table.append(("Soda Core `duplicate_count`", result,
                              f"{int(found.group(1)):,} duplicate keys" if found else "see its output"))
            if has_gx:
                result = median_run(py(GX, url.replace("+psycopg", "+psycopg2"), python=str(gx_python)), args.runs)
                table.append(("Great Expectations compound unique", result,
                              f"{int(result['out'].split()[-1]):,} rows"))
            result = median_run(py(PANDAS, url), args.runs, env)
            table.append(("pandas read_sql + duplicated()", result, f"{int(result['out'].split()[-1]):,} rows"))
            full = dupfinder_scan(url, work / "out", args.runs)
            table.append(("**dupfinder `scan --out`**", full, full["reports"]))
            since = dupfinder_scan(url, work / "since", args.runs, "--since", "30m")
            table.append(("dupfinder `scan --out --since 30m` (timestamp index)", since, since["reports"]))
            plans = [explain_postgres(url, rows, False)]
            where = stage_times(url, work / "stages")
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.exec_driver_sql("CREATE INDEX recon_key_ts ON recon (account_id, window_id, created_at)")
                conn.exec_driver_sql("VACUUM ANALYZE recon")
            engine.dispose()
            base_ix = median_run(psql(server, "bench", GROUP_BY), args.runs)
            table.append(("bare GROUP BY, with an index on (key, ts)", base_ix, "the same keys"))
            indexed = dupfinder_scan(url, work / "indexed", args.runs)
            table.append(("**dupfinder `scan --out`, with an index on (key, ts)**", indexed, indexed["reports"]))
            plans.append(explain_postgres(url, rows, True))
            where_ix = stage_times(url, work / "stages")
            lines = [f"#### PostgreSQL 15, {rows:,} rows", "",
                     "| tool | time | ÷ bare GROUP BY | peak RSS | reports |", "|---|---|---|---|---|"]
            for name, r, reports in table:
                lines.append(f"| {name} | {fmt(r['s'])} | {r['s'] / base['s']:.2f} | {r['rss']} MB | {reports} |")
            lines += ["", f"With the index, dupfinder ÷ the bare GROUP BY that also reads the index: "
                          f"{indexed['s'] / base_ix['s']:.2f}; `--since 30m` ÷ full scan: "
                          f"{since['s'] / full['s']:.2f}. Plans: "
                          + ", ".join(f"`benchmarks/plans/{p}`" for p in plans) + ".",
                      "", "Where the time of one scan --out goes, in process (start-up aside; without the key index "
                          "/ with it):", ""]
            with_ix = dict((what, s) for s, what in where_ix)
            lines += [f"- {what}: {s:.2f} s / {with_ix.get(what, float('nan')):.2f} s" for s, what in where]
            if not soda.exists():
                lines += ["", f"Soda Core: not run (no `soda` in {venv})."]
            if not has_gx:
                lines += ["", f"Great Expectations: not run (not importable from {venv})."]
            sections.append("\n".join(lines))
            for kind in ("duckdb", "sqlite"):
                path = work / f"bench.{kind}"
                (build_duckdb if kind == "duckdb" else build_sqlite)(url, path)
                own = median_run(py(DUCKDB_GROUP_BY if kind == "duckdb" else SQLITE_GROUP_BY, str(path),
                                    GROUP_BY), args.runs)
                scan = dupfinder_scan(f"{kind}:///{path}", None if kind == "duckdb" else work / f"out-{kind}",
                                      args.runs)
                plan = explain_embedded(kind, path, rows)
                sections.append("\n".join([
                    f"#### {'DuckDB' if kind == 'duckdb' else 'SQLite'}, the same {rows:,} rows", "",
                    "| tool | time | ÷ own GROUP BY | peak RSS | reports |", "|---|---|---|---|---|",
                    f"| its own GROUP BY (a Python process with the driver) | {fmt(own['s'])} | 1.00 | {own['rss']} MB "
                    f"| {int(own['out'].split()[-1]):,} keys |",
                    f"| **dupfinder `scan{'' if kind == 'duckdb' else ' --out'}`** "
                    f"| {fmt(scan['s'])} | {scan['s'] / own['s']:.2f} | {scan['rss']} MB "
                    f"| {scan['reports']} |", "", f"Plan: `benchmarks/plans/{plan}`."]))
                path.unlink(missing_ok=True)
            publish(args, sections)  # what is measured so far is in docs/benchmarks.md even if a later size fails
    finally:
        server.stop()
    sections.append(small_cases(work, args.runs))
    shutil.rmtree(work, ignore_errors=True)
    publish(args, sections)


def publish(args: argparse.Namespace, sections: list[str]) -> None:
    """Print the figures so far and put them in docs/benchmarks.md between the benchmark markers."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, "
               f"{platform.python_implementation()} {platform.python_version()}, PostgreSQL 15 (default settings, "
               f"work_mem 4 MB), SQLite {sqlite3.sqlite_version}")
    text = "\n\n".join([heading(args.runs, sys.argv[1:], stamp, machine), *sections])
    print(text, flush=True)
    if not args.no_readme:
        body = DOC.read_text()
        start, end = "<!-- benchmarks:peers:start -->", "<!-- benchmarks:peers:end -->"
        if start in body:
            body = body[:body.index(start) + len(start)] + "\n" + text + "\n" + body[body.index(end):]
            DOC.write_text(body)
        else:
            print(f"{DOC}: no benchmark markers, figures not written there", file=sys.stderr)


def heading(runs: int, argv: list[str], stamp: str, machine: str) -> str:
    """The sentence above the tables: when, where, and the command exactly as run, quoted for a shell (so a
    ``--shared`` note is one argument of it, and the note is said once, there)."""
    command = shlex.join(["python", "benchmarks/peers.py", *argv])
    return (f"Run {stamp} on {machine}; command `{command}`; every figure is the median of {runs} whole processes "
            "(peak RSS: the largest), ratios to the bare GROUP BY measured in the same run; dupfinder's modules "
            "compiled to bytecode once beforehand, as installed.")


def small_cases(work: Path, runs: int) -> str:
    """A post-deploy check that finds nothing, and memory at 50,000 clusters and at one key written 100,000
    times (SQLite, scan --out)."""
    sys.path.insert(0, str(HERE))
    from report_50k import build as build_50k

    clean = work / "clean.db"
    con = sqlite3.connect(clean)
    con.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, k INTEGER, ts DATETIME)")
    con.executemany("INSERT INTO e VALUES (?, ?, ?)",
                    [(i, i, f"2026-11-03 02:{i % 60:02d}:{i % 59:02d}.000000") for i in range(1000)])
    con.commit()
    con.close()
    floor = median_run([sys.executable, "-c", "pass"], runs)
    check = median_run([sys.executable, "-m", "dupfinder", "scan", f"sqlite:///{clean}", "--table", "e", "--key", "k",
                        "--ts", "ts"], runs)
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "dupfinder", "scan", f"sqlite:///{clean}",
                              "--table", "e", "--key", "k", "--ts", "ts"], capture_output=True, text=True).stderr
    modules = {line.split("|")[-1].strip() for line in imports.splitlines() if line.startswith("import time:")}
    top = sorted(((int(line.split("|")[1]), line.split("|")[-1].strip()) for line in imports.splitlines()
                  if line.startswith("import time:") and line.split("|")[1].strip().isdigit()
                  and not line.split("|")[-1].startswith("  ")), reverse=True)[:4]
    url_50k = build_50k(work / "big.db", 50_000)
    fifty = dupfinder_scan(url_50k, work / "out-50k", 1, args=["--table", "summary", "--key", "account", "--key",
                                                               "day", "--ts", "created_at", "--writer", "host=host"])
    one = work / "one.db"
    con = sqlite3.connect(one)
    con.execute("CREATE TABLE recon (id INTEGER PRIMARY KEY, account_id INTEGER, window_id TEXT, amount INTEGER, "
                "created_at DATETIME, host TEXT)")
    con.execute("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 100000) "
                "INSERT INTO recon SELECT i, 7, '2026-11-02', 1, '2026-11-03 02:30:00.' || printf('%06d', i * 9), "
                "'h' || (i % 3) FROM g")
    con.commit()
    con.close()
    hundred = dupfinder_scan(f"sqlite:///{one}", work / "out-one", 1)
    report = (work / "out-one" / "report.html").stat().st_size
    return "\n".join([
        "#### Start-up and memory", "",
        f"- A post-deploy check that finds nothing (`dupfinder scan` of a clean 1,000-row SQLite table): "
        f"{fmt(check['s'])} against {fmt(floor['s'])} for `python -c pass`; pandas and numpy imported: "
        f"{'yes' if any(m.split('.')[0] in ('pandas', 'numpy') for m in modules) else 'no'}; largest imports "
        f"(`-X importtime`, cumulative): " + ", ".join(f"{name} {us / 1e6:.2f} s" for us, name in top) + ".",
        f"- 50,000 two-row clusters, `scan --out` (SQLite, one process): {fmt(fifty['s'])}, "
        f"peak RSS {fifty['rss']} MB.",
        f"- one key written 100,000 times in one second, `scan --out` (SQLite): {fmt(hundred['s'])}, peak RSS "
        f"{hundred['rss']} MB, report.html {report / 1e6:.2f} MB.",
    ])


if __name__ == "__main__":
    main()
