"""Connect read-only and introspect: columns, primary key, unique constraints, foreign keys."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine, make_url

from . import urls
from .durations import format_seconds
from .errors import BadURL, ColumnNotFound, DatabaseUnavailable, QueryFailed, TableNotFound, UsageError
from .words import count

ROW_ID = {"postgresql": "ctid", "sqlite": "rowid", "duckdb": "rowid"}
# engines whose "primary key" is a sort key that does not make rows unique: rows are identified by --id only
SORT_KEY_ENGINES = ("chdb", "clickhouse", "clickhousedb")
# the engine as its users call it, where the SQLAlchemy dialect's name is another's ("hive" is PyHive's)
ENGINE_LABELS = {"hive": "Spark SQL", "chdb": "ClickHouse"}
# how PostgreSQL renders values as text: the scan and cleanup.sql set the same, so a row's md5 taken by the
# scan equals the one cleanup.sql takes when nothing changed
PG_TEXT_FORMAT = ("TIME ZONE 'UTC'", "DateStyle = 'ISO, MDY'", "IntervalStyle = 'postgres'",
                  "extra_float_digits = 1", "bytea_output = 'hex'", "lc_monetary = 'C'")


def mask_url(url: str | sa.URL) -> str:
    """Render a URL with its password hidden, the only form dupfinder ever shows or writes (``urls.mask_url``).

    >>> mask_url("postgresql+psycopg://app:s3cret@db.internal/prod")
    'postgresql+psycopg://app:***@db.internal/prod'
    """
    return urls.mask_url(url)


def with_default_driver(parsed: sa.URL) -> sa.URL:
    """``postgres://`` and ``postgresql://`` (the form DATABASE_URL usually has) through psycopg 3, the driver
    dupfinder installs (SQLAlchemy's default for them, psycopg2, is not a dependency).

    >>> with_default_driver(make_url("postgres://app@db/prod")).render_as_string()
    'postgresql+psycopg://app@db/prod'
    >>> with_default_driver(make_url("postgresql+psycopg2://app@db/prod")).drivername
    'postgresql+psycopg2'
    """
    if parsed.drivername in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str) -> Engine:
    """Create an engine for ``url`` or raise BadURL; connecting happens later."""
    urls.remember(url)
    if isinstance(url, str) and urls.at_signs_ambiguous(url):
        raise BadURL(f"database URL {mask_url(url)!r} has an unencoded '@' where it cannot be told from the one "
                     f"before the host: percent-encode it in the password as %40 (or {_password_elsewhere(url)})")
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError) as err:
        port = re.search(r"invalid literal for int\(\) with base 10: (.*)$", str(err))
        reason = f"the port {port.group(1)} is not a number" if port else "use a SQLAlchemy URL such as " \
            "sqlite:///file.db or postgresql+psycopg://user@host/db"
        raise BadURL(f"cannot parse database URL {mask_url(url)!r}: {reason}") from None
    parsed = with_default_driver(parsed)
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise BadURL(f"database URL {mask_url(url)!r}: port {parsed.port} is out of range (1-65535)")
    backend = parsed.get_backend_name()
    if backend in ("sqlite", "duckdb"):
        _check_database_file(parsed, url, "SQLite" if backend == "sqlite" else "DuckDB")
    if backend == "chdb":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database if database.startswith("/")
                                                             else "/" + database).is_dir():
            raise BadURL(f"chDB database folder {database!r} does not exist (scanning never creates one)")
    connect_args: dict[str, object] = {}
    opener: dict[str, object] = {}
    if backend == "duckdb":
        connect_args = {"read_only": True}  # DuckDB has no read-only transactions: open the file read-only
        try:
            opener = _duckdb_opener(parsed)
        except ImportError as err:  # `pip install .` brings no duckdb: was "unexpected ModuleNotFoundError", exit 3
            raise BadURL(_missing_driver(parsed, err)) from None
    if backend == "postgresql" and parsed.get_driver_name() in ("psycopg", "psycopg2"):
        # defaults only: the URL's own values win (its connect_timeout=1 waited 10 s on a silent listener)
        connect_args = {k: v for k, v in {"application_name": "dupfinder", "connect_timeout": 10}.items()
                        if k not in parsed.query}
    try:
        with warnings.catch_warnings():  # "query argument ignored" notes: not for a person running a scan
            warnings.simplefilter("ignore", exc.SAWarning)
            engine = sa.create_engine(parsed, connect_args=connect_args, poolclass=sa.pool.NullPool, **opener)
        fix_quoting(engine.dialect)
        if backend == "chdb":
            sa.event.listen(engine, "before_cursor_execute", _without_comment_lines, retval=True)
        if backend == "postgresql" and parsed.get_driver_name() == "psycopg":
            sa.event.listen(engine, "connect", _infinite_dates_as_text)
        return engine
    except exc.NoSuchModuleError:
        raise BadURL(f"no SQLAlchemy dialect for {parsed.drivername!r} is installed") from None
    except ImportError as err:
        raise BadURL(_missing_driver(parsed, err)) from None
    except (exc.ArgumentError, TypeError, ValueError) as err:
        raise BadURL(f"bad database URL {mask_url(url)!r}: {urls.scrub(str(err))}") from None


# the pip extra (pyproject.toml) that brings each optional engine's driver
DRIVER_EXTRAS = {"mysql": "mysql", "mariadb": "mysql", "duckdb": "duckdb", "chdb": "clickhouse", "hive": "spark"}


def _missing_driver(parsed: sa.URL, err: ImportError) -> str:
    extra = DRIVER_EXTRAS.get(parsed.get_backend_name())
    hint = f": install the {extra!r} extra (pip install '.[{extra}]' in a clone of dupfinder)" if extra else ""
    return f"the driver for {parsed.drivername!r} is not installed ({err.name or err}){hint}"


def _duckdb_opener(parsed: sa.URL) -> dict[str, object]:
    """How a DuckDB URL without options (``duckdb:///file.db``, the usual form) is opened: its file, read-only,
    by the driver directly, wrapped as duckdb-engine wraps it.

    duckdb-engine's own connect step first opens an in-memory database to list DuckDB's settings (to tell
    settings from extension options among the URL's options: there are none here), and SQLAlchemy finds the
    dialect by reading every installed package's entry points: 0.05-0.08 s of CPU of every DuckDB scan, a
    tenth of a clean check. The dialect is registered by name instead; a URL with options goes through
    duckdb-engine's connect step as before."""
    from sqlalchemy.dialects import registry

    registry.register("duckdb", "duckdb_engine", "Dialect")
    if parsed.query or parsed.drivername != "duckdb":
        return {}
    import duckdb
    from duckdb_engine import ConnectionWrapper

    database = parsed.database or ":memory:"
    return {"creator": lambda: ConnectionWrapper(duckdb.connect(database, read_only=True))}


def _password_elsewhere(url: str) -> str:
    """Where this URL's engine takes a password from instead of the URL (PGPASSWORD means nothing to MySQL).

    >>> _password_elsewhere("mysql+pymysql://app:p@ss@db/billing")
    'leave the password out and name an option file holding it under [client]: ?read_default_file=FILE'
    """
    backend = url.partition("://")[0].partition("+")[0].lower()
    if backend in ("mysql", "mariadb"):
        return "leave the password out and name an option file holding it under [client]: ?read_default_file=FILE"
    if backend in ("postgresql", "postgres"):
        return "leave the password out and use PGPASSWORD, ~/.pgpass or a service file"
    return "leave the password out of the URL and give it the way the driver reads it"


def _check_database_file(parsed: sa.URL, url: str, engine: str) -> None:
    """Refuse a database file that does not exist, also when it is named as a ``file:`` URI (scanning must
    never create one; SQLite would, with ``mode=rwc`` or without a mode)."""
    database = parsed.database or ""
    if not database or database == ":memory:":
        return
    path = database
    if database.startswith("file:"):
        query = {k: str(v) for k, v in parsed.query.items()}
        if query.get("mode") == "memory" or database == "file::memory:":
            return
        if query.get("uri", "").lower() in ("true", "1", "yes", "on") or engine == "DuckDB":
            rest = database[len("file:"):].split("?", 1)[0].split("#", 1)[0]
            if rest.startswith("//"):  # file://host/path: only an empty host or localhost names a local file
                host, _slash, tail = rest[2:].partition("/")
                if host not in ("", "localhost"):
                    raise BadURL(f"{engine} URI {mask_url(url)!r} names a remote host {host!r}")
                rest = "/" + tail
            path = unquote(rest)
    if not Path(path).is_file():
        raise BadURL(f"{engine} database file {path!r} does not exist (scanning never creates one)")


def _infinite_dates_as_text(dbapi_connection, _record) -> None:
    """Read PostgreSQL's 'infinity' and '-infinity' dates and timestamps as those words: Python's datetime has no
    such value, and psycopg refuses them ("timestamp too large"), which stopped a scan of any table holding
    one (a valid_until column, say). The words are what the row holds, shown and compared as text."""
    from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

    for name, base in (("date", DateLoader), ("timestamp", TimestampLoader), ("timestamptz", TimestamptzLoader)):
        dbapi_connection.adapters.register_loader(name, _infinity_aware(base))


def _infinity_aware(base: type) -> type:
    class Loader(base):  # type: ignore[misc, valid-type]
        def load(self, data):
            raw = bytes(data)
            if raw in (b"infinity", b"-infinity"):
                return raw.decode()
            return super().load(data)

    return Loader


_COMMENT_LINE = re.compile(r"^[ \t]*--[^\n]*\n?", re.MULTILINE)


def _without_comment_lines(conn, cursor, statement, parameters, context, executemany):
    """chDB substitutes ? parameters in the client without reading comments: an apostrophe in a comment line
    ("the database's own") hides every later ? as if inside a string. The templates' comments are whole lines,
    and no value starts a line (line breaks in values are spelled out), so whole comment lines are dropped."""
    return _COMMENT_LINE.sub("", statement), parameters


def fix_quoting(dialect: sa.Dialect) -> sa.Dialect:
    """Quote names the way the engine reads them. PyHive quotes with backticks but escapes double quotes inside
    them (a backtick in a name would end it; Spark SQL doubles it); chDB's dialect doubles double quotes, but
    ClickHouse reads a backslash inside a quoted name as an escape."""
    preparer = dialect.identifier_preparer
    if dialect.name == "hive" and preparer.escape_quote != "`":
        preparer.escape_quote, preparer.escape_to_quote, preparer._strings = "`", "``", {}
    elif dialect.name in ("chdb", "clickhouse") and not getattr(preparer, "_dupfinder_fixed", False):
        escape = preparer._escape_identifier
        preparer._escape_identifier = lambda value: escape(value.replace("\\", "\\\\"))
        preparer._dupfinder_fixed, preparer._strings = True, {}
    return dialect


def first_line(err: BaseException) -> str:
    """A driver's error as one line: what the server said (Spark's own message out of PyHive's status), secrets
    scrubbed, and what to change where a hot standby cancelled the scan."""
    original = getattr(err, "orig", None) or err
    status = next((a for a in getattr(original, "args", ()) if hasattr(a, "status")), None)
    message = getattr(getattr(status, "status", None), "errorMessage", None)
    if isinstance(message, str):  # PyHive: the Thrift status, whose errorMessage is what Spark said
        original = message.removeprefix("Error running query: ")
    text = urls.scrub(str(original)).strip().splitlines()
    return (text[0][:500] if text else type(original).__name__) + _recovery_advice(original)


@contextmanager
def read_only(url: str, statement_timeout: float | None = None, work_mem: str | None = None) -> Iterator[Connection]:
    """Open one read-only transaction on one consistent snapshot; it is always rolled back."""
    engine = create_engine(url)
    try:
        try:
            conn = engine.connect()
        except exc.DBAPIError as err:
            raise DatabaseUnavailable(f"cannot connect to {mask_url(url)}: {first_line(err)}") from None
        with conn:
            try:
                _begin_read_only(conn, statement_timeout, work_mem)
            except exc.DBAPIError as err:
                raise DatabaseUnavailable(
                    f"cannot start a read-only transaction on {mask_url(url)}: {first_line(err)}"
                ) from None
            try:
                yield conn
            except Exception as err:
                if deadline_passed(conn):
                    raise QueryFailed(f"query failed on {mask_url(url)}: a statement ran longer than --statement-"
                                      f"timeout ({format_seconds(statement_timeout)}) and was interrupted") from None
                if isinstance(err, exc.DBAPIError):
                    raise QueryFailed(f"query failed on {mask_url(url)}: {first_line(err)}") from None
                raise
            finally:
                conn.rollback()
    finally:
        engine.dispose()


# SQLSTATE 40001 from PostgreSQL to dupfinder, which only reads (READ ONLY, REPEATABLE READ: no row locks, no
# writes), is a hot standby cancelling a query to replay the primary's log ("canceling statement due to conflict
# with recovery", also "terminating connection"); its message may be translated, its code is not
RECOVERY_CONFLICT = "40001"


def _recovery_advice(original: BaseException | str) -> str:
    """What to change when a hot standby cancelled the scan to replay the primary's log, or nothing: read from a
    PostgreSQL driver's error (psycopg 3 ``sqlstate``, psycopg2 ``pgcode``)."""
    if not type(original).__module__.startswith("psycopg"):
        return ""
    if (getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)) != RECOVERY_CONFLICT:
        return ""
    detail = (getattr(getattr(original, "diag", None), "message_detail", None) or "").strip().rstrip(".")
    return (f"{f' ({detail})' if detail else ''} -- the hot standby cancelled the scan to replay the primary's "
            "changes (its VACUUM removed row versions the scan's snapshot still reads, or it took a lock); on the "
            "standby set hot_standby_feedback = on, or raise max_standby_streaming_delay above the scan's "
            "duration, or scan less with --since, then scan again")


def recovery_conflict(err: BaseException) -> bool:
    """Whether ``err`` (a driver error as SQLAlchemy raises it, or an error raised while handling one) is a hot
    standby cancelling a query to replay the primary's log: the scan's snapshot is lost (or the connection is
    gone), so there is no next table to carry on with."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, exc.DBAPIError):
        cause = cause.__context__
    return cause is not None and bool(_recovery_advice(cause.orig))


def standby_state(conn: Connection) -> dict[str, object] | None:
    """On a PostgreSQL hot standby, what the scan's snapshot holds of the primary: the commit time of the last
    transaction replayed, when it was read, whether replay was paused, and the two settings that decide whether
    the primary's VACUUM cancels a long scan. None elsewhere. Run first in the scan's transaction: its snapshot
    is taken by this statement, so no row committed on the primary after ``last_replayed_commit`` is read."""
    if conn.dialect.name != "postgresql":
        return None
    from .sqltemplates import render_sql

    row = conn.exec_driver_sql(render_sql("standby_state.sql.j2", conn.dialect)).mappings().one()
    if not row["standby"]:
        return None
    replayed, read_at = row["last_replayed_commit"], row["read_at"]
    return {
        "last_replayed_commit": replayed.isoformat() if replayed else None,
        "read_at": read_at.isoformat(),
        "seconds_since_last_replayed_commit": round((read_at - replayed).total_seconds(), 3) if replayed else None,
        "replay_paused": bool(row["replay_paused"]),
        "hot_standby_feedback": row["hot_standby_feedback"],
        "max_standby_streaming_delay": row["max_standby_streaming_delay"],
    }


def _interrupt_after(conn: Connection, seconds: float) -> None:
    """SQLite and DuckDB have no statement timeout of their own: every statement on ``conn`` is interrupted once
    it has run ``seconds`` (SQLite: a progress handler the engine calls every few thousand instructions; DuckDB:
    a timer calling the connection's ``interrupt``). ``deadline_passed`` then tells the driver's "interrupted"
    error from any other. Without this ``--statement-timeout`` was accepted and ignored on both."""
    import threading
    import time

    raw = conn.connection.dbapi_connection
    duckdb = conn.dialect.name == "duckdb"
    state = conn.info["dupfinder_deadline"] = {"started": time.monotonic(), "passed": False, "timer": None}

    def started(*_args) -> None:
        finished()  # a statement that failed left its timer running
        state["started"] = time.monotonic()
        if duckdb:
            state["timer"] = threading.Timer(seconds, interrupt)
            state["timer"].daemon = True
            state["timer"].start()

    def finished(*_args) -> None:
        if state["timer"] is not None:
            state["timer"].cancel()
            state["timer"] = None

    def interrupt() -> None:
        state["passed"] = True
        raw.interrupt()

    def progress() -> int:
        if time.monotonic() - state["started"] > seconds:
            state["passed"] = True
            return 1
        return 0

    sa.event.listen(conn, "before_cursor_execute", started)
    sa.event.listen(conn, "after_cursor_execute", finished)
    if not duckdb:
        raw.set_progress_handler(progress, 10_000)


def deadline_passed(conn: Connection) -> bool:
    """Whether ``_interrupt_after`` interrupted a statement on ``conn``. Asked while an error is handled, so it
    never touches a connection the error invalidated (a hot standby terminating the session: reading
    ``conn.info`` then raised PendingRollbackError over the scan's own one-line error)."""
    if conn.dialect.name not in ("sqlite", "duckdb"):
        return False
    try:
        return bool(conn.info.get("dupfinder_deadline", {}).get("passed"))
    except exc.SQLAlchemyError:
        return False


def _begin_read_only(conn: Connection, statement_timeout: float | None, work_mem: str | None = None) -> None:
    name = conn.dialect.name
    if name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for setting in PG_TEXT_FORMAT:
            conn.exec_driver_sql(f"SET LOCAL {setting}")
        if statement_timeout:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(statement_timeout * 1000)}")
        # JIT compiling the detection statement costs more than it saves (measured: 3.15 s -> 2.90 s at
        # 5M rows, the bare GROUP BY unchanged); settings of this transaction only
        conn.exec_driver_sql("SET LOCAL jit = off")
        if work_mem:  # validated by durations.parse_memory: digits and a unit only
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{work_mem}'")
    elif name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
        conn.exec_driver_sql("BEGIN")
        if statement_timeout:
            _interrupt_after(conn, statement_timeout)
    elif name == "duckdb" and statement_timeout:
        _interrupt_after(conn, statement_timeout)
    elif name == "hive" and statement_timeout:
        # the Spark Thrift server cancels a statement after this many whole seconds (read per session); Spark
        # has no read-only session or transaction to open
        conn.exec_driver_sql(f"SET spark.sql.thriftServer.queryTimeout = {max(1, math.ceil(statement_timeout))}")
    elif name in SORT_KEY_ENGINES:
        # ClickHouse: no transactions (each statement reads the parts that exist when it starts); readonly = 1
        # makes the server refuse every write and every later change of settings for this session
        if statement_timeout:
            conn.exec_driver_sql(f"SET max_execution_time = {max(statement_timeout, 0.001):.3f}")
        conn.exec_driver_sql("SET readonly = 1")
    elif name in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET SESSION time_zone = '+00:00'")  # TIMESTAMP values read in UTC
        if statement_timeout and getattr(conn.dialect, "is_mariadb", False):
            # MariaDB: max_statement_time, in seconds, for every statement
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {max(statement_timeout, 0.001):.3f}")
        elif statement_timeout:
            # MySQL 5.7.8+: max_execution_time, in milliseconds, for SELECT statements (all a scan runs)
            conn.exec_driver_sql(f"SET SESSION max_execution_time = {max(int(statement_timeout * 1000), 1)}")
        # one snapshot for every statement of the scan, and the server refuses writes in it
        conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    timezone: bool | None = None  # for date-time columns: does the type store an instant?
    generated: bool = False  # computed by the engine (GENERATED ALWAYS AS ...): never inserted


@dataclass(frozen=True)
class ChildKey:
    """A foreign key in another table that points at this one: cleanup must re-point its rows."""

    table: str                  # the child table, schema-qualified when not in the default schema
    name: str | None
    columns: tuple[str, ...]    # in the child
    referred_columns: tuple[str, ...]
    ondelete: str | None        # CASCADE, SET NULL, ... (None: NO ACTION)
    child_primary_key: tuple[str, ...]
    table_schema: str | None = None  # the child's schema and bare name (a name may hold a dot)
    table_name: str | None = None


@dataclass(frozen=True)
class TableInfo:
    """What the inspector says about one table; the rest of the pipeline reads only this."""

    name: str
    schema: str | None
    dialect: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    row_id: str | None
    unique_constraints: tuple[tuple[str, ...], ...]
    ts_timezone_aware: bool | None
    referenced_by: tuple[ChildKey, ...] = ()
    index_leading_columns: tuple[str, ...] = ()  # first column of each index: what a range scan can use
    plain_indexes: tuple[tuple[str, ...], ...] = ()  # columns of each index that is neither partial nor on expressions
    # (columns, predicate) of each partial index on columns: one on a scan's --where serves it as a plain one would
    partial_indexes: tuple[tuple[tuple[str, ...], str], ...] = ()
    id_columns: tuple[str, ...] = ()  # --id: columns the user says identify a row (checked unique by the scan)
    storage: str | None = None  # Spark: the table's provider (delta, iceberg, parquet, hive...); ClickHouse: engine
    view: bool = False  # a view: no row id, no xmin/ctid, nothing to delete from
    # PostgreSQL: the schema the catalog found the relation in (search_path at scan time); Spark: the database
    # (the URL's). Generated SQL names it, so cleanup, rollback, migration and verify act on this table
    # whatever search_path or current database runs them
    home_schema: str | None = None
    # PostgreSQL: tables that INHERIT from this plain table. Their rows are not its rows (a scan counted an
    # archive's rows as the parent's, and cleanup then aborted forever), so it is read and cleaned with ONLY
    inherited_by: tuple[str, ...] = ()
    # PostgreSQL: a partitioned table (relkind 'p'), on which CREATE INDEX CONCURRENTLY is refused
    partitioned: bool = False
    # PostgreSQL: a partitioned table's partition key columns, in order ('' for an expression); a UNIQUE
    # constraint or index on the table must hold every one of them
    partition_key: tuple[str, ...] = ()
    # PostgreSQL: the role whose row-level security policies filter what the scan reads (None: every row is read)
    row_security_role: str | None = None
    # PostgreSQL: the partitioned table this one is a partition of (as regclass text), None for any other table
    partition_of: str | None = None
    # ClickHouse: the sort key's expressions, which a ReplacingMergeTree replaces rows on
    sort_key: tuple[str, ...] = ()
    # scan --where: the predicate on the rows that count; every statement reading the table applies it
    # (queries/_dialect.sql.j2's ``kept``)
    where: str | None = None
    # PostgreSQL: the text columns under a deterministic collation other than "C" (equal only when their bytes
    # are), which the detection's key pass groups by their bytes (detect._bytewise_keys); read with the shape
    bytewise_columns: tuple[str, ...] = ()
    # --where as the predicate of an index (connect.index_predicate): None when the engine takes it (or there is
    # no --where); else refused (a function not IMMUTABLE: the advised indexes are then not partial, and
    # migration.sql holds the table back) or not checked (a cast or operator PostgreSQL may refuse)
    where_index: IndexPredicate | None = None

    @property
    def heap(self) -> bool:
        """Whether the relation has PostgreSQL's system columns (xmin, ctid): a table, not a view."""
        return self.dialect == "postgresql" and not self.view

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def order_columns(self) -> tuple[str, ...]:
        """Columns that identify a row: the --id columns, else the primary key, else the engine's row id."""
        return self.id_columns or self.primary_key or ((self.row_id,) if self.row_id else ())

    @property
    def sql_schema(self) -> str | None:
        """The schema to qualify the table with in SQL: the one given, else the one it was found in."""
        return self.schema or self.home_schema

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def resolve_table(conn: Connection, table: str) -> tuple[str | None, str]:
    """Find ``table`` (optionally ``schema.table``); raise TableNotFound naming similar tables."""
    try:
        names = table_names(conn)
    except exc.DBAPIError as err:
        raise QueryFailed(f"cannot list tables: {first_line(err)}") from None
    if table in names:
        return None, table
    if conn.dialect.name == "hive" and table.lower() in names:  # Spark's catalog keeps names in lower case
        return resolve_table(conn, table.lower())
    # SQLite's and DuckDB's names ignore ASCII case (neither takes a second table differing only in case, quoted
    # or not): ORDERS is orders, when only one matches
    if conn.dialect.name in ("sqlite", "duckdb"):
        same = [n for n in names if n.encode().lower() == table.encode().lower()]
        if len(same) == 1:
            return None, same[0]
    for schema, name in name_readings(table)[1:]:
        try:
            if name in table_names(conn, schema):
                return schema, name
        except exc.DBAPIError:
            pass  # no such schema: try the next reading, then the suggestions below
    schema, dot, name = table.partition(".")
    import difflib  # suggestions: only when the table is not found

    everywhere = names + _other_schema_tables(conn)
    # a quoted mixed-case schema (Tenant-ACME) typed in lower case is the likeliest miss, and among 300 tenant
    # schemas difflib offered three neighbours (tenant_0247 ...) instead of it
    close = [t for t in everywhere if t.casefold() == table.casefold()][:3] or \
        difflib.get_close_matches(table, everywhere, n=3, cutoff=0.5) or \
        difflib.get_close_matches(name if dot else table, everywhere, n=3, cutoff=0.5) or \
        [t for t in everywhere if t.rpartition(".")[2] == (name if dot else table)][:3]
    default = "the default schema" if not dot else "the database"
    hint = f"; tables with a similar name: {', '.join(close)}" if close else (
        f"; {default} has {count(len(names), 'table')}" + (f": {', '.join(sorted(names)[:8])}" if names else "")
        + (f", other schemas {len(everywhere) - len(names)}: {', '.join(sorted(everywhere[len(names):])[:8])}"
           if len(everywhere) > len(names) else ""))
    raise TableNotFound(f"table {table!r} not found{hint}")


def name_readings(table: str) -> list[tuple[str | None, str]]:
    """The (schema, name) pairs ``--table`` may mean, in the order tried: the name as given, then SQL's own
    quoting (``"Billing Ops".invoices``, ``"acme.prod"."orders"``: what psql and the catalog show), else each
    dot as the separator in turn, so a schema whose name holds a dot (``acme.prod.orders``) is found too.

    >>> name_readings('"Billing Ops".invoices')
    [(None, '"Billing Ops".invoices'), ('Billing Ops', 'invoices')]
    >>> name_readings('acme.prod.orders')
    [(None, 'acme.prod.orders'), ('acme', 'prod.orders'), ('acme.prod', 'orders')]
    """
    readings: list[tuple[str | None, str]] = [(None, table)]
    parts = _quoted_parts(table) if '"' in table else None
    if parts is not None:
        return readings + ([(None, parts[0])] if len(parts) == 1 else [(parts[0], parts[1])] if len(parts) == 2
                           else [])
    return readings + [(table[:i], table[i + 1:]) for i, c in enumerate(table) if c == "."]


def _quoted_parts(text: str) -> list[str] | None:
    """The dot-separated identifiers of ``text`` with SQL's double quotes (``""`` inside one is a quote);
    None when it is not written that way."""
    part = r'"(?:[^"]|"")*"|[^".]+'
    if not re.fullmatch(rf"(?:{part})(?:\.(?:{part}))*", text):
        return None
    return [p[1:-1].replace('""', '"') if p.startswith('"') else p for p in re.findall(part, text)]


def _other_schema_tables(conn: Connection, limit: int = 2000) -> list[str]:
    """``schema.table`` for the tables of the schemas other than the default one (for suggestions only;
    an engine whose catalog cannot list them gives none)."""
    if conn.dialect.name in ("hive", "sqlite", "chdb"):
        return []
    found: list[str] = []
    try:
        inspector = sa.inspect(conn)
        default = inspector.default_schema_name
        own = {default}
        if conn.dialect.name == "duckdb":  # duckdb-engine names them catalog.schema: the file's own is <db>.main,
            # and the system and temp catalogs hold no table of the user's
            own.add(f"{conn.exec_driver_sql('SELECT current_database()').scalar()}.{default}")
        for schema in inspector.get_schema_names():
            if schema in own or schema.startswith(("system.", "temp.")) and conn.dialect.name == "duckdb" \
                    or schema in ("information_schema", "pg_catalog", "pg_toast", "mysql",
                                               "performance_schema", "sys") or schema.startswith("pg_"):
                continue
            found += [f"{schema}.{t}" for t in inspector.get_table_names(schema=schema)]
            if len(found) >= limit:
                break
    except (exc.DBAPIError, NotImplementedError):
        return found
    return found


def table_names(conn: Connection, schema: str | None = None) -> list[str]:
    """Tables and views of ``schema`` (default: the connection's), as the engine's own catalog lists them."""
    if conn.dialect.name == "hive":
        # PyHive reads the first column of SHOW TABLES, which Spark fills with the database name
        where = f" IN {conn.dialect.identifier_preparer.quote_schema(schema)}" if schema else ""
        result = conn.exec_driver_sql(f"SHOW TABLES{where}")
        column = list(result.keys()).index("tableName") if "tableName" in result.keys() else -1
        return [row[column] for row in result if column >= 0 or len(row) == 1]
    inspector = sa.inspect(conn)
    return inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)


def introspect(conn: Connection, table: str, needed: dict[str, list[str]], children: bool = False,
               ids: tuple[str, ...] = (), require_identity: bool = True, every_column: bool = False) -> TableInfo:
    """Read a table's shape and check that every column in ``needed`` (purpose → names) exists.

    ``children``: also read the foreign keys pointing at the table (a read over the whole schema; only a scan,
    whose cleanup re-points them, needs it). ``ids``: the --id columns that identify a row. A table with no
    primary key, no row id and no ``ids`` is refused unless ``require_identity`` is false (discover).
    """
    if ids:
        needed = {**needed, "--id": list(ids)}
    found = _postgresql_shape(conn, table) if conn.dialect.name == "postgresql" else None
    if every_column and found and found.unreadable:
        # a scan reads every column; without this, its first statement failed with "permission denied for
        # table" and no word of which columns or why (stranger21: an auditor granted SELECT on some columns)
        raise QueryFailed(
            f"permission denied: role {found.role} may not read column(s) "
            f"{', '.join(found.unreadable)} of table {table!r}: a scan reads every column (copies are compared on "
            f"all of them, cleanup.sql's guard hashes whole rows); grant SELECT on the whole table, or scan a "
            f"view of the columns the role may read with --id COL")
    schema, name = found[:2] if found else resolve_table(conn, table)
    duckdb = conn.dialect.name == "duckdb"
    storage = home = None
    view = None
    plain: tuple[tuple[str, ...], ...] = ()
    partial: tuple[tuple[tuple[str, ...], str], ...] = ()
    inspector = sa.inspect(conn)
    try:
        if duckdb:
            columns, pk, uniques = _duckdb_shape(conn, schema, name)
            leading = ()
        elif conn.dialect.name == "hive":
            (columns, storage, home), pk, uniques, leading = _spark_shape(conn, schema, name), [], [], ()
        elif conn.dialect.name in ("mysql", "mariadb"):
            columns, pk, uniques, plain = _mysql_shape(conn, schema, name)
            leading = tuple({index[0] for index in plain})
        else:
            with warnings.catch_warnings():  # "did not recognize type 'point'": its name is enough here
                warnings.simplefilter("ignore", exc.SAWarning)
                raw_columns = (_chdb_columns(conn, schema, name) if conn.dialect.name == "chdb"
                               else inspector.get_columns(name, schema=schema))
            if found:
                pk, uniques = list(found.primary_key), list(found.uniques)
                view = found.relkind == "v"
            else:
                pk = inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or []
                uniques = [tuple(u["column_names"]) for u in inspector.get_unique_constraints(name, schema=schema)]
            indexes = inspector.get_indexes(name, schema=schema)
            uniques += [tuple(i["column_names"]) for i in indexes
                        if i.get("unique") and all(i.get("column_names") or [None])]
            leading = tuple({(i.get("column_names") or [None])[0] for i in indexes} - {None})
            on_columns = [i for i in indexes if i.get("column_names") and None not in i["column_names"]]
            # SQLite's partial indexes were taken for plain ones: its predicate is reflected as sqlite_where
            predicates = [(i.get("dialect_options") or {}).get("postgresql_where")
                          or (i.get("dialect_options") or {}).get("sqlite_where") for i in on_columns]
            plain = tuple(tuple(i["column_names"]) for i, w in zip(on_columns, predicates, strict=True) if w is None)
            partial = tuple((tuple(i["column_names"]), str(w)) for i, w in zip(on_columns, predicates, strict=True)
                            if w is not None)
            columns = tuple(
                ColumnInfo(c["name"], str(c["type"]), bool(c.get("nullable", True)),
                           getattr(c["type"], "timezone", None), generated=bool(c.get("computed")))
                for c in raw_columns
            )
    except exc.NoSuchTableError:
        raise TableNotFound(f"table {table!r} not found") from None
    except exc.DBAPIError as err:
        raise QueryFailed(f"cannot introspect table {table!r}: {first_line(err)}") from None
    names = [c.name for c in columns]
    for purpose, wanted in needed.items():
        for column in wanted:
            if column not in names:
                import difflib

                close = difflib.get_close_matches(column, names, n=3, cutoff=0.5)
                hint = (f"; columns with a similar name: {', '.join(close)}" if close
                        else f"; its columns are: {', '.join(names)}")
                raise ColumnNotFound(f"{purpose} column {column!r} not found in table {table!r}{hint}")
    dialect = conn.dialect.name
    sort_key: tuple[str, ...] = ()
    if dialect in SORT_KEY_ENGINES:
        # MergeTree's PRIMARY KEY orders the data; two rows may share it. What lets a --since scan skip old
        # parts: the sort key's first column, and a minmax skip index (the advice named them with neither)
        leading = (*leading, *pk[:1], *_minmax_indexed(conn, schema, name))
        pk = []
        if dialect == "chdb":
            storage, sort_key = _chdb_engine(conn, schema, name)
    if view is None:
        view = not pk and dialect in ROW_ID and _is_view(inspector, schema, name)
    row_id = None if pk or ids or view else ROW_ID.get(dialect)
    if view and not ids and require_identity:
        raise UsageError(f"{table!r} is a view: it has no primary key or row id ({ROW_ID[dialect]}); name the "
                         "columns that identify a row with --id COL")
    if not pk and row_id is None and not ids and require_identity:
        raise UsageError(f"table {table!r} has no primary key and {ENGINE_LABELS.get(dialect, dialect)} has no row "
                         "id to fall back on: name the columns that identify a row with --id COL")
    return TableInfo(
        name=name, schema=schema, dialect=dialect, columns=columns, primary_key=tuple(pk), row_id=row_id,
        unique_constraints=tuple(dict.fromkeys(uniques)), ts_timezone_aware=None,
        referenced_by=(_child_keys_postgresql(conn, schema, name) if dialect == "postgresql" else
                       _child_keys_mysql(conn, schema, name) if dialect in ("mysql", "mariadb") else
                       _child_keys_duckdb(conn, schema, name) if duckdb else
                       _child_keys(inspector, schema, name))
        if children and dialect != "hive" else (),
        index_leading_columns=tuple(sorted({*leading, *pk[:1], *(u[0] for u in uniques if u)})),
        plain_indexes=plain, partial_indexes=partial,
        id_columns=tuple(ids), storage=storage, view=bool(view), home_schema=found.home_schema if found else home,
        inherited_by=found.inherited_by if found else (), partitioned=bool(found) and found.relkind == "p",
        sort_key=sort_key, partition_key=found.partition_key if found and found.relkind == "p" else (),
        row_security_role=found.row_security_role if found else None,
        partition_of=found.partition_of if found else None,
        bytewise_columns=found.bytewise_columns if found else (),
    )


def _is_view(inspector, schema: str | None, name: str) -> bool:
    """Whether ``name`` is a view (asked only for a relation without a primary key, where the engine's row id
    would be used: views have none)."""
    try:
        return name in inspector.get_view_names(schema=schema)
    except (NotImplementedError, exc.DBAPIError):
        return False


class _Shape(NamedTuple):
    """What one catalog statement reads of a PostgreSQL table (queries/table_shape_postgresql.sql.j2)."""

    schema: str | None        # as resolve_table would give it (None: the default schema)
    name: str
    primary_key: tuple[str, ...]
    uniques: tuple[tuple[str, ...], ...]
    relkind: str              # 'r', 'p' (partitioned), 'v', ...
    home_schema: str
    inherited_by: tuple[str, ...]
    partition_key: tuple[str, ...]
    row_security_role: str | None  # the role row-level security filters the rows for, None when every row is read
    partition_of: str | None
    bytewise_columns: tuple[str, ...]  # the columns a key pass may group by their bytes
    unreadable: tuple[str, ...] = ()   # the columns this role may not SELECT (column-level privileges)
    role: str = ""                     # the role reading (current_user)


def _postgresql_shape(conn: Connection, table: str) -> _Shape | None:
    """PostgreSQL: the shape of ``table`` (schema, name, primary key, unique constraints, relkind, the schema it
    lives in, the tables inheriting from it, the partition key's columns, the role row-level security filters
    the rows for, the table it is a partition of, the columns a key pass may group by their bytes)
    as ``resolve_table`` and the inspector would find them (the name as given in the default schema, else
    ``schema.table``), read in one catalog statement per name tried; None when not found there
    (``resolve_table`` then says what is near)."""
    from .sqltemplates import render_sql, sql_text

    statement = sql_text(render_sql("table_shape_postgresql.sql.j2", conn.dialect))
    exact = name_readings(table)
    for reading in [*exact, *(r for r in folded_readings(table) if r not in exact)]:
        where, what = reading
        try:
            row = conn.execute(statement, {"schema": where, "name": what}).first()
        except exc.DBAPIError as err:
            raise QueryFailed(f"cannot introspect table {table!r}: {first_line(err)}") from None
        if row is not None:
            if reading not in exact:
                _refuse_case_twins(conn, table, where, what, row[3])
            return _Shape(where, what, tuple(row[0]), tuple(tuple(u) for u in row[1]), row[2], row[3],
                          tuple(row[4]), tuple(row[5]), row[7] if row[6] else None, row[8], tuple(row[9]),
                          tuple(row[10]), row[7])
    return None


def folded_readings(table: str) -> list[tuple[str | None, str]]:
    """The (schema, name) pairs ``--table`` means as PostgreSQL reads a name in SQL, tried after the name as
    written (``name_readings``): unquoted ASCII letters in lower case, a double-quoted part exactly as written
    (``""`` a quote), as ``--schema`` reads one. So ``Orders`` finds a table created as ``orders`` (CREATE TABLE
    Orders made it so), and ``'"Orders"'`` only one created quoted.

    >>> folded_readings("Orders"), folded_readings('"Sales".Orders'), folded_readings('"Orders"')
    ([(None, 'orders')], [('Sales', 'orders')], [(None, 'Orders')])
    >>> folded_readings("Acme.Prod.Orders")
    [(None, 'acme.prod.orders'), ('acme', 'prod.orders'), ('acme.prod', 'orders')]
    """
    def fold(text: str) -> str:  # PostgreSQL folds unquoted ASCII letters only
        return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)

    if '"' not in table:
        return name_readings(fold(table))
    parts = re.findall(r'"(?:[^"]|"")*"|[^".]+', table)
    if ".".join(parts) != table or not 1 <= len(parts) <= 2:
        return []
    read = [p[1:-1].replace('""', '"') if p.startswith('"') else fold(p) for p in parts]
    return [(None, read[0])] if len(read) == 1 else [(read[0], read[1])]


def _refuse_case_twins(conn: Connection, table: str, schema: str | None, name: str, home: str) -> None:
    """A --table found only as PostgreSQL reads it (``Orders`` as ``orders``) while another relation of that
    schema differs from it only in case (``"Orders"``) may mean either: refuse it, naming both and how to give
    each exactly, rather than pick one in silence. A name written exactly as a table's is never ambiguous."""
    twins = sorted(n for n in table_names(conn, home) if n != name and n.casefold() == name.casefold())
    if not twins:
        return
    from .remediate import shell_word

    shown = [f"{schema}.{n}" if schema else n for n in (name, *twins)]
    raise TableNotFound(f"table {table!r} is ambiguous: PostgreSQL reads it as {shown[0]}, and "
                        f"{', '.join(shown[1:])} differ{'s' if len(twins) == 1 else ''} from it only in case; "
                        f"give one exactly as written (a name written exactly wins): "
                        f"{', '.join('--table ' + shell_word(n) for n in shown)}")


def check_ids_unique(conn: Connection, info: TableInfo) -> None:
    """Raise UsageError when two rows share the --id values (one GROUP BY, stopping at the first repeat)."""
    from .sqltemplates import quote_table, render_sql, sql_text

    sql = render_sql("ids_unique.sql.j2", conn.dialect, table=quote_table(conn.dialect, info.name, info.schema),
                     keys=list(info.id_columns), where=info.where)
    repeated = conn.execute(sql_text(sql)).first()
    if repeated is not None:
        shown = ", ".join(f"{c}={v!r}" for c, v in zip(info.id_columns, repeated, strict=False))
        raise UsageError(f"--id {', '.join(info.id_columns)} does not identify a row of {info.qualified_name!r}: "
                         f"more than one row has {shown}; name more columns with --id")


def check_where(conn: Connection, info: TableInfo, where: str) -> None:
    """Run a --where predicate on the table, reading no row, so an unknown column, a syntax error or a name the
    scan's statements cannot resolve is a usage error before anything else runs. The table is read under an
    alias, as the detection reads it: a predicate naming the table (``orders.status``) works in some statements
    and fails in others, so it is refused here."""
    from .sqltemplates import quote_table, render_sql, sql_text

    table = quote_table(conn.dialect, info.name, info.sql_schema) + " AS _dupfinder_row"
    try:  # no savepoint here (DuckDB has none): a refusal ends a scan; discover keeps its own around this
        conn.execute(sql_text(render_sql("predicate_check.sql.j2", conn.dialect, where=where, table=table)))
    except exc.DBAPIError as err:
        named = " (name the table's columns without the table's name)" if f"{info.name}." in where else ""
        reason = first_line(err)
        raise UsageError(f"--where {where!r} does not work on {info.qualified_name}: {reason}{named}") from None


def check_key_equality(conn: Connection, info: TableInfo, keys: tuple[str, ...]) -> None:
    """PostgreSQL: raise ColumnNotFound for a key column whose type has no equality operator (json, xml, point,
    ...): the detection's GROUP BY failed on it with a query error (exit 3) after the table was read. One probe
    per column, parsed but reading no row, each in a savepoint so the scan's transaction survives the refusal."""
    if conn.dialect.name != "postgresql":
        return
    from .sqltemplates import quote_table, render_sql, sql_text

    table = quote_table(conn.dialect, info.name, info.schema)
    for key in keys:
        try:
            with conn.begin_nested():
                conn.execute(sql_text(render_sql("key_equality.sql.j2", conn.dialect, table=table, keys=[key])))
        except exc.DBAPIError as err:
            if getattr(getattr(err, "orig", None), "sqlstate", None) != "42883":  # undefined_function
                raise  # no privilege, a timeout: reported as any failed query of the scan is
            raise ColumnNotFound(
                f"key column {key!r} of table {info.qualified_name!r} cannot be a key: PostgreSQL cannot compare "
                f"its type for equality ({first_line(err)}); scan a view that casts it (to jsonb or text) with "
                "--id") from None


def _duckdb_shape(conn: Connection, schema: str | None, name: str):
    """DuckDB's own catalog (duckdb-engine reflects through PostgreSQL catalog queries DuckDB lacks)."""
    where = "table_name = :name AND table_schema = coalesce(:schema, current_schema())"
    rows = conn.execute(sa.text(f"SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                                f"WHERE {where} ORDER BY ordinal_position"), {"name": name, "schema": schema}).all()
    columns = tuple(ColumnInfo(c, t, n == "YES", True if "WITH TIME ZONE" in t.upper() else
                               (False if "TIMESTAMP" in t.upper() else None)) for c, t, n in rows)
    constraints = conn.execute(sa.text(
        "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name = :name AND schema_name = coalesce(:schema, current_schema())"),
        {"name": name, "schema": schema}).all()
    pk = next((list(cols) for kind, cols in constraints if kind == "PRIMARY KEY"), [])
    uniques = [tuple(cols) for kind, cols in constraints if kind == "UNIQUE"]
    return columns, pk, uniques


def _chdb_columns(conn: Connection, schema: str | None, name: str) -> list[dict]:
    """ClickHouse columns as SQLAlchemy's reflection gives them, each type parsed alone: chdb-sqlalchemy's
    reflection raised on the first type its parser does not know (a named ``Tuple(a UInt8, b String)``), so a
    table holding one could not be scanned at all. Such a type is kept as the text ClickHouse writes."""
    from chdb_sqlalchemy.exc import ChdbSqlAlchemyError
    from chdb_sqlalchemy.types.parser import parse_column_type

    rows = conn.execute(sa.text("SELECT name, type FROM system.columns WHERE database = "
                                "coalesce(:schema, currentDatabase()) AND table = :name ORDER BY position"),
                        {"schema": schema, "name": name}).all()
    if not rows:
        raise exc.NoSuchTableError(name)
    columns = []
    for column, text in rows:
        try:
            parsed = parse_column_type(text)
            columns.append({"name": column, "type": parsed.sa_type, "nullable": parsed.nullable})
        except ChdbSqlAlchemyError:
            columns.append({"name": column, "type": text,
                            "nullable": text.startswith(("Nullable(", "LowCardinality(Nullable("))})
    return columns


def _chdb_engine(conn: Connection, schema: str | None, name: str) -> tuple[str | None, tuple[str, ...]]:
    """A ClickHouse table's engine and the expressions of its sort key: a ReplacingMergeTree replaces only rows
    equal on the whole sort key, so one ordered by (key, ts) never replaces a second copy written later."""
    row = conn.execute(sa.text("SELECT engine, sorting_key FROM system.tables WHERE database = "
                               "coalesce(:schema, currentDatabase()) AND name = :name"),
                       {"schema": schema, "name": name}).first()
    if row is None:
        return None, ()
    text = (row[1] or "").strip()
    if re.fullmatch(r"\([^()]*\)", text):  # ORDER BY (account) is kept as "(account)"
        text = text[1:-1]
    return row[0] or None, tuple(e.strip().strip("`") for e in text.split(",") if e.strip())


def _minmax_indexed(conn: Connection, schema: str | None, name: str) -> list[str]:
    """The columns a ClickHouse minmax skip index is on."""
    rows = conn.execute(sa.text("SELECT expr FROM system.data_skipping_indices WHERE database = "
                                "coalesce(:schema, currentDatabase()) AND table = :name AND type = 'minmax'"),
                        {"schema": schema, "name": name}).scalars()
    return [expr.strip("`") for expr in rows]


def _mysql_shape(conn: Connection, schema: str | None, name: str):
    """MySQL/MariaDB: columns, primary key, unique indexes and the other indexes' columns, read from
    information_schema (queries/table_shape_mysql.sql.j2 says why not through SQLAlchemy's reflection)."""
    from .sqltemplates import render_sql

    rows = conn.execute(sa.text(render_sql("table_shape_mysql.sql.j2", conn.dialect)),
                        {"schema": schema, "name": name}).all()
    if not any(kind == "c" for kind, *_ in rows):
        raise exc.NoSuchTableError(name)
    columns = tuple(ColumnInfo(column, detail, bool(nullable), False if re.match(r"DATETIME|TIMESTAMP", detail)
                               else None, generated=bool(generated))
                    for kind, column, detail, nullable, generated, _index, _n in rows if kind == "c")
    indexes: dict[str, tuple[bool, list[str]]] = {}
    for kind, column, _detail, unique, _generated, index, _n in rows:
        if kind == "i":
            indexes.setdefault(index, (bool(unique), []))[1].append(column)
    pk = indexes.pop("PRIMARY", (True, []))[1]
    uniques = [tuple(cols) for unique, cols in indexes.values() if unique]
    return columns, pk, uniques, tuple(tuple(cols) for _unique, cols in indexes.values())


_PG_ON_DELETE = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _child_keys_postgresql(conn: Connection, schema: str | None, name: str) -> tuple[ChildKey, ...]:
    """PostgreSQL: foreign keys referencing the table from any schema, read from pg_constraint (SQLAlchemy's
    reflection parses constraint text, which a hostile name breaks, and looks in one schema only)."""
    from .sqltemplates import render_sql

    try:
        found = conn.execute(sa.text(render_sql("child_keys_postgresql.sql.j2", conn.dialect)),
                             {"schema": schema, "name": name}).all()
    except exc.DBAPIError as err:
        raise QueryFailed(f"cannot read foreign keys: {first_line(err)}") from None
    return tuple(
        ChildKey(table=f"{child_schema}.{child}" if child_schema else child, name=con_name,
                 columns=tuple(columns), referred_columns=tuple(referred), ondelete=_PG_ON_DELETE.get(ondelete),
                 child_primary_key=tuple(child_pk), table_schema=home, table_name=child)
        for child_schema, home, child, con_name, columns, referred, ondelete, child_pk in found)


def _child_keys_mysql(conn: Connection, schema: str | None, name: str) -> tuple[ChildKey, ...]:
    """MySQL/MariaDB: foreign keys referencing the table, from information_schema (one row per column)."""
    from .sqltemplates import render_sql

    try:
        found = conn.execute(sa.text(render_sql("child_keys_mysql.sql.j2", conn.dialect)),
                             {"schema": schema, "name": name}).all()
        database = conn.exec_driver_sql("SELECT DATABASE()").scalar()
    except exc.DBAPIError as err:
        raise QueryFailed(f"cannot read foreign keys: {first_line(err)}") from None
    keys: dict[tuple, dict] = {}
    for child_schema, child, con_name, column, referred, ondelete, child_pk in found:
        key = keys.setdefault((child_schema, child, con_name), {
            "columns": [], "referred": [], "ondelete": None if ondelete == "NO ACTION" else ondelete,
            "pk": tuple(child_pk.split("\n")) if child_pk else ()})
        key["columns"].append(column)
        key["referred"].append(referred)
    out = []
    for (child_schema, child, con_name), k in keys.items():
        other = child_schema if child_schema != database else None
        out.append(ChildKey(table=f"{other}.{child}" if other else child, name=con_name, columns=tuple(k["columns"]),
                            referred_columns=tuple(k["referred"]), ondelete=k["ondelete"],
                            child_primary_key=k["pk"], table_schema=other, table_name=child))
    return tuple(out)


def _spark_shape(conn: Connection, schema: str | None,
                 name: str) -> tuple[tuple[ColumnInfo, ...], str | None, str | None]:
    """Columns, provider and database from Spark's DESCRIBE TABLE EXTENDED (columns: the rows before the first
    '#' section); Spark has no primary key. The database is the one the table was found in: the generated files
    name it, since `spark-sql -f` and beeline start in `default`, not in the URL's database."""
    from .sqltemplates import quote_table

    rows = conn.exec_driver_sql(f"DESCRIBE TABLE EXTENDED {quote_table(conn.dialect, name, schema)}").all()
    columns, provider, database, section = [], None, None, False
    for col_name, data_type, *_ in rows:
        if not col_name or col_name.startswith("#"):
            section = True
        elif not section:
            upper = (data_type or "").upper()
            timezone = True if upper == "TIMESTAMP" else (False if upper == "TIMESTAMP_NTZ" else None)
            columns.append(ColumnInfo(col_name, data_type, True, timezone))
        elif col_name == "Provider":
            provider = (data_type or "").strip().lower() or None
        elif col_name == "Database":
            database = data_type or None
    return tuple(columns), provider, database


def _child_keys_duckdb(conn: Connection, schema: str | None, name: str) -> tuple[ChildKey, ...]:
    """DuckDB: foreign keys referencing the table, from duckdb_constraints() (duckdb-engine's reflection has no
    foreign keys; none were read, and cleanup.sql's DELETE then stopped on DuckDB's own constraint error, naming
    no child). DuckDB keeps a foreign key in its referencing table's schema, which is the parent's."""
    try:
        found = conn.execute(sa.text(
            "SELECT f.table_name, f.constraint_name, f.constraint_column_names, f.referenced_column_names, "
            "(SELECT p.constraint_column_names FROM duckdb_constraints() AS p WHERE p.database_oid = f.database_oid "
            "AND p.schema_name = f.schema_name AND p.table_name = f.table_name AND p.constraint_type = 'PRIMARY KEY') "
            "FROM duckdb_constraints() AS f WHERE f.constraint_type = 'FOREIGN KEY' AND f.referenced_table = :name "
            "AND f.schema_name = coalesce(:schema, current_schema()) AND f.database_name = current_database() "
            "ORDER BY f.table_name, f.constraint_name"), {"name": name, "schema": schema}).all()
    except exc.DBAPIError as err:
        raise QueryFailed(f"cannot read foreign keys: {first_line(err)}") from None
    return tuple(ChildKey(table=child if schema is None else f"{schema}.{child}", name=con_name,
                          columns=tuple(columns), referred_columns=tuple(referred), ondelete=None,
                          child_primary_key=tuple(child_pk or ()), table_schema=schema, table_name=child)
                 for child, con_name, columns, referred, child_pk in found)


def _child_keys(inspector: sa.Inspector, schema: str | None, name: str) -> tuple[ChildKey, ...]:
    """Foreign keys in the same schema that reference the table (one batched catalog read)."""
    default = inspector.default_schema_name
    try:
        multi = inspector.get_multi_foreign_keys(schema=schema)
        pks = inspector.get_multi_pk_constraint(schema=schema)
    except exc.DBAPIError as err:
        raise QueryFailed(f"cannot read foreign keys: {first_line(err)}") from None
    found = []
    for (child_schema, child), keys in sorted(multi.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        for fk in keys:
            if fk["referred_table"] != name or (fk.get("referred_schema") or default) != (schema or default):
                continue
            qualified = f"{child_schema}.{child}" if child_schema and child_schema != default else child
            found.append(ChildKey(
                table=qualified, name=fk.get("name"), columns=tuple(fk["constrained_columns"]),
                referred_columns=tuple(fk["referred_columns"]),
                ondelete=(fk.get("options") or {}).get("ondelete"),
                child_primary_key=tuple((pks.get((child_schema, child)) or {}).get("constrained_columns") or ()),
                table_schema=child_schema if child_schema and child_schema != default else None, table_name=child,
            ))
    return tuple(found)


def since_advice(dialect: sa.Dialect, info: TableInfo, ts: str) -> str | None:
    """What makes a --since scan read only the recent rows, in the engine's own terms; None when nothing is
    missing (an index starts with the timestamp) or the engine needs nothing (DuckDB's min/max zone maps skip
    row groups of older rows by themselves when rows arrive in time order)."""
    from .detect import index_name
    from .sqltemplates import quote_table

    table, column = quote_table(dialect, info.name, info.sql_schema), dialect.identifier_preparer.quote(ts)
    name = dialect.identifier_preparer.quote(index_name([info.name, ts]))
    head = "--since still read the whole table: "
    if info.dialect == "duckdb":
        return None
    if info.dialect == "hive":
        return (head + f"Spark has no indexes; partition the table by a date derived from {ts} (PARTITIONED BY), "
                f"or on Delta cluster it by {ts} (ALTER TABLE {table} CLUSTER BY ({column}), or OPTIMIZE ... ZORDER "
                f"BY ({column})), so the filter prunes files")
    if info.dialect in SORT_KEY_ENGINES and ts not in info.index_leading_columns:
        return (head + f"put {ts} first in the table's ORDER BY, or add a min/max skip index: "
                f"ALTER TABLE {table} ADD INDEX {name} {column} TYPE minmax GRANULARITY 1, "
                f"then ALTER TABLE {table} MATERIALIZE INDEX {name}")
    if ts in info.index_leading_columns:
        return None
    if info.dialect == "postgresql":
        statement = f"CREATE INDEX {concurrently(info)}{name} ON {table} ({column})"
    elif info.dialect in ("mysql", "mariadb"):
        statement = f"ALTER TABLE {table} ADD INDEX {name} ({column}), ALGORITHM=INPLACE, LOCK=NONE"
    else:
        statement = f"CREATE INDEX {name} ON {table} ({column})"
    return f"no index starts with {ts}: " + head + f"an index on it ({statement}) makes post-deploy scans cost " \
        f"what the recent rows cost{index_caveat(info)}"


class IndexPredicate(NamedTuple):
    """What the engine said of --where as an index's predicate when it did not simply take it."""

    refused: bool  # True: the engine refused it (``reason`` is what it said); False: not checked (``reason``: why)
    reason: str


def index_predicate(conn: Connection, info: TableInfo, where: str | None) -> IndexPredicate | None:
    """Whether the engine takes ``where`` as the predicate of an index on the table: None when it does (or has no
    partial index, or there is no ``where``), else why not, or why it could not be told.

    PostgreSQL refuses a predicate calling a function not marked IMMUTABLE, SQLite one calling a non-deterministic
    function, so the partial CREATE INDEX discover and the scan advised under ``--where created_at > now() -
    interval '30 days'`` (and migration.sql's unique index) failed on production.

    PostgreSQL is read, not asked: its only exact answer is a CREATE INDEX, which needs a table to build on, and
    a scan never writes (design.md: one READ ONLY transaction; an empty temporary copy of the table, rolled back,
    was tried and dropped for that reason: a DBA logging DDL saw a "read-only" tool create tables). SQL's clock
    and session functions (``now()``'s spellings CURRENT_TIMESTAMP, CURRENT_DATE, LOCALTIMESTAMP ...) and a
    function every overload of which pg_proc marks not IMMUTABLE are refused for certain (``refused``); anything
    else that is no plain predicate (``_plain_predicate``: casts, operators, functions some overload of which is
    IMMUTABLE) is left open (``refused`` False): ``created_at > '2026-01-01'::date`` on a timestamptz compares
    through a STABLE cast no name shows. SQLite is asked on one row of NULLs in a scratch in-memory database (not
    the user's; it refuses ``datetime('now')`` only when evaluating it, so each date function call is asked on
    its own too: behind a condition that row fails, the whole predicate never reached it)."""
    from .config import check_predicate
    from .sqltemplates import quote_table, render_sql

    where = check_predicate(where)  # one expression, nothing that could end the statement: it runs below
    if not where or info.dialect not in ("postgresql", "sqlite") or not info.columns or _plain_predicate(where):
        return None
    if info.dialect == "postgresql":
        return _postgresql_predicate(conn, where)
    ctx = {"table": quote_table(conn.dialect, info.name, info.sql_schema), "columns": list(info.column_names),
           "where": where}
    import sqlite3

    scratch = sqlite3.connect(":memory:")
    try:
        for part in ("table", "row", "index"):
            scratch.execute(render_sql("index_predicate.sql.j2", conn.dialect, part=part, **ctx))
        # a date function reading the clock ('now', or no argument) is refused only when evaluated, and the NULL
        # row may never reach it (order_ref <> 'void' AND created_at > datetime('now', ...) is NULL there before
        # the call): each such call is asked on its own, where that row evaluates it
        for call in _sqlite_date_calls(where):
            scratch.execute("DROP INDEX _dupfinder_probe_where")
            scratch.execute(render_sql("index_predicate.sql.j2", conn.dialect, part="index",
                                       **{**ctx, "where": f"({call}) IS NOT NULL"}))
    except sqlite3.Error as err:  # "non-deterministic ... prohibited in partial index WHERE clauses", ...
        said = re.search(r"prohibited|non-deterministic", str(err))
        return IndexPredicate(bool(said), f"SQLite refuses it in an index: {err}" if said else str(err))
    finally:
        scratch.close()
    return None


_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")  # string literals and quoted names
# SQLite's date and time functions: deterministic but for the clock ('now', or called without a time value)
_SQLITE_DATES = frozenset({"date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff"})


def _sqlite_date_calls(where: str) -> list[str]:
    """The calls of SQLite's date and time functions in a predicate, each with its arguments (string literals and
    quoted names skipped while matching the parentheses).

    >>> _sqlite_date_calls("ref <> 'date(' AND ts > datetime(date('now'), '-30 days') OR time_of(x)")
    ["datetime(date('now'), '-30 days')", "date('now')"]
    """
    bare = _LITERAL.sub(lambda m: "_" * len(m.group(0)), where)  # same offsets, no parenthesis inside a literal
    calls = []
    for found in _CALLED.finditer(bare):
        if found.group(1).lower() not in _SQLITE_DATES:
            continue
        depth, end = 0, None
        for i in range(found.end() - 1, len(bare)):
            depth += {"(": 1, ")": -1}.get(bare[i], 0)
            if depth == 0:
                end = i + 1
                break
        if end is not None:
            calls.append(where[found.start():end])
    return calls
_CALLED = re.compile(r"(?<![A-Za-z0-9_$.])([A-Za-z_][A-Za-z0-9_$]*)\s*\(")
# words followed by "(" that are SQL's syntax, not functions pg_proc holds under that name
_SYNTAX = frozenset({"and", "or", "not", "in", "exists", "any", "all", "some", "array", "row", "values", "cast",
                     "coalesce", "nullif", "greatest", "least", "is", "between", "like", "ilike", "similar", "case",
                     "when", "then", "else", "end", "interval", "distinct", "from"})
REFUSED = "functions in index predicate must be marked IMMUTABLE"  # PostgreSQL's own words for it
# what an engine may refuse in a predicate that was not checked (the scan's note, migrate's warning)
MAY_REFUSE = ("refuses a function, operator or cast there that is not IMMUTABLE (deterministic, on SQLite), such as "
              "now() or a timestamptz compared with a date")


def _postgresql_predicate(conn: Connection, where: str) -> IndexPredicate:
    """``index_predicate`` on PostgreSQL, by the catalog (pg_proc) and SQL's own clock words, in the scan's
    read-only transaction."""
    from .sqltemplates import render_sql

    bare = _LITERAL.sub("''", where)
    clock = re.search(rf"(?<![A-Za-z0-9_$]){_NILADIC}(?![A-Za-z0-9_$])", bare, re.IGNORECASE)
    if clock:
        return IndexPredicate(True, f"PostgreSQL refuses it in an index: {REFUSED}, and {clock.group(0).upper()} "
                                    "is not (it reads the transaction's clock or the session)")
    names = sorted({n.lower() for n in _CALLED.findall(bare)} - _SYNTAX)
    mutable = conn.execute(sa.text(render_sql("index_predicate.sql.j2", conn.dialect, part="volatility")),
                           {"names": names}).scalars().all() if names else []
    if mutable:
        called = " and ".join(f"{n}()" for n in mutable)
        return IndexPredicate(True, f"PostgreSQL refuses it in an index: {REFUSED}, and {called} "
                                    f"{'is' if len(mutable) == 1 else 'are'} not")
    return IndexPredicate(False, "a read-only scan cannot ask PostgreSQL without creating a table, and this "
                                 "predicate holds a cast, an operator or a function it may refuse there")


# a column's name; not SQL's functions written without parentheses (current_timestamp is STABLE)
_NILADIC = r"(?:current_(?:date|time|timestamp|user|role|catalog|schema)|localtime|localtimestamp|session_user|user)"
_NAME = rf'(?:"(?:[^"]|"")+"|(?!{_NILADIC}(?![A-Za-z0-9_$]))[A-Za-z_][A-Za-z0-9_$]*)'
_PLAIN_TERM = (rf"(?:NOT\s+)?{_NAME}(?:\s+IS\s+(?:NOT\s+)?(?:NULL|TRUE|FALSE)"
               rf"|\s*(?:=|<>|!=|<=|>=|<|>)\s*'(?:[^']|'')*')?")
_PLAIN = re.compile(rf"\s*{_PLAIN_TERM}(?:\s+(?:AND|OR)\s+{_PLAIN_TERM})*\s*", re.IGNORECASE)


def _plain_predicate(where: str) -> bool:
    """Whether ``where`` is only columns tested for NULL (TRUE, FALSE), boolean columns and columns compared with
    a quoted literal, joined by AND/OR: every engine takes that in an index (the literal takes the column's type
    when the statement is parsed, and compares by the type's own immutable operator), so the engine is not asked
    and a soft-delete filter opens no second connection. Anything else (a function, a cast, a number, which may
    be cast: money's is STABLE) is asked.

    >>> [_plain_predicate(p) for p in ("deleted_at IS NULL", "status <> 'void' AND NOT archived",
    ...  "created_at > now()", "amount > 5", "created_at > '2026-01-01'::date", "a = b", "x IS NOT TRUE",
    ...  "x = 'a' AND CURRENT_TIMESTAMP IS NOT NULL", '"current_date" IS NULL', "current_datum = 'x'")]
    [True, True, False, False, False, False, True, False, True, True]
    """
    return _PLAIN.fullmatch(where) is not None


def concurrently(info: TableInfo) -> str:
    """``CONCURRENTLY `` for a PostgreSQL index that can be built without blocking writes; nothing on other
    engines, nor on a partitioned table, where PostgreSQL refuses it (``index_caveat`` says so)."""
    return "CONCURRENTLY " if info.dialect == "postgresql" and not info.partitioned else ""


def index_caveat(info: TableInfo) -> str:
    """What a person must know before running a recommended CREATE INDEX that cannot be CONCURRENTLY."""
    return ("; the table is partitioned, where PostgreSQL refuses CONCURRENTLY: it blocks writes while it builds "
            "(or build it CONCURRENTLY on each partition and ATTACH PARTITION each to an index created ON ONLY "
            "the table)") if info.partitioned else ""


def where_index_caveat(info: TableInfo) -> str:
    """What a person must know of a recommended index under --where: not partial, because the engine refuses the
    predicate in an index, or partial on a predicate that was not checked."""
    if not info.where or info.where_index is None:
        return ""
    if info.where_index.refused:
        return (f"; not partial on --where {info.where}: {info.where_index.reason} (an index on every row serves "
                "the scan as well)")
    return (f"; partial on --where, which was not checked ({info.where_index.reason}): the engine {MAY_REFUSE}; "
            "if CREATE INDEX says so, leave the WHERE out (an index on every row serves the scan as well)")


def timestamp_awareness(info: TableInfo, ts: str) -> bool | None:
    """Whether the timestamp column stores an instant (timestamptz) or a naive wall-clock time."""
    column = next(c for c in info.columns if c.name == ts)
    if column.timezone is not None and info.dialect != "sqlite":
        return bool(column.timezone)
    upper = column.type.upper()
    if "WITH TIME ZONE" in upper or upper in ("TIMESTAMPTZ", "TIMESTAMP_TZ"):
        return True
    if "TIMESTAMP" in upper or "DATETIME" in upper or info.dialect == "sqlite":
        return False  # SQLite: any declared type let in as --ts holds wall-clock text or epoch numbers
    return None


def read_in_utc(info: TableInfo, ts: str) -> bool:
    """Whether the naive values a scan reads are UTC for certain: a MySQL/MariaDB TIMESTAMP holds an instant,
    which the scan's session (time_zone '+00:00') hands back as UTC wall time; a --since bound needs no second
    reading in another zone there (it took rows hours older than the bound into a post-deploy check)."""
    column = next(c for c in info.columns if c.name == ts)
    return info.dialect in ("mysql", "mariadb") and column.type.upper().startswith("TIMESTAMP")


def check_timestamp_column(info: TableInfo, ts: str, conn: Connection | None = None) -> str | None:
    """Refuse a ``--ts`` column whose type is not a date-time (text, integer, date, ...): raise UsageError
    naming its type. SQLite keeps any value in any column and its own documentation keeps times as TEXT,
    INTEGER or REAL, so there a column of another declared type is let in when most of its first 1,000 values
    read as moments (``conn`` given); returns the note that says how it was read."""
    column = next((c for c in info.columns if c.name == ts), None)
    if column is None:
        return None
    upper = column.type.upper()
    declared = "TIMESTAMP" in upper or "DATETIME" in upper
    if info.dialect == "sqlite" and conn is not None and (declared or not upper.startswith("DATE")):
        # a DATETIME column keeps what it is given too: julianday() numbers read as epoch seconds put a daily
        # job's rows one "second" apart, and cleanup.sql deleted them as copies
        note = _sqlite_values_are_moments(conn, info, column)
        return None if declared else note
    if declared:
        return None
    hint = ("a date has no time of day, so rows written moments apart cannot be told apart"
            if upper.startswith("DATE") else _CONVERT_TIMESTAMP.get(info.dialect, _CONVERT_TIMESTAMP[None]))
    kind = "of no declared type" if upper in ("", "NULL") else column.type
    raise ColumnNotFound(f"timestamp column {ts!r} of table {info.qualified_name!r} is {kind}, not a "
                         f"date-time type (timestamp/datetime): {hint}")


def _sqlite_values_are_moments(conn: Connection, info: TableInfo, column: ColumnInfo) -> str:
    """The note for a SQLite --ts column declared other than a date-time whose values are moments; raise
    ColumnNotFound, with a value that is not, when fewer than half of the first 1,000 are."""
    from .sqltemplates import quote_table, render_sql, spelled_out, sql_text

    sql = render_sql("ts_sample_sqlite.sql.j2", conn.dialect, table=quote_table(conn.dialect, info.name, info.schema),
                     ts=column.name, where=info.where)
    sampled, moments, example = conn.execute(sql_text(sql)).one()
    kind = "of no declared type" if column.type.upper() in ("", "NULL") else f"declared {column.type}"
    if sampled and moments * 2 < sampled:
        shown = spelled_out(str(example))[:40]
        raise ColumnNotFound(
            f"timestamp column {column.name!r} of table {info.qualified_name!r} is {kind}, and {sampled - moments:,} "
            f"of its first {sampled:,} values are not a date-time with a time of day (e.g. {shown!r}): SQLite lets "
            "a column of any type hold times (ISO text, epoch seconds), but this one holds something else"
            + _julian_hint(example))
    return (f"the timestamp column is {kind}: SQLite keeps any value there, so each is read as ISO text (T or "
            "space, with or without an offset) or as epoch seconds stored as numbers; text that is no time is counted "
            "apart")


def _julian_hint(example: object) -> str:
    """How to read a refused number: a Julian day number (SQLite's REAL time, julianday()'s; days since 4714 BC:
    1,721,426 is year 1, 5,373,484 year 9999), or epoch seconds kept as text (SQLite compares text as text)."""
    try:
        number = float(str(example))
    except ValueError:
        return ""
    if isinstance(example, str) and 100_000_000 <= number < 100_000_000_000:
        return (" (epoch seconds stored as text are not read as times: scan a view holding CAST(col AS REAL), "
                "with --id COL)")
    return (" (a Julian day number, as julianday() gives, is no epoch second: scan a view holding "
            "(col - 2440587.5) * 86400)" if 1_721_426 <= number < 5_373_485 else "")


# How to turn a column that is not a date-time into one, per engine: the advice must work where it is given
_CONVERT_TIMESTAMP = {
    None: "convert it in a view (e.g. to_timestamp(col) for epoch seconds) and scan the view",
    "mysql": "convert it in a view (FROM_UNIXTIME(col) for epoch seconds, CAST(col AS DATETIME(6)) for text) "
             "and scan the view with --id COL (a MySQL view has no primary key)",
}
_CONVERT_TIMESTAMP["mariadb"] = _CONVERT_TIMESTAMP["mysql"]
