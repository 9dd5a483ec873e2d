"""Render the SQL templates in queries/: one renderer per dialect for identifiers, literals and comment text.

Everything that reaches a generated SQL file goes through three functions: ``ident`` (names), ``literal``
(values) and ``comment_text`` (names and findings fields shown in ``--`` comments). None of them can emit a
line break, and only ``ident`` emits a name outside a literal or a comment.
"""

from __future__ import annotations

import json
import os
import re
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from .words import noun

if TYPE_CHECKING:
    from collections.abc import Iterator

    import jinja2


def resource_dir(package: str, source_name: str) -> Path:
    """Locate a data folder: ``dupfinder/<package>`` in an installed wheel, else ``<repo>/<source_name>``."""
    here = Path(__file__).resolve().parent
    installed = here / package
    return installed if installed.is_dir() else here.parent / source_name


# control characters, Unicode line/paragraph separators and format characters (bidirectional marks,
# zero-width characters, the BOM): none of them may appear raw in a generated file
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)
_UNSAFE_SPLIT = re.compile(f"({_UNSAFE.pattern})")
_PREPARERS: dict[type, object] = {}


def _preparer(dialect: Dialect):
    """The dialect's identifier preparer without the ``%`` doubling pyformat drivers want: the text rendered
    here is read by people and by psql/sqlite3/mysql (``text()`` doubles percents itself when executed)."""
    if dialect.name not in ("postgresql", "mysql", "mariadb", "sqlite"):
        from .connect import fix_quoting  # third-party dialects keep their own preparer, fixed where needed

        return fix_quoting(dialect).identifier_preparer
    preparer = _PREPARERS.get(type(dialect))
    if preparer is None:
        preparer = type(dialect)(paramstyle="named").identifier_preparer
        _PREPARERS[type(dialect)] = preparer
    return preparer


def ident(dialect: Dialect, name: str) -> str:
    r"""Quote one identifier for ``dialect``: the only way a name reaches generated SQL.

    On PostgreSQL a name holding a line break or an invisible/bidirectional character is written as a
    Unicode-escaped identifier, so no name can start a new line of the file or reorder what a reviewer sees.

    >>> from sqlalchemy.dialects import postgresql, sqlite
    >>> print(ident(postgresql.dialect(), 'we"ird%'), ident(postgresql.dialect(), "a\nb"))
    "we""ird%" U&"a\000ab"
    >>> print(ident(sqlite.dialect(), "select"))
    "select"
    """
    if dialect.name == "postgresql" and _UNSAFE.search(name):
        return 'U&"' + "".join(_pg_unicode_escape(ch) for ch in name) + '"'
    return _preparer(dialect).quote(name)


def _pg_unicode_escape(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    if ch == '"':
        return '""'
    if _UNSAFE.match(ch):
        code = ord(ch)
        return f"\\{code:04x}" if code <= 0xFFFF else f"\\+{code:06x}"
    return ch


def quote_table(dialect: Dialect, name: str, schema: str | None = None) -> str:
    """Quote a possibly schema-qualified table name with the dialect's rules.

    >>> from sqlalchemy.dialects import postgresql
    >>> quote_table(postgresql.dialect(), "Order Lines", "sales")
    'sales."Order Lines"'
    """
    quoted = ident(dialect, name)
    return f"{ident(dialect, schema)}.{quoted}" if schema else quoted


def comment_text(value: object) -> str:
    r"""Text that is safe inside a ``--`` comment: a JSON string (quotes and backslashes escaped) in which line
    breaks, other control characters and invisible format characters (bidirectional marks) are spelled out.

    >>> print(comment_text("orders"), comment_text("nl\nDROP TABLE victim; --"), comment_text("a\u202eb"))
    "orders" "nl\nDROP TABLE victim; --" "a\u202eb"
    """
    return spelled_out(json.dumps(str(value), ensure_ascii=False))


def spelled_out(text: str) -> str:
    r"""Line breaks, other control characters and invisible format characters written as ``\uXXXX``, so text
    from the database stays on its line (a comment, a terminal line) and shows what it holds.

    >>> print(spelled_out("nl\nx\u202e"))
    nl\u000ax\u202e
    """
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def comment_sql(text: str) -> str:
    r"""A statement shown in a comment for a person to copy: as it is when it is one plain line, else as
    ``comment_text`` (escaped, one line).

    >>> print(comment_sql("DROP INDEX ix;"), comment_sql('DROP INDEX "a\nb";'))
    DROP INDEX ix; "DROP INDEX \"a\nb\";"
    """
    return comment_text(text) if _UNSAFE.search(text) else text


def literal(dialect: Dialect, value: object) -> str:
    r"""Render a Python value as a SQL literal for ``dialect``: strings by the dialect's quoting rules (never with
    the ``%%`` a pyformat driver wants), numbers and booleans as the dialect writes them.

    >>> from sqlalchemy.dialects import postgresql, mysql
    >>> print(literal(postgresql.dialect(), "it's 100%"), literal(mysql.dialect(), "a\\b"))
    'it''s 100%' 'a\\b'
    """
    if value is None:
        return "NULL"
    if type(value) is int:  # what every dialect compiles an integer to, without compiling a statement (90 µs)
        return str(value)
    if isinstance(value, str):
        return _spelled_out(dialect, value) if _UNSAFE.search(value) else _string(dialect, value)
    if isinstance(value, (dict, list)):
        return _string(dialect, json.dumps(value, ensure_ascii=True, sort_keys=True))
    from sqlalchemy import literal as sa_literal

    return str(sa_literal(value).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


BACKSLASH_ESCAPES = ("hive", "databricks", "chdb", "clickhouse", "clickhousedb")


def _string(dialect: Dialect, value: str) -> str:
    if dialect.name in BACKSLASH_ESCAPES:
        # Spark SQL reads 'a''b' as two literals joined ('ab'); both it and ClickHouse read \ as an escape
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    escaped = value.replace("'", "''")
    if dialect.name in ("mysql", "mariadb"):
        escaped = escaped.replace("\\", "\\\\")  # MySQL reads backslash escapes in strings by default
    return f"'{escaped}'"


def _spelled_out(dialect: Dialect, value: str) -> str:
    r"""A string with line breaks or other control/format characters, as a concatenation of printable literals
    and character codes, so no value can start a new line of the file (a reviewer reads every line as SQL).

    >>> from sqlalchemy.dialects import sqlite
    >>> print(literal(sqlite.dialect(), "a'\n-- b"))
    ('a''' || char(10) || '-- b')
    """
    parts = []
    for piece in _UNSAFE_SPLIT.split(value):
        if not piece:
            continue
        if _UNSAFE.fullmatch(piece):
            if dialect.name in ("postgresql", "duckdb"):
                parts.append(f"chr({ord(piece)})")
            elif dialect.name in ("mysql", "mariadb"):
                # CHAR() takes bytes: the character's UTF-8 bytes as one number
                parts.append(f"CHAR({int.from_bytes(piece.encode('utf-8'), 'big')} USING utf8mb4)")
            else:
                parts.append(f"char({ord(piece)})")
        else:
            parts.append(_string(dialect, piece))
    if dialect.name in ("mysql", "mariadb"):
        return f"CONCAT({', '.join(parts)})" if len(parts) > 1 else parts[0]
    return "(" + " || ".join(parts) + ")" if len(parts) > 1 else parts[0]


@cache
def cache_folder(kind: str) -> Path | None:
    """``<user cache folder>/dupfinder/<kind>-<version>``, created private to this user; None where it cannot
    be written, or where someone else could write in it: what it holds is run (statements, compiled
    templates), so a folder another user owns or may write to is not used."""
    from . import __version__

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "dupfinder", f"{kind}-{__version__}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return None
        st = os.stat(folder)
    except OSError:
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        return None
    return Path(folder)


@cache
def template_cache(configured_in: str) -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs under the user's cache folder (compiling the templates from source
    cost 0.1-0.3 s of every scan process); None where that folder cannot be written. Entries are keyed by
    each template's source checksum and by the module ``configured_in`` that sets the environment up: the
    compiled code holds its options (autoescape, finalize), so a changed option must not run code compiled
    before it (the report's line-break spelling went unseen under compiled templates of the same version)."""
    import hashlib

    import jinja2

    folder = cache_folder("templates")
    if folder is None:
        return None
    options = hashlib.sha256(repr((stamp(configured_in), stamp(__file__))).encode("utf-8")).hexdigest()[:16]
    return jinja2.FileSystemBytecodeCache(str(folder), pattern=f"__jinja2_%s_{options}.cache")


@cache
def _environment(folder: str) -> jinja2.Environment:
    import jinja2  # not imported by a process whose statements all come from the rendered-statement cache

    env = jinja2.Environment(
        bytecode_cache=template_cache(__file__),
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
        env.filters["ident"] = lambda name: ident(dialect, name)
        env.filters["literal"] = lambda value: literal(dialect, value)
        env.filters["comment"] = comment_text
        env.filters["comment_sql"] = comment_sql
        env.filters["noun"] = noun  # {{ n }} {{ n|noun("row") }}: "1 row", "2 rows"
        _DIALECT_ENVIRONMENTS[key] = env
    return env


def render_sql(template: str, dialect: Dialect, **context: object) -> str:
    """Render ``queries/<template>`` for ``dialect``; only the ``ident`` filter may emit identifiers.

    A statement rendered before from the same inputs is read back from the user's cache folder instead
    (see ``rendered_key``): a post-deploy check runs the same few statements every time, and rendering them
    meant importing jinja2 (about a tenth of the start-up of a check that finds nothing).
    """
    key = rendered_key(template, dialect, context)
    folder = cache_folder("sql") if key else None
    if folder is not None:
        try:
            return (folder / f"{key}.sql").read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            pass
    text = "".join(stream_sql(template, dialect, **context))
    if folder is not None:
        _keep_rendered(folder, key, text)
    return text


def stream_sql(template: str, dialect: Dialect, **context: object) -> Iterator[str]:
    """``render_sql`` piece by piece as jinja2 renders it (``Template.generate``, never cached): cleanup.sql is
    written while its plan is rendered, never held whole."""
    version = tuple(getattr(dialect, "server_version_info", None) or ())  # () when rendered without a server
    return _dialect_environment(dialect).get_template(template).generate(dialect=dialect.name,
                                                                         server_version=version, **context)


# the dialects whose names and literals depend only on the dialect (``_preparer`` builds their preparer from
# the dialect's class), and DuckDB's, which depend on duckdb-engine's code and DuckDB's version too (its preparer
# quotes every word that DuckDB reserves: ``_dialect_origin``); other third-party dialects' quoting may be fixed
# up on the live dialect: never kept
_CACHED_DIALECTS = ("postgresql", "sqlite", "mysql", "mariadb", "duckdb")
_RENDERED_KEPT = 2000  # statements kept in the cache folder; the oldest go first past it


def _plain(value: object) -> bool:
    """Values whose repr is exactly what a template reads: text, integers, booleans, None, lists of them."""
    kind = type(value)
    if kind in (str, int, bool, type(None)):
        return True
    if kind in (list, tuple):
        return all(_plain(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def rendered_key(template: str, dialect: Dialect, context: dict[str, object]) -> str | None:
    """The name a rendered statement is kept under: a hash of everything that shapes the text (the template
    folder's files, this module, the dupfinder, SQLAlchemy and jinja2 versions, the dialect class and server
    version, the template's name and its context); None when the context holds other than plain values or
    the dialect's quoting is not fully known from its class (rendered every time then)."""
    if dialect.name not in _CACHED_DIALECTS or not all(type(k) is str and _plain(v) for k, v in context.items()):
        return None
    import hashlib

    inputs = (sources_fingerprint(str(resource_dir("queries", "queries"))), type(dialect).__module__,
              type(dialect).__qualname__, _dialect_origin(dialect), dialect.name,
              getattr(dialect, "server_version_info", None), template, sorted(context.items()))
    return hashlib.sha256(repr(inputs).encode("utf-8")).hexdigest()


def _dialect_origin(dialect: Dialect) -> tuple:
    """What shapes a DuckDB statement's text besides dupfinder and SQLAlchemy: duckdb-engine's module (its
    preparer and literals) and DuckDB's version (the reserved words that preparer reads from DuckDB and quotes).
    Kept, a clean DuckDB check imports no jinja2 from its second run, as on the other engines."""
    if dialect.name != "duckdb":
        return ()
    import duckdb

    module = sys.modules.get(type(dialect).__module__)
    return (getattr(duckdb, "__version__", None), stamp(getattr(module, "__file__", None)))


def stamp(path: str | None) -> tuple:
    """A file's name, size and modification time: what says it changed, without reading it."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        return (path, None)
    return (path, st.st_size, st.st_mtime_ns) if st else (path, None)


@cache
def sources_fingerprint(folder: str) -> tuple:
    """What a rendered statement depends on besides its context: the name, size and modification time of
    every file of the template folder (a template may include another) and of this module, and the versions
    of dupfinder, SQLAlchemy and jinja2 (jinja2 located, not imported). Changing any of them names every
    statement anew."""
    from importlib.util import find_spec

    from . import __version__

    try:
        files = sorted(e.name for e in os.scandir(folder) if e.is_file())
    except OSError:
        files = []
    jinja = find_spec("jinja2")
    return (__version__, sa.__version__, stamp(jinja.origin if jinja else None), stamp(__file__),
            tuple(stamp(os.path.join(folder, name)) for name in files))


def _keep_rendered(folder: Path, key: str, text: str) -> None:
    """Write one rendered statement to the cache folder (atomically: a reader sees all of it or nothing),
    dropping the oldest statements past ``_RENDERED_KEPT``; a folder that cannot be written is skipped."""
    import tempfile

    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
        os.replace(temporary, folder / f"{key}.sql")
        temporary = None
        kept = [e for e in os.scandir(folder) if e.name.endswith(".sql")]
        if len(kept) > _RENDERED_KEPT:
            kept.sort(key=lambda e: e.stat().st_mtime_ns)
            for entry in kept[:len(kept) - _RENDERED_KEPT // 2]:
                os.unlink(entry.path)
    except OSError:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


_QUOTED_NAME = re.compile(r'"(?:[^"]|"")*"|`(?:[^`]|``)*`')


def sql_text(sql: str) -> sa.TextClause:
    """A rendered statement as a SQLAlchemy text clause, with a colon inside a quoted name kept as a colon
    (text() reads ``:name`` as a bind parameter even there: a column named ``:0`` broke every statement).

    >>> str(sql_text('SELECT "a:b" FROM t WHERE x > :since'))
    'SELECT "a:b" FROM t WHERE x > :since'
    """
    return sa.text(_QUOTED_NAME.sub(lambda m: m.group(0).replace(":", "\\:"), sql))
