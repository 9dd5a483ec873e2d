"""Run generated SQL the way a person would, and read tables back to compare them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess

import sqlalchemy as sa

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec
from dupfinder.findings import findings_dict


class SQLFailed(Exception):
    pass


def apply_sql(url: str, sql: str, pg_server=None) -> str:
    """Run a generated file the way a person would: psql -v ON_ERROR_STOP=1 -f, or sqlite3's executor."""
    if url.startswith("postgresql"):
        parsed = sa.make_url(url)
        done = subprocess.run(
            [pg_server.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", parsed.host, "-p", str(parsed.port),
             "-U", parsed.username, "-d", parsed.database, "-f", "-"],
            input=sql, capture_output=True, text=True)
        if done.returncode:
            raise SQLFailed(done.stderr)
        return done.stderr
    if url.startswith(("mysql", "mariadb")):
        return apply_mysql(url, sql)
    if url.startswith("duckdb"):
        return apply_duckdb(url, sql)
    if url.startswith(("chdb", "hive")):
        return apply_statements(url, sql)
    conn = sqlite3.connect(sa.make_url(url).database, isolation_level=None)
    try:
        conn.executescript(sql)
    except sqlite3.Error as err:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise SQLFailed(str(err)) from None
    finally:
        conn.close()
    return ""


def apply_mysql(url: str, sql: str) -> str:
    """Run a generated file with the mariadb/mysql client, which stops at the first error."""
    import os
    import shutil

    parsed = sa.make_url(url)
    client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
    done = subprocess.run(
        [client, "--no-defaults", "--batch", "--default-character-set=utf8mb4", "-h", parsed.host or "127.0.0.1",
         "-P", str(parsed.port or 3306), "-u", parsed.username or "root", parsed.database or ""],
        input=sql, capture_output=True, text=True,
        env={**os.environ, "MYSQL_PWD": parsed.password or ""})
    if done.returncode:
        raise SQLFailed(done.stderr)
    return done.stdout


def apply_duckdb(url: str, sql: str) -> str:
    """Run a generated file through the duckdb Python API; on an error the connection closes, which rolls the
    open transaction back (what duckdb -bail does)."""
    import duckdb

    conn = duckdb.connect(sa.make_url(url).database)
    try:
        conn.execute(sql)
    except duckdb.Error as err:
        raise SQLFailed(str(err)) from None
    finally:
        conn.close()
    return ""


def statements(sql: str) -> list[str]:
    """Split a generated plan into statements: each ends with ';' at the end of a line (a value with a line
    break is spelled out with char(10), so no literal holds one)."""
    found = []
    for piece in sql.split(";\n"):
        body = "\n".join(line for line in piece.splitlines() if not line.lstrip().startswith("--")).strip()
        if body:
            found.append(body.rstrip(";"))
    return found


def apply_statements(url: str, sql: str) -> str:
    """Run a plan statement by statement through SQLAlchemy (chDB, Spark over PyHive), stopping at the first
    error as clickhouse-client and spark-sql do."""
    from dupfinder.connect import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for statement in statements(sql):
                try:
                    conn.exec_driver_sql(statement)
                except sa.exc.DBAPIError as err:
                    raise SQLFailed(str(err.orig)[:2000]) from None
    finally:
        engine.dispose()
    return ""


def rows_of(url: str, table: str = "events") -> list[tuple]:
    engine = sa.create_engine(url)
    try:  # disposed on failure too: chDB keeps one embedded session per process
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(table)
            return [tuple(map(str, r)) for r in conn.exec_driver_sql(f"SELECT * FROM {quoted} ORDER BY 1")]
    finally:
        engine.dispose()


def digest(rows: list[tuple]) -> str:
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def scan_doc(url: str, **spec) -> dict:
    spec.setdefault("table", "events")
    spec.setdefault("keys", ["account", "day"])
    spec.setdefault("ts", "ts")
    return findings_dict(api.scan(ScanOptions(url=url, tables=(table_spec(**spec),))))
