"""A labelled generator: one table holding episodes of every mechanism plus decoys, with the ground truth.

Column names, which writer columns exist, batch sizes, gaps and writer names vary with the seed, so
attribution rules are scored on many shapes, not tuned to one. (A mechanism the table's columns cannot
reveal is not generated: without a version column a deploy overlap is not in the ground truth.)
Each episode is written the way its writers would write it: one transaction
per run, one per worker claim, both rows of an application bug inside one transaction (PostgreSQL then
gives those rows one ``xmin``, the evidence ``same_transaction`` rests on).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

NAMES = {
    "key": [("entity_id", "period"), ("customer_ref", "billing_month"), ("order_no", "line_day")],
    "ts": ["created_at", "inserted_at", "written_on"],
    "host": ["host", "hostname", "node_name", "pod"],
    "process": ["pid", "worker_id", "process_name"],
    "run": ["run_id", "job_run", "batch_id"],
    "version": ["app_version", "release", "build_sha"],
    "app": ["service", "application"],
}


@dataclass
class Labelled:
    table: str
    keys: tuple[str, str]
    ts: str
    writers: dict[str, str]
    window: str
    clusters: dict[tuple, dict] = field(default_factory=dict)
    far_keys: set[tuple] = field(default_factory=set)
    transactions: list[list[dict]] = field(default_factory=list)


class _Writer:
    def __init__(self, lab: Labelled, rng: random.Random) -> None:
        self.lab, self.rng, self.next_id = lab, rng, 1

    def row(self, key: tuple, at: datetime, host: str, process: str, run: str, version: str, app: str,
            amount: int) -> dict:
        names = self.lab.writers
        if "process" not in names:  # a table without a pid column: the run id names the worker instead
            run = f"{run}.{process}"
        values = {"host": host, "process": process, "run": run, "version": version, "app": app}
        row = {"id": self.next_id, self.lab.keys[0]: key[0], self.lab.keys[1]: key[1], self.lab.ts: at,
               **{column: values[role] for role, column in names.items()}, "amount": amount}
        self.next_id += 1
        return row

    def label(self, key: tuple, mechanism: str, rows: list[dict]) -> None:
        self.lab.clusters[key] = {"mechanism": mechanism, "ids": sorted(r["id"] for r in rows)}


def generate(seed: int, with_xmin: bool) -> Labelled:
    """Build the rows and ground truth for one labelled table (``with_xmin``: include same_transaction)."""
    rng = random.Random(seed)
    keys = rng.choice(NAMES["key"])
    lab = Labelled(
        table=f"labelled_{seed}", keys=keys, ts=rng.choice(NAMES["ts"]),
        writers={role: rng.choice(NAMES[role]) for role in _roles(rng)},
        window="5s",
    )
    w = _Writer(lab, rng)
    day = datetime(2026, 9, 1, tzinfo=UTC)
    counter = iter(range(1, 10**7))

    def fresh_key(when: datetime) -> tuple:
        return (next(counter), when.date().isoformat())

    def batch(start: datetime, size: int, spacing_ms: float, writers: list[tuple], offset_s: list[float],
              mechanism: str, duplicated_share: float = 1.0) -> None:
        keys_ = [fresh_key(start) for _ in range(size)]
        txns: list[list[dict]] = [[] for _ in writers]
        doubled = set(rng.sample(range(size), max(1, int(size * duplicated_share))))
        for n, key in enumerate(keys_):
            base = start + timedelta(milliseconds=spacing_ms * n)
            amount = rng.randint(1, 10**6)
            written = []
            for i, (writer, off) in enumerate(zip(writers, offset_s, strict=True)):
                if i > 0 and n not in doubled:
                    continue
                row = w.row(key, base + timedelta(seconds=off) + timedelta(microseconds=rng.randint(0, 3000)),
                            *writer, amount)
                txns[i].append(row)
                written.append(row)
            if len(written) > 1:
                w.label(key, mechanism, written)
        lab.transactions.extend(t for t in txns if t)

    app = "ledger-sync"
    v1, v2 = f"1.{rng.randint(2, 9)}.{rng.randint(0, 9)}", f"2.{rng.randint(0, 4)}.{rng.randint(0, 9)}"
    for episode in range(rng.randint(2, 3)):
        start = day + timedelta(days=episode * 7, hours=1)
        # a rolling deploy: the old pod and the new one both fire the job (only knowable with a version column)
        if "version" in lab.writers:
            batch(start, rng.randint(15, 120), rng.uniform(5, 40),
                  [("pod-old", "1", f"r{episode}a", v1, app), ("pod-new", "1", f"r{episode}b", v2, app)],
                  [0.0, rng.uniform(0.05, 2.5)], "deploy_overlap", rng.uniform(0.3, 1.0))
        # a standby host with a live crontab
        start = day + timedelta(days=episode * 7 + 1, hours=2, minutes=30)
        batch(start, rng.randint(20, 200), rng.uniform(5, 60),
              [("batch-01", str(rng.randint(100, 999)), f"n{episode}", v1, app),
               ("batch-02", str(rng.randint(100, 999)), f"n{episode}", v1, app)],
              [0.0, rng.uniform(0.2, 3.0)], "multi_host", rng.uniform(0.05, 1.0))
        # a forgotten /etc/cron.d entry beside the systemd timer: the whole batch twice on one host
        start = day + timedelta(days=episode * 7 + 2)
        batch(start, rng.randint(30, 250), rng.uniform(3, 30),
              [("etl-01", str(rng.randint(1000, 4000)), f"timer-{episode}", v1, app),
               ("etl-01", str(rng.randint(4001, 9000)), f"cron-{episode}", v1, app)],
              [0.0, rng.uniform(0.5, 4.0)], "duplicate_run")
        _worker_pool(w, lab, rng, day + timedelta(days=episode * 7 + 3, hours=9), fresh_key, v1, app)
        _redeliveries(w, lab, rng, day + timedelta(days=episode * 7 + 4, hours=6), fresh_key, v1, app)
        if with_xmin:
            _app_bug(w, lab, rng, day + timedelta(days=episode * 7 + 5, hours=11), fresh_key, v1, app)
    _decoys(w, lab, rng, day + timedelta(days=30), fresh_key, v1, app)
    return lab


def _roles(rng: random.Random) -> list[str]:
    """Which writer columns this table has: always a host, a pid or a run id or both, the rest by chance."""
    roles = ["host", *rng.choice([["process"], ["run"], ["process", "run"]])]
    roles += [role for role in ("version", "app") if rng.random() < 0.6]
    return roles


def _worker_pool(w, lab, rng, start, fresh_key, version, app) -> None:
    """A pool of workers writing one key per claim; a few claims race (check-then-act)."""
    workers = [f"w{i}" for i in range(rng.randint(4, 12))]
    at = start
    size = rng.randint(300, 900)
    races = set(rng.sample(range(size), rng.randint(2, 6)))
    for n in range(size):
        at += timedelta(milliseconds=rng.uniform(200, 1500))
        key = fresh_key(at)
        first_worker = rng.choice(workers)
        row = w.row(key, at, "app-1", first_worker, "pool", version, app, rng.randint(1, 10**6))
        lab.transactions.append([row])
        if n in races:
            other = rng.choice([x for x in workers if x != first_worker])
            twin = w.row(key, at + timedelta(microseconds=rng.randint(3, 900)), "app-1", other, "pool", version,
                         app, row["amount"])
            lab.transactions.append([twin])
            w.label(key, "worker_race", [row, twin])


def _redeliveries(w, lab, rng, start, fresh_key, version, app) -> None:
    """A consumer handling messages; a few are redelivered and handled again by the same consumer."""
    consumers = [("consumer-a", "11"), ("consumer-b", "12")]
    at = start
    size = rng.randint(150, 500)
    again = set(rng.sample(range(size), rng.randint(2, 5)))
    for n in range(size):
        at += timedelta(milliseconds=rng.uniform(500, 3000))
        key = fresh_key(at)
        host, pid = rng.choice(consumers)
        row = w.row(key, at, host, pid, "consume", version, app, rng.randint(1, 10**6))
        lab.transactions.append([row])
        if n in again:
            twin = w.row(key, at + timedelta(seconds=rng.uniform(0.4, 4.0)), host, pid, "consume", version, app,
                         row["amount"])
            lab.transactions.append([twin])
            w.label(key, "retry", [row, twin])


def _app_bug(w, lab, rng, start, fresh_key, version, app) -> None:
    """An application loop that inserts some keys twice inside one transaction."""
    at = start
    for _ in range(rng.randint(2, 5)):
        at += timedelta(minutes=rng.uniform(1, 4))
        key = fresh_key(at)
        row = w.row(key, at, "api-1", "77", "req", version, app, rng.randint(1, 10**6))
        twin = w.row(key, at + timedelta(microseconds=rng.randint(20, 4000)), "api-1", "77", "req", version, app,
                     row["amount"])
        lab.transactions.append([row, twin])
        w.label(key, "same_transaction", [row, twin])


def _decoys(w, lab, rng, start, fresh_key, version, app) -> None:
    """Far duplicates (a key written again hours later), many keys at one instant, NULL keys."""
    for n in range(rng.randint(2, 6)):
        key = fresh_key(start)
        at = start + timedelta(minutes=n)
        first = w.row(key, at, "batch-01", "1", "d", version, app, 5)
        later = w.row(key, at + timedelta(hours=rng.randint(1, 20)), "batch-01", "2", "e", version, app, 5)
        lab.transactions.append([first])
        lab.transactions.append([later])
        lab.far_keys.add(key)
    instant = start + timedelta(hours=23)
    lab.transactions.append([w.row(fresh_key(instant), instant, "batch-01", "3", "f", version, app, 1)
                             for _ in range(rng.randint(10, 40))])
    nulls = []
    for _ in range(3):
        row = w.row((None, instant.date().isoformat()), instant, "batch-01", "3", "f", version, app, 1)
        nulls.append(row)
    lab.transactions.append(nulls)


def write(url: str, lab: Labelled) -> None:
    """Create the labelled table at ``url`` and insert its rows, one transaction per writer transaction."""
    md = sa.MetaData()
    aware = True
    table = sa.Table(
        lab.table, md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(lab.keys[0], sa.Integer),
        sa.Column(lab.keys[1], sa.String(10)),
        sa.Column(lab.ts, sa.DateTime(timezone=aware)),
        *(sa.Column(col, sa.String(40)) for col in lab.writers.values()),
        sa.Column("amount", sa.Integer),
    )
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            md.drop_all(conn)
            md.create_all(conn)
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                for txn in sorted(lab.transactions, key=lambda t: t[0][lab.ts]):
                    conn.execute(table.insert(), txn)
                    conn.commit()
        else:
            with engine.begin() as conn:
                conn.execute(table.insert(), [r for t in lab.transactions for r in t])
    finally:
        engine.dispose()
