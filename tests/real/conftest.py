"""Fixtures of the real-software scenarios: one database per scenario on the suite's PostgreSQL, a redis
server for Celery, and the per-scenario score table printed at the end of the run."""

from __future__ import annotations

import itertools
import os

import pytest
import sqlalchemy as sa

_names = itertools.count()
SCORES: list[dict] = []


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


def pytest_terminal_summary(terminalreporter):
    if not SCORES:
        return
    tr = terminalreporter
    tr.section("real software wrote the tables: clusters and mechanisms")
    head = f"{'scenario':<28} {'mode':<10} {'found':>6} {'true':>6} {'prec':>5} {'recall':>6} {'mech acc':>8}  expected -> got"
    tr.write_line(head)
    for s in SCORES:
        tr.write_line(f"{s['scenario']:<28} {s['mode']:<10} {s['found']:>6} {s['true']:>6} {s['precision']:>5.2f} "
                      f"{s['recall']:>6.2f} {s['accuracy']:>8.2f}  {s['expected']} -> {s['got']}")
