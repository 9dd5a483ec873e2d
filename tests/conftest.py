"""Fixtures: real engines only. ``db`` runs a test once on SQLite and once on a throwaway PostgreSQL."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
try:  # an installed wheel ships sample_data/ as dupfinder.sample_data; a source checkout keeps it at the top
    import dupfinder.sample_data  # noqa: F401
except ModuleNotFoundError:
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.modules["dupfinder.sample_data"] = importlib.import_module("sample_data")

from mariadb_server import MariaDBServer, find_mariadbd  # noqa: E402
from pg_server import PostgresServer  # noqa: E402
from spark_server import SparkThriftServer  # noqa: E402
from spark_server import missing as spark_missing  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_secret_scrubber():
    """Each test starts as a fresh dupfinder process would, knowing no password yet: the scrubber's memory of
    the URLs opened is per process, and an earlier test's password (the suite's role is called dupfinder)
    would otherwise mask that word in a later test's messages."""
    from dupfinder import urls

    urls._seen.clear()
    yield
    urls._seen.clear()


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, request):
    """A fresh, empty PostgreSQL database for one test."""
    name = f"t{os.getpid()}_{next(_counter)}"
    admin = sa.create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    yield pg_server.url(name)
    admin = sa.create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def mariadb_server():
    """A throwaway MariaDB server (Debian's mariadbd) for the session; never skipped in CI."""
    if find_mariadbd() is None and not os.environ.get("CI"):
        pytest.skip("MariaDB SERVER BINARIES NOT FOUND: MariaDB tests skipped (apt-get install mariadb-server, "
                    "or run .ci/system-deps); CI installs it and never skips")
    server = MariaDBServer().start()
    yield server
    server.stop()


@pytest.fixture
def mariadb_url(mariadb_server):
    """A fresh, empty MariaDB database for one test (``mysql+pymysql://``)."""
    name = f"t{os.getpid()}_{next(_counter)}"
    mariadb_server.admin(f"CREATE DATABASE `{name}`")
    yield mariadb_server.url(name)
    mariadb_server.admin(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def sqlite_url(tmp_path):
    path = tmp_path / "test.db"
    sa.create_engine(f"sqlite:///{path}").connect().close()
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def duckdb_url(tmp_path):
    """A DuckDB file path; the test's first table creates it (a scan never creates a database)."""
    return f"duckdb:///{tmp_path / 'test.duckdb'}"


@pytest.fixture(scope="session")
def spark_server():
    """One Spark Thrift server (pip's pyspark jars, local[2]) for the whole session; never skipped in CI."""
    reason = spark_missing()
    if reason and not os.environ.get("CI"):
        pytest.skip(f"SPARK THRIFT SERVER CANNOT START: {reason}; Spark tests skipped (CI never skips them)")
    server = SparkThriftServer().start()
    yield server
    server.stop()


@pytest.fixture
def spark_url(spark_server):
    """A fresh Spark database (schema) for one test, reached through PyHive: ``hive://127.0.0.1:PORT/NAME``."""
    name = f"t{os.getpid()}_{next(_counter)}"
    engine = sa.create_engine(spark_server.url(), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield spark_server.url(name)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} CASCADE")
    engine.dispose()


@pytest.fixture
def chdb_url(tmp_path):
    """A chDB (embedded ClickHouse) database folder; chDB keeps one session per process, so one at a time."""
    folder = tmp_path / "chdb"
    folder.mkdir()
    return f"chdb:///{folder}"


@pytest.fixture(params=["sqlite", "postgresql", "duckdb"])
def any_url(request):
    """The same detection test on SQLite, PostgreSQL and DuckDB (the second non-PostgreSQL engine)."""
    return request.getfixturevalue(f"{request.param}_url" if request.param != "postgresql" else "pg_url")


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def runner(request, db_url):
    """Apply a generated SQL file to the test's database: psql on PostgreSQL, sqlite3 on SQLite."""
    from sqlrun import apply_sql

    server = request.getfixturevalue("pg_server") if db_url.startswith("postgresql") else None
    return lambda sql: apply_sql(db_url, sql, server)


@pytest.fixture
def runner_pg(pg_url, pg_server):
    """Apply a generated SQL file to the test's PostgreSQL database with psql."""
    from sqlrun import apply_sql

    return lambda sql: apply_sql(pg_url, sql, pg_server)
