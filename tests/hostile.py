"""Helpers for the hostile-input suite: a hypothesis strategy for "a name an engine accepts", raw DDL that no
driver rewrites, running generated files the way a person would, and pglast checks of what a file may do."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa
from hypothesis import strategies as st

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec

# pieces an attacker (or an unlucky naming convention) puts in names; every one has broken a generated file
FRAGMENTS = [
    "nl\nDROP TABLE victim; --", "\r", "\t", '"', "'", "`", "\\", "$", "$dupfinder$", "$$", "%", "%s", "%(x)s",
    "*/", "/*", "--", ";", "\u202e", "\u200f", "\u2028", "é", "字", "€", " ", "select", "DROP TABLE victim",
]
_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00:.")


def _fits(name: str, dialect: str) -> bool:
    if not name or name != name.strip(" ") and dialect == "mysql":
        return False
    if dialect == "postgresql":
        return len(name.encode("utf-8")) <= 63
    if dialect == "mysql":  # 64 characters of the Basic Multilingual Plane, not ending in white space
        # (backticks and control characters included: the scan reads the table's shape from information_schema,
        # where SQLAlchemy's reflection, parsing SHOW CREATE TABLE, returned such names mangled or not at all)
        return len(name) <= 64 and all(ord(c) <= 0xFFFF for c in name) and not name[-1].isspace()
    return len(name) <= 200


def names(dialect: str) -> st.SearchStrategy[str]:
    """A name the engine accepts: hostile fragments, random Unicode, and long multibyte names near the
    63-byte limit. No NUL (no engine here takes one in a name), no ':' or '.' (the scan's --table syntax
    and SQLAlchemy's text() bind syntax read those; see docs/cleanup.md, Safety)."""
    pieces = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(_CHARS, min_size=1, max_size=4)),
                      min_size=1, max_size=4).map("".join)
    long_multibyte = st.tuples(st.integers(24, 31), st.sampled_from(["é", "字", "ß"]),
                               st.sampled_from(["", "x", "\n", "'"])).map(lambda t: t[1] * t[0] + t[2])
    return st.one_of(pieces, long_multibyte).map(lambda n: n.replace(":", "").replace(".", "")).filter(
        lambda n: _fits(n, dialect))


_QUOTED = re.compile(r"""U&"(?:[^"]|"")*"|"(?:[^"]|"")*"|`(?:[^`]|``)*`|'(?:[^']|'')*'|--[^\n]*""")
_QUOTED_MYSQL = re.compile(r"""`(?:[^`]|``)*`|'(?:[^'\\]|''|\\.)*'|--[^\n]*""")


def code_outside_quotes(sql: str, mysql: bool = False) -> str:
    """The SQL text with quoted identifiers, string literals and line comments blanked: what the engine reads
    as code. (Dollar-quoted bodies are left in: they are code too.) MySQL strings take backslash escapes."""
    return (_QUOTED_MYSQL if mysql else _QUOTED).sub(" ", sql)


def read(path: Path) -> str:
    """A generated file as written: no newline translation (a name may hold a carriage return)."""
    with open(path, encoding="utf-8", newline="") as file:
        return file.read()


def values(dialect: str) -> st.SearchStrategy[list[str]]:
    """Two distinct text values for keys and payloads: quotes, backslashes, line breaks, $, %, comment
    markers, bidi marks; NUL only on SQLite (PostgreSQL text refuses it). MySQL compares text case- and
    accent-insensitively and ignores trailing spaces, so its values are ASCII without trailing space and are
    distinct after folding case."""
    alphabet = "'\"\\\n\r\t%$;-*/` ab" + ("" if dialect == "mysql" else "é字\u202e") + \
        ("\x00" if dialect == "sqlite" else "")
    text = st.text(alphabet, min_size=1, max_size=12)
    if dialect == "mysql":
        text = text.filter(lambda v: not v[-1].isspace())
    return st.lists(text, min_size=2, max_size=2, unique_by=lambda v: v.casefold().strip()).filter(
        lambda vs: all(v.casefold().strip() != "k3" for v in vs))


def engine_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "mysql" if url.startswith("mysql") else "sqlite"


def quote(url: str, name: str) -> str:
    """Quote a name for hand-written test DDL (no % doubling, no driver-side rewriting)."""
    if engine_of(url) == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def ddl(url: str, *statements: str) -> None:
    """Run statements on the raw DBAPI connection without parameters, so no driver rewrites % or :name."""
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement in statements:
            cursor.execute(statement)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def rows(url: str, name: str, schema: str | None = None) -> list[tuple]:
    """Every row of a table (in ``schema`` when given) as text, in a stable order."""
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"SELECT * FROM {quote(url, schema) + '.' if schema is not None else ''}{quote(url, name)}")
        return sorted(tuple("NULL" if v is None else str(v) for v in r) for r in cursor.fetchall())
    finally:
        raw.close()
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    found = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return found


def victim(url: str) -> None:
    ddl(url, "CREATE TABLE victim (v integer PRIMARY KEY, note varchar(20))",
        "INSERT INTO victim VALUES (1, 'still here'), (2, 'me too')")


def assert_victim(url: str) -> None:
    assert rows(url, "victim") == [("1", "still here"), ("2", "me too")]


def scan_outputs(url: str, out: Path, **spec) -> dict:
    spec.setdefault("table", "events")
    spec.setdefault("keys", ["account", "day"])
    spec.setdefault("ts", "ts")
    result = api.scan(ScanOptions(url=url, tables=(table_spec(**spec),)))
    return api.write_outputs(result, out).findings


def run_sqlite_without_bail(path: str, sql: str) -> list[str]:
    """Run a file the way ``sqlite3 DATABASE < file.sql`` does without -bail: each statement in turn, errors
    reported and skipped. Returns the error messages."""
    conn = sqlite3.connect(path, isolation_level=None)
    errors, statement = [], ""
    try:
        for line in sql.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                try:
                    conn.execute(statement)
                except sqlite3.Error as err:
                    errors.append(str(err))
                statement = ""
    finally:
        conn.close()
    return errors


def run_verify(url: str, sql: str, pg_server=None) -> None:
    """Execute verify.sql with :since bound, as monitoring would (psql -v since=..., or sqlite3 with a binding)."""
    if engine_of(url) == "postgresql":
        parsed = sa.make_url(url)
        done = subprocess.run(
            [pg_server.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "since='2000-01-01 00:00:00'",
             "-h", parsed.host, "-p", str(parsed.port), "-U", parsed.username, "-d", parsed.database, "-f", "-"],
            input=sql, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return
    conn = sqlite3.connect(sa.make_url(url).database)
    try:
        for statement in [s for s in _sqlite_statements(sql) if s.strip()]:
            conn.execute(statement, {"since": "2000-01-01 00:00:00"}).fetchall()
    finally:
        conn.close()


def _sqlite_statements(sql: str) -> list[str]:
    out, statement = [], ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            out.append(statement)
            statement = ""
    return out


# ---- pglast: what a PostgreSQL file may contain --------------------------------------------------------------

ALLOWED = {
    "cleanup": {"TransactionStmt", "VariableSetStmt", "CreateTableAsStmt", "InsertStmt", "SelectStmt", "CreateStmt",
                "DoStmt"},
    "rollback": {"TransactionStmt", "CreateStmt", "CreateTableAsStmt", "InsertStmt", "UpdateStmt", "DeleteStmt"},
    "migration": {"VariableSetStmt", "DoStmt", "IndexStmt"},
}
# inside cleanup's DO block: reads, the backup copy, re-pointing children and the delete
ALLOWED_IN_BLOCK = {"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "AlterTableStmt"}
CATALOGS = {"pg_class", "pg_attribute", "pg_index", "pg_constraint"}


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _ctes(tree) -> set[str]:
    return {n["ctename"] for n in _walk(tree) if "ctename" in n}


def relations(tree) -> set[str]:
    """Every table a parse tree names (CTE names left out)."""
    found = {n["relname"] for n in _walk(tree) if "relname" in n}
    return found - _ctes(tree)


def _statement_kinds(sql: str) -> list[tuple[str, dict]]:
    from pglast import parser

    tree = json.loads(parser.parse_sql_json(sql))
    return [(next(iter(s["stmt"])), s["stmt"]) for s in tree.get("stmts", [])]


def _block_statements(do: dict) -> list[tuple[str, dict]]:
    """The SQL statements inside a DO block's PL/pgSQL body."""
    from pglast import parser

    body = next(a["DefElem"]["arg"]["String"]["sval"] for a in do["DoStmt"]["args"] if a["DefElem"]["defname"] == "as")
    tag = "dupfinder_check_" + "x" * 8
    function = json.loads(parser.parse_plpgsql_json(
        f"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS ${tag}${body}${tag}$"))
    queries = [n["query"] for n in _walk(function) if isinstance(n.get("query"), str)]
    out = []
    for q in queries:
        sql = q if q.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "ALTER")) \
            else "SELECT " + q
        try:
            out += _statement_kinds(sql)
        except Exception:  # an expression such as "changed > 0": parse it as a select list
            out += _statement_kinds("SELECT " + q)
    return out


def check_postgresql_file(kind: str, sql: str, allowed_tables: set[str]) -> None:
    """Assert a PostgreSQL file holds only the statement kinds its header announces, on the tables it names."""
    statements = _statement_kinds(sql)
    assert statements, "the file parsed to no statement"
    for name, stmt in statements:
        assert name in ALLOWED[kind], f"{kind}.sql holds a {name}"
        if name == "TransactionStmt":
            assert stmt[name]["kind"] in ("TRANS_STMT_BEGIN", "TRANS_STMT_COMMIT"), stmt
        inner = [(name, stmt)]
        if name == "DoStmt":
            inner = _block_statements(stmt)
            for inner_name, _ in inner:
                assert inner_name in ALLOWED_IN_BLOCK, f"{kind}.sql's DO block holds a {inner_name}"
        for inner_name, inner_stmt in inner:
            named = relations(inner_stmt)
            unknown = named - allowed_tables - CATALOGS - {"dupfinder_plan"}
            assert not unknown, f"{kind}.sql touches tables it does not announce: {unknown}"
            if inner_name in ("DeleteStmt", "UpdateStmt", "InsertStmt", "CreateStmt", "CreateTableAsStmt",
                              "IndexStmt", "AlterTableStmt"):
                assert "victim" not in named
