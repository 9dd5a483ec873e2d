"""The scenarios: each lets real software write a table and returns the Truth about what it holds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from real.batch import create_table
from real.scenario import Truth, duplicate_groups, finish, release, spawn


def two_launchers(url: str, work: Path, batch: int = 400, other_keys: int = 0, name: str = "launcher",
                  stagger: float = 0.0) -> dict:
    """One export script started twice a minute by two launchers on one host (a cron.d line beside the
    crontab): each run writes the whole batch, to PostgreSQL and, row by row beside it, to a SQLite file.
    With ``other_keys``, another job of the first launcher writes that many other keys into the same
    tables in the same minute. ``stagger``: the second launcher fires that many seconds after the first (a
    systemd timer beside the crontab fires within its AccuracySec, a minute by default), so how the two
    runs interleave does not hang on which process the machine schedules first. Returns the Truth of the
    PostgreSQL table (``name``) and of the SQLite one (``name``_sqlite)."""
    table = "export_records"
    sqlite = work / "exports.db"
    create_table(url, table, sqlite)
    runs, barrier = work / "runs.jsonl", work / "barrier"
    barrier.mkdir()
    export = ["-m", "real.batch", "--url", url, "--table", table, "--count", str(batch), "--runs", str(runs),
              "--job", "export", "--sqlite", str(sqlite)]
    other = ["-m", "real.batch", "--url", url, "--table", table, "--first", "5000", "--count", str(other_keys),
             "--runs", str(runs), "--job", "ledger-sync", "--sqlite", str(sqlite)]
    env = {"SCENARIO_HOSTNAME": "batch-01"}
    procs = [spawn("launcher", "--name", "crontab", "--barrier", str(barrier), "--log", str(work / "crontab.log"),
                   "--commands", json.dumps([export, other] if other_keys else [export]), **env),
             spawn("launcher", "--name", "cron.d", "--barrier", str(barrier), "--log", str(work / "cron.d.log"),
                   "--commands", json.dumps([export]), "--delay", str(stagger), **env)]
    release(barrier, ["crontab", "cron.d"])
    finish(procs)
    truths = {}
    for each, db in ((name, url), (f"{name}_sqlite", f"sqlite:///{sqlite}")):
        groups = duplicate_groups(db, table, ("item_id", "export_date"))
        assert len(groups) == batch, f"{each}: expected the {batch} keys written twice, the table holds {len(groups)}"
        truths[each] = Truth(url=db, table=table, keys=("item_id", "export_date"), ts="created_at",
                             clusters=dict.fromkeys(groups, "duplicate_run"),
                             writers={"host": "host", "process": "pid", "run": "run_id"}, window="10s",
                             logs={"runs": runs, "scheduler": work / "crontab.log"},
                             facts={"batch": batch, "other_keys": other_keys, "stagger": stagger})
    return truths


def lockstep_hosts(url: str, work: Path, batch: int = 200, pace: float = 0.01) -> Truth:
    """Two hosts (batch-a, batch-b) whose cron-like launchers both start the export at the same minute, each
    writing the whole batch paced by the clock from the same moment: each key's two copies milliseconds apart,
    the hosts' rows alternating in insertion order (host, pid and run id change at nearly every row)."""
    table = "export_records"
    create_table(url, table)
    runs, barrier = work / "runs.jsonl", work / "barrier"
    barrier.mkdir()
    export = ["-m", "real.batch", "--url", url, "--table", table, "--count", str(batch), "--runs", str(runs),
              "--job", "export", "--pace", str(pace), "--lockstep", str(barrier)]
    hosts = ["batch-a", "batch-b"]
    procs = [spawn("launcher", "--name", host, "--barrier", str(barrier), "--log", str(work / f"{host}.log"),
                   "--commands", json.dumps([export]), SCENARIO_HOSTNAME=host) for host in hosts]
    release(barrier, hosts)
    finish(procs)
    return _both_hosts(url, table, batch, {"runs": runs, "scheduler": work / "batch-a.log"}, pace=pace)


def night_triple_write(url: str, work: Path, batch: int = 120, stagger: float = 1.5) -> Truth:
    """The night triple write: host-a carries the export twice (a crontab line and a systemd timer, which fires
    ``stagger`` seconds later, within its AccuracySec) and host-b carries it once (a warm standby's live cron).
    Each run writes the whole batch, so every key is written three times: twice by host-a's two runs, once by
    host-b. Labelled multi_host (two hosts ran the job); the second launcher on host-a is what the words must
    say too (a person who disables host-b's cron still writes every key twice)."""
    table = "export_records"
    create_table(url, table)
    runs, barrier = work / "runs.jsonl", work / "barrier"
    barrier.mkdir()
    export = ["-m", "real.batch", "--url", url, "--table", table, "--count", str(batch), "--runs", str(runs),
              "--job", "export"]
    launchers = [("crontab", "host-a", 0.0), ("systemd-timer", "host-a", stagger), ("standby-cron", "host-b", 0.3)]
    procs = [spawn("launcher", "--name", name, "--barrier", str(barrier), "--log", str(work / f"{name}.log"),
                   "--commands", json.dumps([export]), "--delay", str(delay), SCENARIO_HOSTNAME=host)
             for name, host, delay in launchers]
    release(barrier, [name for name, _, _ in launchers])
    finish(procs)
    groups = duplicate_groups(url, table, ("item_id", "export_date"))
    assert len(groups) == batch and all(len(g) == 3 for g in groups), \
        f"expected the {batch} keys written three times, the table holds {sorted(map(len, groups))[:5]}..."
    return Truth(url=url, table=table, keys=("item_id", "export_date"), ts="created_at",
                 clusters=dict.fromkeys(groups, "multi_host"),
                 writers={"host": "host", "process": "pid", "run": "run_id"}, window="10s",
                 logs={"runs": runs}, facts={"batch": batch, "launchers": launchers})


def _both_hosts(url: str, table: str, batch: int, logs: dict[str, Path], **facts) -> Truth:
    """The Truth of an export table two hosts each wrote whole: every key of the batch twice, multi_host."""
    groups = duplicate_groups(url, table, ("item_id", "export_date"))
    assert len(groups) == batch, f"expected the {batch} keys written by both hosts, the table holds {len(groups)}"
    return Truth(url=url, table=table, keys=("item_id", "export_date"), ts="created_at",
                 clusters=dict.fromkeys(groups, "multi_host"),
                 writers={"host": "host", "process": "pid", "run": "run_id"}, window="10s", logs=logs,
                 facts={"batch": batch, **facts})


def two_schedulers_claim(url: str, work: Path, invoices: int = 240, oldest: bool = False,
                         collide_every: int | None = None) -> Truth:
    """One check-then-act job (charge every pending invoice) on two APScheduler hosts, sched-a and sched-b,
    firing at the same moment: both read the same pending invoices and charge them (real/claim_job.py).
    ``oldest``: each takes the oldest pending invoice one at a time, so only the invoices both read before
    either marked them are charged twice. ``invoices``: 240, so a host woken late on a loaded machine still
    overlaps most of the other's run (with 120, at load 7 on 2 cores, one host started when the other had
    nearly finished and they collided on 4 invoices, which failed the scenario). How many they collide on is
    left to the run, unless ``collide_every`` keeps the phases apart: each host claims by the clock, sched-b half
    a period after sched-a except every ``collide_every``-th period (claim_job.claim_time), so the hosts take
    turns and collide on about one claim in that many (a few percent of their rows, as two workers of a pool
    collide). Both hosts must have run the job."""
    import json

    import psycopg

    from real.batch import libpq
    from real.claim_job import SCHEMA

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(SCHEMA % {"invoices": invoices})
    runs, barrier = work / "runs.jsonl", work / "barrier"
    barrier.mkdir()
    hosts = ["sched-a", "sched-b"]
    apart = ["--collide-every", str(collide_every)] if collide_every else []
    procs = [spawn("claim_job", "--url", url, "--barrier", str(barrier), "--log", str(work / f"{h}.log"),
                   "--runs", str(runs), *(["--oldest"] if oldest else []), *apart, log=work / f"{h}.out",
                   SCENARIO_HOSTNAME=h) for h in hosts]
    release(barrier, hosts, lead=3.0)  # both schedulers started well before the firing, on a loaded machine too
    finish(procs)
    ran = sorted(json.loads(line)["host"] for line in runs.read_text().splitlines())
    assert ran == hosts, f"the job ran on {ran}, not once on each of {hosts}"
    groups = duplicate_groups(url, "invoice_charges", ("invoice_id",))
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        per_host = dict(conn.execute("SELECT host, count(*) FROM invoice_charges GROUP BY host").fetchall())
    return Truth(url=url, table="invoice_charges", keys=("invoice_id",), ts="created_at",
                 clusters=dict.fromkeys(groups, "multi_host"), writers={"host": "host", "process": "worker_pid"},
                 window="2s", logs={"runs": runs},
                 facts={"invoices": invoices, "charged_twice": len(groups), "collide_every": collide_every,
                        "pair_share": _pair_share(len(groups), per_host, hosts)})


def _pair_share(collided: int, per_host: dict[str, int], hosts: list[str]) -> float:
    """The smaller share of its own rows each host wrote again (what timing.host_pair reads): how far apart
    the two schedulers' phases fell in this run (25% to 98% in fifteen runs; 0 when one host found nothing
    left to charge)."""
    return min(collided / per_host[h] if per_host.get(h) else 0.0 for h in hosts)


def shared_job_store(url: str, work: Path, batch: int = 300, run_id: str | None = None) -> Truth:
    """Two APScheduler processes (hosts sched-a and sched-b) sharing one SQLAlchemyJobStore: both run the
    nightly export, each writing the whole batch, row by row. With ``run_id`` both record that one logical run
    id, the way two Airflow schedulers both executing one DAG run record its ``dag_run_id``, and the table keeps
    the host and that run id only."""
    from datetime import UTC, datetime, timedelta

    import psycopg
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from real.batch import CSV_FIELDS, libpq
    from real.scenario import wait_for
    from real.shared_store import JOBS_TABLE

    table = "export_records"
    create_table(url, table)
    runs, barrier = work / "runs.csv", work / "barrier"
    runs.write_text(",".join(CSV_FIELDS) + "\n")
    barrier.mkdir()
    hosts = ["sched-a", "sched-b"]
    procs = [spawn("shared_store", "--url", url, "--barrier", str(barrier), "--log", str(work / f"{h}.log"),
                   *(["--blocking"] if h == "sched-b" else []), log=work / f"{h}.out", SCENARIO_HOSTNAME=h)
             for h in hosts]
    # the operator deploys the job once into the shared store, first run a moment after both are up
    wait_for(lambda: all((barrier / f"{h}.ready").exists() for h in hosts), 120, "both schedulers ready")
    store = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=url, tablename=JOBS_TABLE)},
                                timezone="UTC")
    store.start(paused=True)
    store.add_job("real.shared_store:nightly_export", "interval", hours=24, id="nightly_export",
                  start_date=datetime.now(UTC) + timedelta(seconds=1.5), args=[url, table, batch, str(runs), run_id],
                  misfire_grace_time=300)
    store.shutdown()
    lock = psycopg.connect(libpq(url))
    lock.execute(f"LOCK TABLE {JOBS_TABLE} IN EXCLUSIVE MODE")  # reads pass; next-run-time updates wait
    try:
        release(barrier, hosts, lead=0.0)
        wait_for(lambda: runs.read_text().count("\n") >= 3, 120, "both hosts' runs recorded")
    finally:
        lock.commit()
        lock.close()
    finish(procs)
    truth = _both_hosts(url, table, batch, {"runs": runs, "scheduler": work / "sched-a.log",
                                            "scheduler_b": work / "sched-b.log"})
    if run_id is None:
        return truth
    # a DAG's table records the host and the DAG run, not the task's pid (the stranger's table)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} DROP COLUMN pid")
    return replace(truth, writers={"host": "host", "run": "run_id"})


def process_pool(url: str, work: Path, fixed: bool, jobs: int = 20_000, think: float = 0.0, workers: int = 8,
                 page: int = 200) -> Truth:
    """``workers`` pool processes claim ``jobs`` jobs: check-then-act (a worker race), or the fixed atomic
    claim. ``think``: seconds each worker rests between jobs; ``page``: how many of the oldest open jobs a
    worker picks among (1: every worker takes the oldest pending job, and nearly every job is charged by
    several workers)."""
    runs = work / "runs.jsonl"
    log = work / "pool.log"
    finish([spawn("pool", "--url", url, "--jobs", str(jobs), "--runs", str(runs), "--think", str(think),
                  "--workers", str(workers), "--page", str(page), *(["--fixed"] if fixed else []), log=log)],
           timeout=300)
    groups = duplicate_groups(url, "charges", ("job_id",))
    if fixed:
        assert groups == [], f"the atomic claim still charged {len(groups)} job(s) twice"
    else:
        assert len(groups) >= 5, f"the racy pool charged only {len(groups)} job(s) twice: no race to find"
    return Truth(url=url, table="charges", keys=("job_id",), ts="created_at",
                 clusters=dict.fromkeys(groups, "worker_race"), writers={"host": "host", "process": "pid"},
                 window="2s", logs={"runs": runs}, facts={"jobs": jobs, "pool": log.read_text().strip()})


def timeout_retry(url: str, work: Path, payments: int = 90, every: int = 15) -> Truth:
    """One process posts ``payments`` payments; every ``every``-th times out on a slow server and is posted
    again while the first attempt still commits: each of those keys written twice by one process, a
    constant ~1 s apart (real/timeout_retry.py)."""
    runs = work / "runs.jsonl"
    finish([spawn("timeout_retry", "--url", url, "--payments", str(payments), "--every", str(every),
                  "--runs", str(runs), log=work / "payments.log")])
    groups = duplicate_groups(url, "payments", ("payment_ref",))
    assert len(groups) == payments // every, f"expected {payments // every} payments posted twice, got {len(groups)}"
    return Truth(url=url, table="payments", keys=("payment_ref",), ts="posted_at",
                 clusters=dict.fromkeys(groups, "retry"), writers={"host": "host", "process": "pid"},
                 window="2s", logs={"runs": runs}, facts={"payments": payments, "retried": len(groups)})


def rolling_deploy(url: str, work: Path, slots: int = 8, overlap: tuple[int, int] = (3, 4),
                   batch: int = 50) -> Truth:
    """Release 1.4.2 runs slots 0..overlap[1], release 1.5.0 slots overlap[0]..slots-1: both ran the job in
    the overlap, each writing that slot's whole batch."""
    table = "slot_exports"
    create_table(url, table)
    runs, barrier = work / "runs.jsonl", work / "barrier"
    barrier.mkdir()
    pods = [("export-7f9c", "1.4.2", 0, overlap[1]), ("export-5d2a", "1.5.0", overlap[0], slots - 1)]
    procs = [spawn("deploy", "--url", url, "--table", table, "--pod", pod, "--version", version,
                   "--first", str(first), "--last", str(last), "--count", str(batch), "--barrier", str(barrier),
                   "--runs", str(runs), "--log", str(work / f"{pod}.log"))
             for pod, version, first, last in pods]
    release(barrier, [p[0] for p in pods])
    finish(procs)
    groups = duplicate_groups(url, table, ("item_id", "export_date"))
    both = overlap[1] - overlap[0] + 1
    assert len(groups) == both * batch, f"expected {both} slots written by both releases, got {len(groups)} keys"
    return Truth(url=url, table=table, keys=("item_id", "export_date"), ts="created_at",
                 clusters=dict.fromkeys(groups, "deploy_overlap"),
                 writers={"host": "host", "process": "pid", "run": "run_id", "version": "version"}, window="10s",
                 logs={"runs": runs}, facts={"slots": slots, "overlap": overlap, "batch": batch})


DST_TABLES = {"pg_timestamptz": ("pg", "events_tz"), "pg_naive_utc": ("pg", "events_utc"),
              "pg_naive_local": ("pg", "events_local"), "sqlite_naive_utc": ("sqlite", "events_utc"),
              "sqlite_naive_local": ("sqlite", "events_local")}


def dst_night(pg_url: str, work: Path, accounts: int = 60) -> dict[str, Truth]:
    """APScheduler's local-time cron trigger fires twice on a fall-back night (clock simulated): one Truth
    per column kind and engine."""
    sqlite_path = work / "night.db"
    runs, log = work / "runs.jsonl", work / "scheduler.log"
    finish([spawn("dst_night", "--pg-url", pg_url, "--sqlite", str(sqlite_path), "--accounts", str(accounts),
                  "--runs", str(runs), "--log", str(log), log=work / "dst_night.out")])
    truths = {}
    for name, (engine, table) in DST_TABLES.items():
        url = pg_url if engine == "pg" else f"sqlite:///{sqlite_path}"
        groups = duplicate_groups(url, table, ("account", "business_date"))
        assert len(groups) == accounts, f"{name}: expected {accounts} accounts written twice, got {len(groups)}"
        truths[name] = Truth(url=url, table=table, keys=("account", "business_date"), ts="ts",
                             clusters=dict.fromkeys(groups, "dst_fallback"),
                             writers={"host": "host", "process": "pid"}, window="2s",
                             timezone="America/New_York", logs={"runs": runs, "scheduler": log},
                             facts={"accounts": accounts})
    return truths


CELERY_VARIANTS = {"celery_redelivery_other_child": ("charges_other", 4), "celery_redelivery_same_process": (
    "charges_same", 1)}


def celery_redelivery(url: str, broker: str, work: Path, fast: int = 40, slow: int = 2) -> dict[str, Truth]:
    """Two Celery prefork workers (concurrency 4 and 1) over redis with acks_late and a 2 s visibility
    timeout. Orders are sent in three waves: fast ones, then ``slow`` orders whose first attempt outlasts
    the visibility timeout (redelivered: with four children to an idle other child, with one child to the
    same process once it is free), then fast ones again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psycopg

    from real.batch import libpq
    from real.celery_app import SCHEMA, make_app
    from real.scenario import child_env, wait_for

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for table, _ in CELERY_VARIANTS.values():
            conn.execute(SCHEMA.format(table=table))
    workers = []
    for name, (table, concurrency) in CELERY_VARIANTS.items():
        log = work / f"{name}.log"
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "real.celery_app", "worker", "--pool=prefork",
             f"--concurrency={concurrency}", "-Q", table, "-n", f"{table}@ci", "--loglevel=INFO",
             f"--logfile={log}", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=child_env(SCENARIO_BROKER=broker, TZ="UTC"), cwd=str(work), stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT))
    sender = make_app(broker)

    def rows(table: str) -> int:
        with psycopg.connect(libpq(url)) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def wave(orders: range, slow_ones: bool, expect_rows: int) -> None:
        for table, _ in CELERY_VARIANTS.values():
            for order in orders:
                sender.send_task("charge", args=[url, table, order, slow_ones], queue=table)
        for table, _ in CELERY_VARIANTS.values():
            wait_for(lambda t=table: rows(t) >= expect_rows, 90, f"{table}: {expect_rows} rows")

    try:
        wave(range(1, fast + 1), False, fast)
        time.sleep(0.3)  # the slow orders come a moment later
        wave(range(1000, 1000 + slow), True, fast + 2 * slow)
        wave(range(fast + 1, 2 * fast + 1), False, 2 * fast + 2 * slow)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(w.pid, signal.SIGKILL)
                w.wait()
    truths = {}
    for name, (table, _) in CELERY_VARIANTS.items():
        groups = duplicate_groups(url, table, ("order_id",))
        assert len(groups) == slow, f"{name}: expected the {slow} slow orders charged twice, got {len(groups)}"
        assert rows(table) == 2 * fast + 2 * slow, f"{name}: unexpected extra deliveries"
        truths[name] = Truth(url=url, table=table, keys=("order_id",), ts="created_at",
                             clusters=dict.fromkeys(groups, "retry"),
                             writers={"host": "host", "process": "pid", "run": "task_id"}, window="10s",
                             logs={"worker": work / f"{name}.log"}, facts={"fast": 2 * fast, "slow": slow})
    return truths


def celery_kill(url: str, broker: str, work: Path, orders: int = 60, hold: float = 0.3) -> Truth:
    """Two Celery prefork workers on two hosts (worker-a, worker-b; two children each) consume one queue with
    acks_late and a 2 s visibility timeout. Each task writes its row, then holds the message ``hold`` s.
    worker-a is killed (SIGKILL, the whole process group: an OOM kill or a node lost) once it has written a
    sixth of the orders: the tasks its children were holding had written their rows and were never
    acknowledged, so kombu delivers them again to worker-b after the visibility timeout (a redelivery,
    retry)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psycopg

    from real.batch import libpq, now_iso, record_run
    from real.celery_app import SCHEMA, VISIBILITY_TIMEOUT, make_app
    from real.scenario import child_env, wait_for

    table = "settlements_killed"
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(SCHEMA.format(table=table))

    def query(sql: str):
        with psycopg.connect(libpq(url)) as conn:
            return conn.execute(sql).fetchone()

    workers = {}
    for host in ("worker-a", "worker-b"):
        workers[host] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "real.celery_app", "worker", "--pool=prefork", "--concurrency=2",
             "-Q", table, "-n", f"{host}@ci", "--loglevel=INFO", f"--logfile={work / host}.log",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=child_env(SCENARIO_BROKER=broker, TZ="UTC"), cwd=str(work), stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT, start_new_session=True)
    started = {host: now_iso() for host in workers}
    sender = make_app(broker)
    try:
        for order in range(1, orders + 1):
            sender.send_task("settle", args=[url, table, order, hold], queue=table)
        wait_for(lambda: query(f"SELECT count(*) FROM {table} WHERE host LIKE 'worker-a%'")[0] >= orders // 6, 90,
                 "worker-a settling")
        os.killpg(workers["worker-a"].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        ended = {"worker-a": now_iso()}
        workers["worker-a"].wait()
        wait_for(lambda: query(f"SELECT count(DISTINCT order_id) FROM {table}")[0] == orders, 90, "every order")
        # the killed tasks come back once the visibility timeout has passed; then nothing more changes
        time.sleep(max(0.0, killed_at + VISIBILITY_TIMEOUT + 3 - time.monotonic()))
        wait_for(lambda: not _settling(query, table, hold), 30, "the queue drained")
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers.values():
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    # the supervisor's log: each worker's lifetime as one run of the consumer
    runs = work / "consumers.jsonl"
    for host, worker in workers.items():
        record_run(runs, job="settlement-consumer", start=started[host], end=ended.get(host) or now_iso(),
                   host=f"{host}@ci", process=worker.pid, run=f"{host}-{worker.pid}")
    groups = duplicate_groups(url, table, ("order_id",))
    assert groups, "worker-a was killed between its tasks: no message was written and delivered again"
    hosts = query(f"SELECT count(DISTINCT host) FROM {table} WHERE order_id IN "
                  f"(SELECT order_id FROM {table} GROUP BY order_id HAVING count(*) > 1)")[0]
    assert hosts == 2, "a killed task came back to worker-a"
    return Truth(url=url, table=table, keys=("order_id",), ts="created_at", clusters=dict.fromkeys(groups, "retry"),
                 writers={"host": "host", "process": "pid", "run": "task_id"}, window="10s",
                 logs={"worker": work / "worker-b.log", "runs": runs},
                 facts={"orders": orders, "killed": len(groups), "host_and_log": True})


def _settling(query, table: str, hold: float) -> bool:
    """Whether a row was written within the last two holds (a task may still be settling)."""
    return bool(query(f"SELECT count(*) FROM {table} WHERE created_at > clock_timestamp() - "
                      f"interval '{2 * hold} seconds'")[0])
