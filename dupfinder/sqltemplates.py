"""Render the SQL templates in queries/: identifiers through the dialect's preparer, values as binds."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2
from sqlalchemy.engine import Dialect


def resource_dir(package: str, source_name: str) -> Path:
    """Locate a data folder: ``dupfinder/<package>`` in an installed wheel, else ``<repo>/<source_name>``."""
    here = Path(__file__).resolve().parent
    installed = here / package
    return installed if installed.is_dir() else here.parent / source_name


def quote_table(dialect: Dialect, name: str, schema: str | None = None) -> str:
    """Quote a possibly schema-qualified table name with the dialect's rules.

    >>> from sqlalchemy.dialects import postgresql
    >>> quote_table(postgresql.dialect(), "Order Lines", "sales")
    'sales."Order Lines"'
    """
    preparer = dialect.identifier_preparer
    quoted = preparer.quote(name)
    return f"{preparer.quote_schema(schema)}.{quoted}" if schema else quoted


@cache
def _environment(folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


_DIALECT_ENVIRONMENTS: dict[tuple[type, str], jinja2.Environment] = {}


def _dialect_environment(dialect: Dialect) -> jinja2.Environment:
    """One environment per dialect, kept: an overlay has its own template cache, so making one per call
    compiled every template again on every render."""
    key = (type(dialect), dialect.name)
    env = _DIALECT_ENVIRONMENTS.get(key)
    if env is None:
        env = _environment(str(resource_dir("queries", "queries"))).overlay()
        env.filters = dict(env.filters)  # an overlay shares its parent's filter dict: give it its own
        env.filters["ident"] = dialect.identifier_preparer.quote
        env.filters["literal"] = lambda value: literal(dialect, value)
        _DIALECT_ENVIRONMENTS[key] = env
    return env


def render_sql(template: str, dialect: Dialect, **context: object) -> str:
    """Render ``queries/<template>`` for ``dialect``; only the ``ident`` filter may emit identifiers."""
    return _dialect_environment(dialect).get_template(template).render(dialect=dialect.name, **context)


def literal(dialect: Dialect, value: object) -> str:
    """Render a Python value as a SQL literal the dialect itself would write.

    >>> from sqlalchemy.dialects import postgresql
    >>> literal(postgresql.dialect(), "it's")
    "'it''s'"
    """
    from sqlalchemy import literal as sa_literal

    if value is None:
        return "NULL"
    if isinstance(value, str) and _CONTROL.search(value):
        return _spelled_out(dialect, value)
    if isinstance(value, str) and dialect.name in BACKSLASH_ESCAPES:
        # Spark SQL reads 'a''b' as two literals joined ('ab'); both it and ClickHouse read \ as an escape
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    compiled = sa_literal(value).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
BACKSLASH_ESCAPES = ("hive", "databricks", "chdb", "clickhouse", "clickhousedb")


def _spelled_out(dialect: Dialect, value: str) -> str:
    r"""A string with line breaks or other control characters, as a concatenation of printable literals and
    character codes, so no value can start a new line of the file (a reviewer reads every line as SQL).

    >>> from sqlalchemy.dialects import sqlite
    >>> literal(sqlite.dialect(), "a'\n-- b")
    "('a''' || char(10) || '-- b')"
    """
    parts = []
    for piece in _CONTROL_SPLIT.split(value):
        if not piece:
            continue
        if _CONTROL.fullmatch(piece):
            name = "chr" if dialect.name in ("postgresql", "duckdb") else "char"
            parts.append(f"{name}({ord(piece)})")
        else:
            parts.append(literal(dialect, piece))
    if dialect.name in ("mysql", "mariadb"):
        return f"CONCAT({', '.join(parts)})"
    return "(" + " || ".join(parts) + ")" if len(parts) > 1 else parts[0]


_CONTROL_SPLIT = re.compile(r"([\x00-\x1f\x7f])")
