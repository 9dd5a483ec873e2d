"""Benchmark: scan time per engine on the same table (default 1,000,000 rows, 1% of keys written twice).

One CSV is generated (seeded) and loaded into each engine with the engine's own bulk path; then
``dupfinder.api.scan`` runs on each (median of --runs, after one warm-up scan that is not counted) and the
result is printed as a Markdown table. Servers are started the way the test suite starts them (throwaway
PostgreSQL and MariaDB, the Spark Thrift server from pip's pyspark, local[2]); chDB, DuckDB and SQLite are
files. Engines without a primary key or row id (Spark, ClickHouse) are scanned with --id id.

    python benchmarks/engines_1m.py [--rows 1000000] [--runs 3] [--engines sqlite,duckdb,...]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from dupfinder import api  # noqa: E402
from dupfinder.config import ScanOptions, table_spec  # noqa: E402

ENGINES = ("sqlite", "duckdb", "postgresql", "mariadb", "chdb", "spark")
COLUMNS = "id INTEGER, account INTEGER, window_id INTEGER, ts TIMESTAMP, host VARCHAR(20), note VARCHAR(20)"


def write_csv(path: Path, rows: int, seed: int = 7) -> int:
    """Rows keyed (account, window_id) unique except 1% written again 1-900 ms later by another host."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, 0, 0)
    duplicated = 0
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        n = 0
        i = 0
        while n < rows:
            ts = start + timedelta(microseconds=i * 86_400_000_000 // rows)
            row = [n + 1, i // 10, i % 10, ts.strftime("%Y-%m-%d %H:%M:%S.%f"), "batch-a", "x"]
            out.writerow(row)
            n += 1
            if rng.random() < 0.01 and n < rows:
                again = ts + timedelta(microseconds=rng.randint(1_000, 900_000))
                out.writerow([n + 1, row[1], row[2], again.strftime("%Y-%m-%d %H:%M:%S.%f"), "batch-b", "x"])
                n += 1
                duplicated += 1
            i += 1
    return duplicated


def load_sqlite(folder: Path, data: Path) -> str:
    import sqlite3

    path = folder / "bench.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER, window_id INTEGER, ts TEXT, "
                 "host TEXT, note TEXT)")
    with data.open() as f:
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", csv.reader(f))
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def load_duckdb(folder: Path, data: Path) -> str:
    import duckdb

    path = folder / "bench.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(f"CREATE TABLE events ({COLUMNS}, PRIMARY KEY (id))")
    conn.execute(f"INSERT INTO events SELECT * FROM read_csv('{data}', header = false, "
                 "columns = {'id': 'INTEGER', 'account': 'INTEGER', 'window_id': 'INTEGER', 'ts': 'TIMESTAMP', "
                 "'host': 'VARCHAR', 'note': 'VARCHAR'})")
    conn.close()
    return f"duckdb:///{path}"


def load_postgresql(folder: Path, data: Path, servers: list) -> str:
    from pg_server import PostgresServer

    server = PostgresServer().start()
    servers.append(server)
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id integer PRIMARY KEY, account integer, window_id integer, "
                     "ts timestamp, host text, note text)")
        with conn.cursor().copy("COPY events FROM STDIN (FORMAT csv)") as copy, data.open("rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        conn.execute("VACUUM ANALYZE events")
    return server.url()


def load_mariadb(folder: Path, data: Path, servers: list) -> str:
    from mariadb_server import MariaDBServer

    server = MariaDBServer().start()
    servers.append(server)
    server.admin("CREATE DATABASE bench")
    server.admin("CREATE TABLE events (id INT PRIMARY KEY, account INT, window_id INT, ts DATETIME(6), "
                 "host VARCHAR(20), note VARCHAR(20))", database="bench")
    import pymysql

    conn = pymysql.connect(unix_socket=str(server.sock), user="root", database="bench", local_infile=True)
    with conn.cursor() as cur:
        cur.execute("SET GLOBAL local_infile = 1")
        cur.execute(f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE events FIELDS TERMINATED BY ','")
        cur.execute("ANALYZE TABLE events")
    conn.commit()
    conn.close()
    return server.url("bench")


def load_chdb(folder: Path, data: Path) -> str:
    path = folder / "chdb"
    path.mkdir()
    engine = sa.create_engine(f"chdb:///{path}", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE events (id Int32, account Int32, window_id Int32, ts DateTime64(6), "
                             "host String, note String) ENGINE = MergeTree ORDER BY id")
        conn.exec_driver_sql(f"INSERT INTO events SELECT * FROM file('{data}', CSV, "
                             "'id Int32, account Int32, window_id Int32, ts DateTime64(6), host String, note String')")
    engine.dispose()
    return f"chdb:///{path}"


def load_spark(folder: Path, data: Path, servers: list) -> str:
    from spark_server import SparkThriftServer

    server = SparkThriftServer(driver_memory="1g").start()
    servers.append(server)
    engine = sa.create_engine(server.url(), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE events_csv (id INT, account INT, window_id INT, ts TIMESTAMP, host STRING, "
                             f"note STRING) USING csv OPTIONS (path '{data}', timestampFormat "
                             "'yyyy-MM-dd HH:mm:ss.SSSSSS')")
        conn.exec_driver_sql("CREATE TABLE events USING parquet AS SELECT * FROM events_csv")
    engine.dispose()
    return server.url()


def scan(url: str, ids: bool) -> tuple[float, int]:
    spec = table_spec(table="events", keys=["account", "window_id"], ts="ts", ids=["id"] if ids else ())
    began = time.perf_counter()
    result = api.scan(ScanOptions(url=url, tables=(spec,)))
    return time.perf_counter() - began, len(result.tables[0].clusters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dupfinder-engines-"))
    os.chmod(folder, 0o755)
    data = folder / "events.csv"
    duplicated = write_csv(data, args.rows)
    os.chmod(data, 0o644)
    print(f"{args.rows:,} rows, {duplicated:,} keys written twice; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    results, servers = [], []
    try:
        for engine in args.engines.split(","):
            began = time.perf_counter()
            if engine in ("postgresql", "mariadb", "spark"):
                url = globals()[f"load_{engine}"](folder, data, servers)
            else:
                url = globals()[f"load_{engine}"](folder, data)
            loaded = time.perf_counter() - began
            ids = engine in ("chdb", "spark")
            scan(url, ids)  # warm-up (caches, JIT, Spark's first job)
            times, clusters = [], 0
            for _ in range(args.runs):
                seconds, clusters = scan(url, ids)
                times.append(seconds)
            results.append((engine, statistics.median(times), min(times), max(times), clusters, loaded))
            print(f"{engine}: median {statistics.median(times):.2f} s, {clusters} clusters (load {loaded:.1f} s)",
                  flush=True)
            while servers:
                servers.pop().stop()
    finally:
        for server in servers:
            server.stop()
    print(f"\n| engine | scan, median of {args.runs} (s) | min–max (s) | clusters found | load (s) |")
    print("|---|---|---|---|---|")
    for engine, median, low, high, clusters, loaded in results:
        print(f"| {engine} | {median:.2f} | {low:.2f}–{high:.2f} | {clusters:,} | {loaded:.1f} |")


if __name__ == "__main__":
    main()
