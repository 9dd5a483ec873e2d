"""Inputs read as a person means them (a stranger's findings): the connection URL's own libpq options win over
dupfinder's defaults (application_name and connect_timeout were replaced by 'dupfinder' and 10 s), and a SQLite
table named in another case is found."""

from __future__ import annotations

import socket
import time

import pytest
import sqlalchemy as sa

from dupfinder.connect import create_engine


def test_the_urls_application_name_shows_in_pg_stat_activity(pg_url):
    engine = create_engine(pg_url + "?application_name=nightly_recon")
    with engine.connect() as conn:
        name = conn.exec_driver_sql(
            "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").scalar()
    engine.dispose()
    assert name == "nightly_recon"
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW application_name").scalar() == "dupfinder"
    engine.dispose()


def test_the_urls_connect_timeout_gives_up_on_a_silent_listener_in_about_that_time():
    """A listener that accepts nothing and never answers: connect_timeout=1 gives up in about 1 s, not 10."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    port = silent.getsockname()[1]
    try:
        engine = create_engine(f"postgresql+psycopg://u@127.0.0.1:{port}/db?connect_timeout=1&sslmode=disable")
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError):
            engine.connect().close()
        took = time.monotonic() - started
    finally:
        silent.close()
    assert took < 4, took


def test_sqlite_finds_a_table_named_in_another_case_when_only_one_matches(sqlite_url):
    """SQLite table names ignore case: --table ORDERS scans orders (it was 'not found')."""
    from helpers import at, make_table
    from sqlrun import scan_doc

    make_table(sqlite_url, "orders", [sa.Column("id", sa.Integer, primary_key=True), sa.Column("k", sa.Integer),
                                      sa.Column("ts", sa.DateTime)],
               [{"id": 1, "k": 1, "ts": at(0)}, {"id": 2, "k": 1, "ts": at(0.2)}])
    table = scan_doc(sqlite_url, table="ORDERS", keys=["k"], ts="ts")["tables"][0]
    assert table["table"] == "orders" and len(table["clusters"]) == 1
