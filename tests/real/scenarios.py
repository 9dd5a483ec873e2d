"""The scenarios: each lets real software write a table and returns the Truth about what it holds."""

from __future__ import annotations

import json
from pathlib import Path

from real.batch import create_table
from real.scenario import Truth, duplicate_groups, finish, release, spawn


def two_launchers(url: str, work: Path, batch: int = 400, other_keys: int = 0) -> Truth:
    """One export script started twice a minute by two launchers on one host (a cron.d line beside the
    crontab): each run writes the whole batch. With ``other_keys``, another job of the first launcher
    writes that many other keys into the same table in the same minute."""
    table = "export_records"
    create_table(url, table)
    runs, barrier = work / "runs.jsonl", work / "barrier"
    barrier.mkdir()
    export = ["-m", "real.batch", "--url", url, "--table", table, "--count", str(batch), "--runs", str(runs),
              "--job", "export"]
    other = ["-m", "real.batch", "--url", url, "--table", table, "--first", "5000", "--count", str(other_keys),
             "--runs", str(runs), "--job", "ledger-sync"]
    env = {"SCENARIO_HOSTNAME": "batch-01"}
    procs = [spawn("launcher", "--name", "crontab", "--barrier", str(barrier), "--log", str(work / "crontab.log"),
                   "--commands", json.dumps([export, other] if other_keys else [export]), **env),
             spawn("launcher", "--name", "cron.d", "--barrier", str(barrier), "--log", str(work / "cron.d.log"),
                   "--commands", json.dumps([export]), **env)]
    release(barrier, ["crontab", "cron.d"])
    finish(procs)
    groups = duplicate_groups(url, table, ("item_id", "export_date"))
    assert len(groups) == batch, f"expected the {batch} keys of the batch written twice, the table holds {len(groups)}"
    return Truth(url=url, table=table, keys=("item_id", "export_date"), ts="created_at",
                 clusters=dict.fromkeys(groups, "duplicate_run"),
                 writers={"host": "host", "process": "pid", "run": "run_id"}, window="10s",
                 logs={"runs": runs, "scheduler": work / "crontab.log"},
                 facts={"batch": batch, "other_keys": other_keys})


def shared_job_store(url: str, work: Path, batch: int = 300) -> Truth:
    """Two APScheduler processes (hosts sched-a and sched-b) sharing one SQLAlchemyJobStore: both run the
    nightly export, each writing the whole batch, row by row."""
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
                   SCENARIO_HOSTNAME=h) for h in hosts]
    # the operator deploys the job once into the shared store, first run a moment after both are up
    wait_for(lambda: all((barrier / f"{h}.ready").exists() for h in hosts), 120, "both schedulers ready")
    store = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=url, tablename=JOBS_TABLE)},
                                timezone="UTC")
    store.start(paused=True)
    store.add_job("real.shared_store:nightly_export", "interval", hours=24, id="nightly_export",
                  start_date=datetime.now(UTC) + timedelta(seconds=1.5), args=[url, table, batch, str(runs)],
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
    groups = duplicate_groups(url, table, ("item_id", "export_date"))
    assert len(groups) == batch, f"expected the {batch} keys written by both hosts, the table holds {len(groups)}"
    return Truth(url=url, table=table, keys=("item_id", "export_date"), ts="created_at",
                 clusters=dict.fromkeys(groups, "multi_host"),
                 writers={"host": "host", "process": "pid", "run": "run_id"}, window="10s",
                 logs={"runs": runs, "scheduler": work / "sched-a.log", "scheduler_b": work / "sched-b.log"},
                 facts={"batch": batch})


def process_pool(url: str, work: Path, fixed: bool, jobs: int = 20_000) -> Truth:
    """Eight pool processes claim ``jobs`` jobs: check-then-act (a worker race), or the fixed atomic claim."""
    runs = work / "runs.jsonl"
    log = work / "pool.log"
    finish([spawn("pool", "--url", url, "--jobs", str(jobs), "--runs", str(runs),
                  *(["--fixed"] if fixed else []), log=log)], timeout=300)
    groups = duplicate_groups(url, "charges", ("job_id",))
    if fixed:
        assert groups == [], f"the atomic claim still charged {len(groups)} job(s) twice"
    else:
        assert len(groups) >= 5, f"the racy pool charged only {len(groups)} job(s) twice: no race to find"
    return Truth(url=url, table="charges", keys=("job_id",), ts="created_at",
                 clusters=dict.fromkeys(groups, "worker_race"), writers={"host": "host", "process": "pid"},
                 window="2s", logs={"runs": runs}, facts={"jobs": jobs, "pool": log.read_text().strip()})


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
