"""The hostile-input suite: hypothesis draws names an engine accepts (line breaks, quotes, backslashes, $, %,
*/, --, bidirectional marks, long multibyte names near 63 bytes) for schemas, tables, columns, child tables
and constraints, and hostile text for findings fields. Every output is rendered and EXECUTED on PostgreSQL
(psql -v ON_ERROR_STOP=1), SQLite and MariaDB; a victim table must survive and the data must be what it should
be; every PostgreSQL file is parsed with pglast and may hold only the statements its header announces, on the
tables it names.

Examples are derandomized (the same names on every run, CI included); DUPFINDER_HOSTILE_EXAMPLES raises the
count for a longer local hunt.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import at
from hostile import (
    assert_victim,
    check_postgresql_file,
    code_outside_quotes,
    ddl,
    engine_of,
    names,
    quote,
    read,
    rows,
    run_verify,
    scan_outputs,
    values,
    victim,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlrun import apply_sql

from dupfinder.errors import BadFindings
from dupfinder.remediate import cleanup_sql, migration_sql, rollback_sql
from dupfinder.sqltemplates import _UNSAFE, spelled_out

# executed examples are not shrunk: a failure prints the example as drawn (shrinking re-runs whole databases)
EXECUTED = settings(max_examples=int(os.environ.get("DUPFINDER_HOSTILE_EXAMPLES", "25")), deadline=None,
                    derandomize=True, suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])
RENDERED = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
_serial = itertools.count()


def _distinct(dialect: str, count: int) -> st.SearchStrategy[list[str]]:
    """``count`` names that differ from each other (case-insensitively: MySQL folds column names) and from the
    tables the test itself makes."""
    reserved = {"victim", "events"}
    return st.lists(names(dialect), min_size=count, max_size=count,
                    unique_by=lambda n: n.lower()).filter(
        lambda ns: not any(n.lower() in reserved or n.lower().startswith("dupfinder") for n in ns))


# ---- executed on every engine ------------------------------------------------------------------------------

def _build(url: str, n: list[str], schema: str | None, v: list[str]) -> dict:
    """Parent table, a child table with a named foreign key, and the victim; returns what the test reads back."""
    table, pk, key, ts, writer, payload, child, fk, constraint = n
    mysql = engine_of(url) == "mysql"
    q = lambda name: quote(url, name)  # noqa: E731
    qualified = f"{q(schema)}.{q(table)}" if schema else q(table)
    stamp = "DATETIME(6)" if mysql else "timestamp"
    text = "varchar(40)"
    ddl(url, f"CREATE TABLE {qualified} ({q(pk)} integer PRIMARY KEY, {q(key)} {text}, {q(ts)} {stamp}, "
             f"{q(writer)} {text}, {q(payload)} {text})")
    values = [(1, v[0], 0.0, "host-a", v[1]), (2, v[0], 0.3, "host-b", v[1]),
              (3, v[1], 0.0, "host-a", v[0]), (4, v[1], 0.2, "host-b", v[0]),
              (5, "k3", 0.0, "host-a", "alone")]
    literal = (lambda x: "'" + x.replace("\\", "\\\\").replace("'", "''") + "'") if mysql else \
        (lambda x: "'" + x.replace("'", "''").replace("\x00", "' || char(0) || '") + "'")
    ddl(url, f"INSERT INTO {qualified} VALUES " + ", ".join(
        f"({i}, {literal(k)}, '{at(s).isoformat(' ')}', '{w}', {literal(p)})" for i, k, s, w, p in values))
    child_qualified = f"{q(schema)}.{q(child)}" if schema else q(child)
    ddl(url, f"CREATE TABLE {child_qualified} (id integer PRIMARY KEY, {q(fk)} integer, CONSTRAINT {q(constraint)} "
             f"FOREIGN KEY ({q(fk)}) REFERENCES {qualified} ({q(pk)}))",
        f"INSERT INTO {child_qualified} VALUES (10, 2), (11, 1), (12, 4)")
    victim(url)
    return {"table": f"{schema}.{table}" if schema else table, "keys": [key], "ts": ts,
            "writers": [f"host={writer}"]}


def _read(url: str, schema: str | None, name: str) -> list[tuple]:
    return rows(url, name, schema)


def _exercise(url: str, n: list[str], schema: str | None, out: Path, v: list[str], pg_server=None) -> None:
    spec = _build(url, n, schema, v)
    table, child = n[0], n[6]
    before, children = _read(url, schema, table), _read(url, schema, child)
    doc = scan_outputs(url, out, **spec)
    _assert_report_spells_out(read(out / "report.html"), [table, spec["keys"][0], *v])
    files = {f: read(out / f) for f in ("cleanup.sql", "rollback.sql", "migration.sql", "verify.sql")}
    mysql = engine_of(url) == "mysql"
    for name, text in files.items():
        assert "DROP TABLE victim" not in code_outside_quotes(text, mysql), name
        for line in text.splitlines():  # comments are one line each, with nothing raw in them
            if line.startswith("--"):
                assert "\r" not in line and "\u2028" not in line and "\u202e" not in line, (name, line)
    if pg_server is not None:
        backups = {t for t in _names_like(files["cleanup.sql"], "dupfinder_backup_")}
        allowed = {table, child, *backups}
        check_postgresql_file("cleanup", files["cleanup.sql"], allowed)
        check_postgresql_file("rollback", files["rollback.sql"], allowed)
        check_postgresql_file("migration", files["migration.sql"], {table})
    assert doc["tables"][0]["rows_to_delete"] == 2
    run = lambda sql: apply_sql(url, sql, pg_server)  # noqa: E731
    run(files["cleanup.sql"])
    assert_victim(url)
    assert [r[0] for r in _read(url, schema, table)] == ["1", "3", "5"]
    assert _read(url, schema, child) == [("10", "1"), ("11", "1"), ("12", "3")]
    run(files["cleanup.sql"])  # a second run deletes nothing
    run(files["rollback.sql"])
    assert _read(url, schema, table) == before and _read(url, schema, child) == children
    run(files["cleanup.sql"])
    run(files["rollback.sql"])
    assert _read(url, schema, table) == before and _read(url, schema, child) == children
    run(files["cleanup.sql"])
    run(files["migration.sql"])
    if not mysql:
        run_verify(url, files["verify.sql"], pg_server)
    assert_victim(url)


def _assert_report_spells_out(page: str, texts: list[str]) -> None:
    """The report shows a name or value with a line break or an invisible character spelled out (\\u000a),
    never raw: HTML folds a line break into a space, so 'a\\nb' and 'a b' looked the same. The SQL files the
    page embeds (<pre>) hold the raw name in quotes, as they must."""
    shown = html.unescape(re.sub(r"(?s)<(pre|script|style)\b.*?</\1>", "", page))
    for text in texts:
        if _UNSAFE.search(text):
            assert text not in shown, text
            assert spelled_out(text) in shown or escape(spelled_out(text)) in shown, text


def _names_like(sql: str, prefix: str) -> set[str]:
    return set(re.findall(rf"{prefix}[^\s\"`';,)]*", sql))


@EXECUTED
@given(n=_distinct("postgresql", 10), v=values("postgresql"))
def test_hostile_names_on_postgresql(pg_server, tmp_path, n, v):
    name = f"h{os.getpid()}_{next(_serial)}"
    admin = sa.create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_server.url(name)
    try:
        schema = n[9] if len(n[9]) % 2 else None  # half the examples in a hostile schema
        if schema:
            ddl(url, f"CREATE SCHEMA {quote(url, schema)}")
        _exercise(url, n[:9], schema, tmp_path / name, v, pg_server)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@EXECUTED
@given(n=_distinct("sqlite", 9), v=values("sqlite"))
def test_hostile_names_on_sqlite(tmp_path, n, v):
    path = tmp_path / f"h{next(_serial)}.db"
    sqlite3.connect(path).close()
    _exercise(f"sqlite:///{path}", n, None, tmp_path / path.stem, v)


@EXECUTED
@given(n=_distinct("mysql", 9), v=values("mysql"))
def test_hostile_names_on_mariadb(mariadb_server, tmp_path, n, v):
    name = f"h{os.getpid()}_{next(_serial)}"
    mariadb_server.admin(f"CREATE DATABASE `{name}`")
    try:
        _exercise(mariadb_server.url(name), n, None, tmp_path / name, v)
    finally:
        mariadb_server.admin(f"DROP DATABASE IF EXISTS `{name}`")


# ---- rendered for every dialect: findings fields and names that never reach a database ----------------------

def _findings(dialect: str, table: str, column: str, child: str, database: str) -> dict:
    return {
        "dupfinder_version": "0.1.0", "scanned_at": "2026-11-03T02:30:00+00:00", "database": database,
        "tables": [{
            "table": table, "name": table, "schema": None, "keys": [column], "ts_column": "ts",
            "primary_key": ["id"], "dialect": dialect, "keep": "earliest",
            "columns": [{"name": "id"}, {"name": column}, {"name": "ts"}, {"name": "note"}],
            "writer_columns": [{"role": "host", "column": "note", "reason": database}],
            "signals": {"writer_roles_from_data": [{"role": f"{database}\n", "column": column},
                                                   {"role": "process", "column": "note"}]},
            "referenced_by": [{"table": child, "name_only": child, "name": database, "columns": [column],
                               "referred_columns": ["id"], "ondelete": "CASCADE", "child_primary_key": ["id"]}],
            "clusters": [
                {"key": {column: database}, "payload": "identical", "differing_columns": [],
                 "rows": [{"pk": {"id": 1}, "values": {column: database}}, {"pk": {"id": 2}, "values": {}}]},
                {"key": {column: table}, "payload": "divergent", "differing_columns": [column, database],
                 "rows": [{"pk": {"id": database}}, {"pk": {"id": 4}}]}],
        }],
    }


@RENDERED
@given(dialect=st.sampled_from(["postgresql", "sqlite", "mysql"]), data=st.data())
def test_every_output_keeps_hostile_text_inside_quotes_or_one_line_comments(dialect, data):
    table, column, child = data.draw(_distinct(dialect if dialect != "sqlite" else "sqlite", 3))
    database = data.draw(st.text(min_size=1, max_size=40) | st.sampled_from(["x\nDROP TABLE victim; --", "*/\r"]))
    doc = _findings(dialect, table, column, child, database)
    outputs = [cleanup_sql(doc), rollback_sql(doc), migration_sql(dialect, table, [column])]
    for text in outputs:
        assert "DROP TABLE victim" not in code_outside_quotes(text, dialect == "mysql")
        for line in text.splitlines():
            if line.lstrip().startswith("--"):
                assert not re.search("[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e]", line), line
        if dialect == "postgresql":  # nothing raw: every name and value is escaped, so every line is plain
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e]", text)
    if dialect == "postgresql":
        check_postgresql_file("cleanup", outputs[0], {table, child, *_names_like(outputs[0], "dupfinder_backup_")})
        check_postgresql_file("rollback", outputs[1], {table, child, *_names_like(outputs[1], "dupfinder_backup_")})
        check_postgresql_file("migration", outputs[2], {table})


@RENDERED
@given(field=st.sampled_from(["scanned_at", "dupfinder_version", "keep", "ondelete", "payload", "dialect"]),
       value=st.text(min_size=1, max_size=30).filter(lambda v: "\n" in v or "'" in v or ";" in v))
def test_findings_fields_outside_their_vocabulary_are_refused(tmp_path_factory, field, value):
    from dupfinder.findings import read_findings

    doc = _findings("postgresql", "events", "account", "child", "db")
    doc["tables"][0].update(window_seconds=2.0, rows_scanned=4, rows_null_key=0, rows_null_ts=0, far_duplicates=0,
                            incidents=[])
    for c in doc["tables"][0]["clusters"]:
        c.update(span_seconds=0.3, mechanism="unknown", confidence=0.1, explanation="", incident=None)
        c["rows"][0]["survivor"] = True
        for r in c["rows"]:
            r.update(ts="2026-11-03T02:30:00", writer={})
            r.setdefault("survivor", False)
    doc["tables"][0]["clusters"][1]["rows"][0]["pk"] = {"id": 3}
    doc["tables"][0]["clusters"][1]["differing_columns"] = ["note"]
    target = {"scanned_at": doc, "dupfinder_version": doc, "keep": doc["tables"][0], "dialect": doc["tables"][0],
              "ondelete": doc["tables"][0]["referenced_by"][0], "payload": doc["tables"][0]["clusters"][0]}[field]
    target[field] = value
    path = tmp_path_factory.mktemp("f") / "findings.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadFindings) as err:
        read_findings(path)
    assert "\n" not in str(err.value)
