"""Fixtures of the real-software scenarios: one database per scenario on the suite's PostgreSQL, a redis
server for Celery, and the per-scenario score table printed at the end of the run."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace

import pytest
import sqlalchemy as sa
from redis_server import start_redis

from real import scenarios
from real.scenario import SCORES, Truth, drop_writer_columns, scan

_names = itertools.count()


@pytest.fixture(scope="session")
def new_database(pg_server):
    """Make a fresh PostgreSQL database (dropped at the end of the session) and return its URL."""
    made: list[str] = []

    def make() -> str:
        name = f"real{os.getpid()}_{next(_names)}"
        admin = sa.create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        made.append(name)
        return pg_server.url(name)

    yield make
    admin = sa.create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in made:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _run_group(group: str, new_database, work, request) -> dict[str, Truth]:
    if group == "dst":
        return {f"dst_night_{name}": truth for name, truth in scenarios.dst_night(new_database(), work).items()}
    if group == "celery":
        return scenarios.celery_redelivery(new_database(), request.getfixturevalue("redis_url"), work)
    if group == "celery_kill":
        return {group: scenarios.celery_kill(new_database(), request.getfixturevalue("redis_url"), work)}
    runners = {
        "apscheduler_shared_store": lambda: scenarios.shared_job_store(new_database(), work),
        # the same two schedulers recording one logical run id, as Airflow's dag_run_id ("one run wrote every
        # copy" read a retry at 85% in a stranger's Airflow setup)
        "apscheduler_dag_run": lambda: scenarios.shared_job_store(new_database(), work, 5,
                                                                 run_id="scheduled__2026-11-20T00:00:00+00:00"),
        "launcher_twice_400": lambda: scenarios.two_launchers(new_database(), work, 400, 0, group),
        "launcher_twice_diluted": lambda: scenarios.two_launchers(new_database(), work, 40, 260, group, stagger=2.5),
        # each worker rests 2 ms between jobs: eight spinning processes saturated two shared cores, and a worker
        # stalled between its check and its insert wrote a copy that reads as a redelivery (docs/attribution.md)
        "pool_check_then_act": lambda: scenarios.process_pool(new_database(), work, fixed=False, think=0.002),
        "pool_atomic_claim": lambda: scenarios.process_pool(new_database(), work, fixed=True, think=0.002),
        # six workers each taking the oldest pending job (a review's multiprocessing.Pool): nearly every job is
        # charged by two to six of them, milliseconds apart
        "pool_oldest_pending": lambda: scenarios.process_pool(new_database(), work, fixed=False, jobs=400,
                                                              think=0.002, workers=6, page=1),
        "timeout_retry": lambda: scenarios.timeout_retry(new_database(), work),
        # two hosts writing the same batch in lockstep: their writer columns change at nearly every row
        "lockstep_hosts": lambda: scenarios.lockstep_hosts(new_database(), work),
        # one check-then-act job on two scheduler hosts firing together: both charge the same pending invoices
        "two_schedulers_claim": lambda: scenarios.two_schedulers_claim(new_database(), work, oldest=True),
        # the same with the two schedulers' phases kept apart: they take turns and collide on one claim in sixteen
        "two_schedulers_claim_apart": lambda: scenarios.two_schedulers_claim(new_database(), work, 320, oldest=True,
                                                                             collide_every=16),
        "rolling_deploy": lambda: scenarios.rolling_deploy(new_database(), work),
        # host-a runs the export twice (crontab and systemd timer), host-b once: every key written three times
        "night_triple_write": lambda: scenarios.night_triple_write(new_database(), work),
    }
    made = runners[group]()
    return made if isinstance(made, dict) else {group: made}


GROUP = {**{f"dst_night_{n}": "dst" for n in scenarios.DST_TABLES},
         **dict.fromkeys(scenarios.CELERY_VARIANTS, "celery"),
         "launcher_twice_400_sqlite": "launcher_twice_400", "launcher_twice_diluted_sqlite": "launcher_twice_diluted"}


@pytest.fixture(scope="session")
def outcomes(new_database, tmp_path_factory, request):
    """Run each scenario once (lazily) and scan its table in both modes; cached for the session."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            group = GROUP.get(name, name)
            for each, truth in _run_group(group, new_database, tmp_path_factory.mktemp(group), request).items():
                scans = {"writers": scan(truth, True), "inferred": scan(truth, False, infer=True)}
                if "runs" in truth.logs:
                    scans["writers+runs"] = scan(truth, True, runs=(str(truth.logs["runs"]),))
                if truth.facts.get("host_and_log"):  # a table recording only the host, beside the job log
                    scans["host+runs"] = scan(replace(truth, writers={"host": truth.writers["host"]}), True,
                                              runs=(str(truth.logs["runs"]),))
                drop_writer_columns(truth)
                cache[each] = (truth, {**scans, "anonymous": scan(truth, False)})
        return cache[name]

    return get


def pytest_terminal_summary(terminalreporter):
    if not SCORES:
        return
    tr = terminalreporter
    tr.section("real software wrote the tables: clusters and mechanisms")
    head = (f"{'scenario':<34} {'mode':<10} {'found':>6} {'true':>6} {'prec':>5} {'recall':>6} {'mech acc':>8}"
            "  expected -> got")
    tr.write_line(head)
    for s in SCORES:
        accuracy = "-" if s["accuracy"] is None else f"{s['accuracy']:.2f}"
        tr.write_line(f"{s['scenario']:<34} {s['mode']:<10} {s['found']:>6} {s['true']:>6} {s['precision']:>5.2f} "
                      f"{s['recall']:>6.2f} {accuracy:>8}  {s['expected']} -> {s['got']}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A private redis-server (Debian's) for the Celery scenario, on a free port, stopped at the end."""
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(10)
