"""The statements a fix names are the engine's own and run there: a MariaDB user was told to write
`INSERT ... ON CONFLICT DO NOTHING` and `SELECT pg_try_advisory_lock(...)`, which MariaDB rejects. Each
engine's claim and insert-once forms are filled in on a real table and executed, and they must do what the
advice says: the second claim of one item gets nothing, the second insert of one key is a no-op."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder.recommend import recommendations, statements


def _code(text: str) -> str:
    return re.search(r"`([^`]+)`", text).group(1)


def _filled(template: str, table: str) -> str:
    """The advice's statement on a concrete table: `...` is the table and its column list, `:id`/`?` item 1."""
    return (template.replace("UPDATE ...", f"UPDATE {table}").replace("INSERT ...", f"INSERT INTO {table} "
            "(id, k) VALUES (2, 7)").replace(":id", "1").replace("?", "1"))


@pytest.fixture(params=["sqlite", "duckdb", "postgresql", "mariadb"])
def engine_url(request):
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else f"{request.param}_url")


def test_each_engines_fix_statements_run_there_and_do_what_they_say(engine_url):
    dialect = sa.make_url(engine_url).get_dialect().name
    sql = statements(dialect)
    engine = sa.create_engine(engine_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE jobs (id integer PRIMARY KEY, claimed boolean NOT NULL)")
            conn.exec_driver_sql("INSERT INTO jobs VALUES (1, false)")
            conn.exec_driver_sql("CREATE TABLE paid (id integer PRIMARY KEY, k integer NOT NULL UNIQUE)")
            conn.exec_driver_sql("INSERT INTO paid VALUES (1, 7)")
        claim = _filled(_code(sql.claim), "jobs")
        got = []
        for _ in range(2):  # two workers claim item 1 in turn: only the first gets it
            with engine.begin() as conn:
                result = conn.exec_driver_sql(claim)
                got.append(len(result.fetchall()) if result.returns_rows else result.rowcount)
        assert got == [1, 0], (claim, got)
        insert = _filled(_code(sql.insert_once), "paid")
        with engine.begin() as conn:
            conn.exec_driver_sql(insert)  # a second copy of key 7: no error, no row
            assert conn.exec_driver_sql("SELECT count(*) FROM paid").scalar() == 1
        if "`" in sql.lock:
            with engine.connect() as conn:
                assert conn.exec_driver_sql(_code(sql.lock).replace("<job id>", "42")
                                            .replace("<job name>", "job")).scalar() in (1, True)
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", ["mariadb", "mysql"])
def test_a_mysql_incident_is_never_told_postgresql_syntax(dialect):
    for mechanism in ("multi_host", "worker_race", "retry"):
        text = " ".join(recommendations(mechanism, [{"host": "a"}, {"host": "b"}], False, None, dialect))
        assert "ON CONFLICT" not in text and "pg_try_advisory_lock" not in text and "RETURNING" not in text, text


@pytest.mark.parametrize("dialect", ["hive", "chdb"])
def test_an_engine_without_unique_constraints_is_never_told_to_add_one(dialect):
    """Spark SQL and ClickHouse enforce no UNIQUE constraint and have neither RETURNING on UPDATE nor a lock
    across hosts: their incidents were told PostgreSQL's forms and to add the constraint migration.sql refuses."""
    for mechanism in ("multi_host", "duplicate_run", "worker_race", "retry", "deploy_overlap"):
        text = " ".join(recommendations(mechanism, [{"host": "a"}, {"host": "b"}], False, None, dialect))
        for wrong in ("ON CONFLICT", "pg_try_advisory_lock", "RETURNING", "Add the UNIQUE constraint",
                      "once the constraint exists", "with a UNIQUE constraint on it"):
            assert wrong not in text, (mechanism, wrong, text)
        assert "enforces no UNIQUE constraint" in text


def test_clickhouse_insert_once_advice_runs_there_and_drops_the_second_insert(chdb_url):
    """The insert-once form told to a ClickHouse incident, filled in on a real chDB table: the second insert of one
    job run is dropped."""
    from dupfinder.recommend import statements as for_engine

    advice = for_engine("chdb").insert_once
    insert = (_code(advice).replace("INTO ...", "INTO paid (id, k)").replace("VALUES ...", "VALUES (2, 7)")
              .replace("<job run id>", "run-7"))
    setting = re.findall(r"`([a-z_]+)`", advice)[-1]
    engine = sa.create_engine(chdb_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE paid (id Int32, k Int32) ENGINE = MergeTree ORDER BY k "
                                 f"SETTINGS {setting} = 100")
            for _ in range(2):
                conn.exec_driver_sql(insert)
            assert conn.exec_driver_sql("SELECT count() FROM paid").scalar() == 1
    finally:
        engine.dispose()


SAFE = "bcdfghjklmnpqrstvwxz2456789"
POD_NAMES = st.builds(lambda name, middle, tail: f"{name}-{middle}-{tail}",
                      st.from_regex(r"[a-z][a-z0-9]{0,12}(-[a-z0-9]{1,8}){0,2}", fullmatch=True),
                      st.one_of(st.text(SAFE, min_size=6, max_size=10), st.from_regex(r"[0-9]{8}", fullmatch=True)),
                      st.text(SAFE, min_size=5, max_size=5))
HOST_NAMES = st.one_of(st.from_regex(r"(etl|db|batch|host|app|worker)-?[0-9]{1,3}", fullmatch=True),
                       st.from_regex(r"[a-z]{3,10}\.(internal|example\.com)", fullmatch=True),
                       st.sampled_from(["host-a", "standby", "prod-db-primary", "web-7d9f8-abcde"]))


@given(st.lists(POD_NAMES, min_size=1, max_size=3), st.sampled_from(["duplicate_run", "multi_host"]))
@settings(max_examples=200, deadline=None)
def test_pods_are_told_what_starts_a_job_in_kubernetes_not_a_crontab(pods, mechanism):
    """A job run twice by pods of a Deployment or a CronJob (their generated names): the steps name what starts
    a job there and a lock every pod shares; a crontab or systemd timer is what a host has (stranger20: crontab
    advice for the pods of a rolling deploy)."""
    text = " ".join(recommendations(mechanism, [{"host": p} for p in pods], False, None, "postgresql"))
    assert "crontab" not in text and "systemctl" not in text and "flock" not in text, text
    assert ("concurrencyPolicy: Forbid" in text and "pg_try_advisory_lock" in text), text


@given(st.lists(HOST_NAMES, min_size=1, max_size=3), st.sampled_from(["duplicate_run", "multi_host"]))
@settings(max_examples=200, deadline=None)
def test_hosts_are_still_told_to_look_at_their_schedulers(hosts, mechanism):
    text = " ".join(recommendations(mechanism, [{"host": h} for h in hosts], False, None, "postgresql"))
    assert "kubectl" not in text and ("crontab" in text or "flock" in text), text
