"""The statements a fix names are the engine's own and run there: a MariaDB user was told to write
`INSERT ... ON CONFLICT DO NOTHING` and `SELECT pg_try_advisory_lock(...)`, which MariaDB rejects. Each
engine's claim and insert-once forms are filled in on a real table and executed, and they must do what the
advice says: the second claim of one item gets nothing, the second insert of one key is a no-op."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

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
