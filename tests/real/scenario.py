"""What every real-software scenario shares: a ground truth, child processes, and the two scan modes.

A scenario lets real software (APScheduler, a cron-like launcher, a process pool, Celery, a scheduler
under a simulated clock) write a table, then states what the table truly holds: which rows form which
cluster and by which mechanism they came about. The truth comes from how the scenario was built and from
the table itself (GROUP BY the key), never from dupfinder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent


@dataclass(frozen=True)
class Truth:
    """What one table truly holds after a scenario ran."""

    url: str
    table: str
    keys: tuple[str, ...]
    ts: str
    clusters: dict[frozenset, str]          # row ids of a cluster -> its true mechanism
    writers: dict[str, str]                 # role -> column, dropped for the mode without writer columns
    window: str = "2s"
    timezone: str | None = None
    logs: dict[str, Path] = field(default_factory=dict)  # name -> job-run log the software wrote
    facts: dict[str, Any] = field(default_factory=dict)  # what happened, for messages and the table


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: the tests folder importable, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def spawn(module: str, *args: str, log: Path | None = None, **env: str) -> subprocess.Popen:
    """Start ``python -m real.<module> ARGS`` as its own OS process."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps its own copy
    try:
        return subprocess.Popen([sys.executable, "-m", f"real.{module}", *args], env=child_env(**env),
                                stdout=out, stderr=subprocess.STDOUT, cwd=str(TESTS))
    finally:
        if log:
            out.close()


def finish(procs: list[subprocess.Popen], timeout: float = 120) -> None:
    """Wait for child processes; a non-zero exit fails the scenario loudly."""
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"{p.args} did not finish in {timeout} s") from None
    bad = [(p.args, p.returncode) for p in procs if p.returncode != 0]
    assert not bad, f"scenario processes failed: {bad}"


def wait_for(condition, timeout: float = 60, what: str = "condition", every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"scenario: timed out after {timeout} s waiting for {what}")


def duplicate_groups(url: str, table: str, keys: tuple[str, ...], id_column: str = "id") -> list[frozenset]:
    """Row ids of every key the table holds more than once (SQL, not dupfinder)."""
    engine = sa.create_engine(url)
    cols = ", ".join(keys)
    agg = "array_agg" if engine.dialect.name == "postgresql" else "group_concat"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {agg}({id_column}) FROM {table} GROUP BY {cols} "
                                    "HAVING count(*) > 1")).all()
    engine.dispose()
    parse = (lambda v: v) if agg == "array_agg" else (lambda v: [int(x) for x in str(v).split(",")])
    return [frozenset(parse(r[0])) for r in rows]


def drop_writer_columns(truth: Truth) -> None:
    """Make the table one that records nobody's name. PostgreSQL's DROP COLUMN rewrites nothing: xmin,
    ctid and the heap layout stay exactly what the software left."""
    engine = sa.create_engine(truth.url)
    with engine.begin() as conn:
        for column in truth.writers.values():
            conn.execute(sa.text(f"ALTER TABLE {truth.table} DROP COLUMN {column}"))
    engine.dispose()


def scan(truth: Truth, with_writers: bool, infer: bool = False, **extra: Any):
    """Scan the scenario's table the way a user would in that mode (``infer``: no --writer, the writer roles
    found by their names and the data, the default); returns (TableResult, findings document)."""
    from dupfinder import api
    from dupfinder.config import ScanOptions, table_spec
    from dupfinder.findings import findings_dict

    spec = table_spec(table=truth.table, keys=list(truth.keys), ts=truth.ts, window=truth.window,
                      writers=[f"{r}={c}" for r, c in truth.writers.items()] if with_writers else [],
                      infer_writers=infer, timezone=truth.timezone)
    result = api.scan(ScanOptions(url=truth.url, tables=(spec,), **extra))
    return result.tables[0], findings_dict(result)


def signal_ready(directory: str | Path, name: str) -> None:
    """A child says it has started and imported everything (the barrier's first half)."""
    Path(directory, f"{name}.ready").write_text("ready")


def await_go(directory: str | Path, timeout: float = 120) -> float:
    """A child waits for the harness's go file and returns the firing time written in it."""
    go = Path(directory, "go")
    deadline = time.monotonic() + timeout
    while not go.exists() or not go.read_text().strip():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.02)
    return float(go.read_text())


def release(directory: str | Path, names: list[str], lead: float = 1.0, timeout: float = 120) -> float:
    """The harness waits until every child is ready, then tells them all the same firing time."""
    wait_for(lambda: all(Path(directory, f"{n}.ready").exists() for n in names), timeout, f"{names} ready")
    at = time.time() + lead
    tmp = Path(directory, "go.tmp")
    tmp.write_text(repr(at))
    tmp.replace(Path(directory, "go"))
    return at


SCORES: list[dict] = []  # one row per (scenario, mode) test, printed by conftest at the end of the run
