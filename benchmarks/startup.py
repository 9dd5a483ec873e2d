"""Benchmark: how long a post-deploy check that finds nothing takes, as whole processes.

Builds a clean table (1,000 rows, every key once) in a SQLite file, unless --no-duckdb in a DuckDB file, and
unless --no-postgres in a throwaway PostgreSQL 15 started as the tests start one (tests/pg_server.py), then
runs each command below as its own process, round after round (the commands interleaved, so a burst of load
hits all of them alike), and prints the median wall time and CPU time (user + system) of each and their
ratios to ``python -c pass`` and to
``python -c "import sqlalchemy, psycopg"`` measured in the same run:

  python -c pass                                   the interpreter (with this machine's site-packages .pth)
  python -c "import sqlalchemy, psycopg"           the required stack, imported and nothing else
  python -m dupfinder scan sqlite:///clean.db ...  the check on SQLite
  python -m dupfinder scan postgresql+psycopg://... the check on PostgreSQL
  python -c "import sqlalchemy, duckdb"            the DuckDB stack (unless --no-duckdb), and
  python -m dupfinder scan duckdb:///clean.duckdb  the check on DuckDB
  python -m dupfinder.cli scan ...                 the console script's entry point (dupfinder.cli:main)

Every command runs with the interpreter itself (sys.executable), not a pyenv shim (a shell script that costs
its own time; --shim adds the shim's `python -c pass` to show how much). Modules are compiled once into a
private bytecode folder before timing (PYTHONPYCACHEPREFIX), as an installed wheel is: a checkout run with
PYTHONDONTWRITEBYTECODE=1 compiles every dupfinder module from source at each start (--source shows that).
Then one `-X importtime` run per check lists the largest imports.

    python benchmarks/startup.py [--runs 15] [--no-postgres] [--no-duckdb] [--shim] [--source]
                                 [--compare OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from pg_server import PostgresServer  # noqa: E402

SCAN = ["--table", "e", "--key", "k", "--ts", "ts"]
ROWS = 1000


def clean_sqlite(path: Path) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, k INTEGER, ts DATETIME, host TEXT)")
    con.executemany("INSERT INTO e VALUES (?, ?, ?, 'a')",
                    [(i, i, f"2026-11-03 02:{i % 60:02d}:{i % 59:02d}.000000") for i in range(ROWS)])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def clean_duckdb(path: Path) -> str:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, k INTEGER, ts TIMESTAMPTZ, host VARCHAR)")
    con.execute(f"INSERT INTO e SELECT i, i, TIMESTAMPTZ '2026-11-03 02:00:00+00' + i * INTERVAL 1 SECOND, 'a' "
                f"FROM range({ROWS}) AS r(i)")
    con.close()
    return f"duckdb:///{path}"


def clean_postgres(server: PostgresServer) -> str:
    subprocess.run([server.psql, "-X", "-q", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-d",
                    "postgres", "-v", "ON_ERROR_STOP=1", "-c",
                    "CREATE TABLE e (id integer PRIMARY KEY, k integer, ts timestamptz, host text)", "-c",
                    "INSERT INTO e SELECT g, g, timestamptz '2026-11-03 02:00:00+00' + g * interval '1 s', 'a' "
                    f"FROM generate_series(1, {ROWS}) g", "-c", "VACUUM ANALYZE e"], check=True, capture_output=True)
    return server.url()


def timed(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one process (its exit code must be in ``ok``), run from
    the checkout env names. CPU time moves far less than wall time when other work shares the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=env.get("DUPFINDER_BENCH_CWD", ROOT), capture_output=True, text=True,
                          timeout=300)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd[:6])} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def top_imports(cmd: list[str], env: dict[str, str], count: int = 8) -> tuple[float, list[tuple[float, str]], bool]:
    """Total top-level import time (s), the largest top-level imports, and whether pandas/numpy were imported."""
    err = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, cwd=env.get("DUPFINDER_BENCH_CWD", ROOT),
                         capture_output=True,
                         text=True, timeout=300).stderr
    rows = [line.split("|") for line in err.splitlines() if line.startswith("import time:")]
    top = [(int(r[1]) / 1e6, r[2].strip()) for r in rows if r[1].strip().isdigit() and not r[2].startswith("  ")]
    heavy = any(r[2].strip().split(".")[0] in ("pandas", "numpy") for r in rows)
    return sum(s for s, _ in top), sorted(top, reverse=True)[:count], heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds; each command runs once a round")
    parser.add_argument("--no-postgres", action="store_true", help="no PostgreSQL check")
    parser.add_argument("--no-duckdb", action="store_true", help="no DuckDB check")
    parser.add_argument("--shim", action="store_true", help="also time `python -c pass` through the pyenv shim")
    parser.add_argument("--compare", metavar="DIR", help="also time the checks from another checkout (before/after)")
    parser.add_argument("--source", action="store_true",
                        help="also time the SQLite check without bytecode (PYTHONDONTWRITEBYTECODE=1, no cache)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dupfinder-startup-"))
    server = None
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        env["XDG_CACHE_HOME"] = str(work / "cache")  # compiled templates: written by the warm-up run, then read
        py = sys.executable
        sqlite_url = clean_sqlite(work / "clean.db")
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([py, "-c", "pass"], env),
            "python -c 'import sqlalchemy, psycopg'": ([py, "-c", "import sqlalchemy, psycopg"], env),
            "dupfinder scan (SQLite)": ([py, "-m", "dupfinder", "scan", sqlite_url, *SCAN], env),
            "python -m dupfinder.cli scan (SQLite)": ([py, "-m", "dupfinder.cli", "scan", sqlite_url, *SCAN], env),
        }
        if not args.no_duckdb:
            commands["python -c 'import sqlalchemy, duckdb'"] = ([py, "-c", "import sqlalchemy, duckdb"], env)
            commands["dupfinder scan (DuckDB)"] = ([py, "-m", "dupfinder", "scan", clean_duckdb(work / "clean.duckdb"),
                                                    *SCAN], env)
        if not args.no_postgres:
            server = PostgresServer(commit_timestamps=False).start()
            commands["dupfinder scan (PostgreSQL)"] = ([py, "-m", "dupfinder", "scan", clean_postgres(server), *SCAN],
                                                       env)
        if args.compare:
            other = {**env, "DUPFINDER_BENCH_CWD": str(Path(args.compare).resolve()),
                     "XDG_CACHE_HOME": str(work / "cache-compare")}
            for name in [n for n in commands if n.startswith("dupfinder scan")]:
                commands[f"{name}, {Path(args.compare).name}"] = (commands[name][0], other)
        if args.source:
            source_env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
            del source_env["PYTHONPYCACHEPREFIX"]
            commands["dupfinder scan (SQLite), no bytecode"] = (commands["dupfinder scan (SQLite)"][0], source_env)
        if args.shim:
            root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
            shim = os.path.join(root, "shims", "python")
            if os.access(shim, os.X_OK):
                commands["python -c pass (pyenv shim)"] = ([shim, "-c", "pass"], env)
            else:
                print(f"no pyenv shim at {shim}: --shim skipped")
        for cmd, cmd_env in commands.values():  # warm-up: bytecode and compiled templates written once
            timed(cmd, cmd_env)
        load_before = os.getloadavg()
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (cmd, cmd_env) in commands.items():
                times[name].append(timed(cmd, cmd_env))
        load = os.getloadavg()
        wall = {name: statistics.median(t[0] for t in values) for name, values in times.items()}
        cpu = {name: statistics.median(t[1] for t in values) for name, values in times.items()}
        floor, stack = "python -c pass", "python -c 'import sqlalchemy, psycopg'"
        print(f"median of {args.runs} runs each, {ROWS}-row clean table, {py} {sys.version.split()[0]}, "
              f"load average (1, 5, 15 min) before {' '.join(f'{x:.2f}' for x in load_before)}, after "
              f"{' '.join(f'{x:.2f}' for x in load)}")
        print(f"{'command':<46} {'wall':>7} {'min':>6} {'/ pass':>7} {'/ stack':>8} {'cpu':>7} {'/ pass':>7} "
              f"{'/ stack':>8}")
        for name, values in times.items():
            print(f"{name:<46} {wall[name]:>6.3f}s {min(t[0] for t in values):>5.3f}s {wall[name] / wall[floor]:>7.2f} "
                  f"{wall[name] / wall[stack]:>8.2f} {cpu[name]:>6.3f}s {cpu[name] / cpu[floor]:>7.2f} "
                  f"{cpu[name] / cpu[stack]:>8.2f}")
        for name in [n for n in commands if n.startswith("dupfinder scan")]:
            cmd, cmd_env = commands[name]
            total, top, heavy = top_imports(cmd, cmd_env)
            print(f"{name}: imports {total:.3f} s (-X importtime, top level; pandas/numpy: {'yes' if heavy else 'no'})"
                  f", largest: " + ", ".join(f"{module} {s:.3f}" for s, module in top))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
