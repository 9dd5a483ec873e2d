"""Propose business keys: tables with a creation timestamp and no unique constraint besides the primary
key, and for each the column sets that are unique except for rows written moments apart.

Every measurement is one GROUP BY in the database (``queries/discover_keyset.sql.j2``); big tables are read
through their latest rows only (a time slice keeps both copies of a double write, a random sample would
split them).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import itertools
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .connect import (
    ENGINE_LABELS,
    TableInfo,
    check_timestamp_column,
    check_where,
    first_line,
    index_predicate,
    introspect,
    read_only,
    recovery_conflict,
    standby_state,
    table_names,
    where_index_caveat,
)
from .detect import read_from
from .errors import ColumnNotFound, QueryFailed, UsageError
from .recommend import STANDBY_INDEX
from .sqltemplates import render_sql, spelled_out, sql_text
from .writers import ROLE_WORDS, name_words

NEAR_SECONDS = 5.0       # copies written this close together are the double-write fingerprint
WINDOW_SECONDS = 2       # the starter config's window (the scan's default)
SLICE_ROWS = 500_000     # big tables are measured on their latest rows
EMPTY = "all 0 rows"     # what an empty table had read: a key may come from its namesakes in other schemas
MAX_COLUMNS = 8          # candidate columns per table (pairs of them are tried too)
MAX_KEY_COLUMNS = 4      # the widest key proposed: a ledger's (account_id, entry_date, currency, reference)
# sets of 3 and 4 columns measured per table at most (8 candidates make 56 + 70 = 126): one GROUP BY each, so the
# cost follows this number, never the table's width; discover --max-combinations changes it
MAX_COMBINATIONS = 64
# words of the moment a row was written, first; a pipeline's landing words (ingested, loaded, ...) rank above the bare
# "at" of an event's own time (occurred_at), which a redelivered copy carries unchanged
TS_WORDS = ("created", "inserted", "written", "recorded", "logged", "received", "applied", "charged",
            "exported", "reserved", "booked", "ingested", "loaded", "landed", "consumed", "processed", "computed",
            "at", "ts", "time", "timestamp")
MEASURE_WORDS = {"amount", "cents", "total", "count", "sum", "qty", "quantity", "price", "balance", "cost",
                 "checksum", "hash", "md5", "sha", "digest", "note", "notes", "comment", "description",
                 "payload", "body", "data", "json", "status", "state"}
# types a GROUP BY cannot compare (geometric, xml) or the dialect did not recognise (reflected as NULL)
_NO_EQUALITY = re.compile(r"^(NULL|POINT|LINE|LSEG|BOX|PATH|POLYGON|CIRCLE|XML|GEOMETRY|GEOGRAPHY)\b")
# lists, structs and maps (DuckDB VARCHAR[], STRUCT(...), MAP(...); ClickHouse Array, Tuple, Map) hold a row's
# details, not its identity: DuckDB's tags, attrs and props were each offered as "also possible" keys
_NESTED = re.compile(r"\[\]$|^(STRUCT|MAP|UNION|ARRAY|TUPLE|NESTED)\(")
# a currency keys a ledger's entries with the account, date and reference (one reference posts in two currencies)
KEY_WORDS = {"id", "ref", "reference", "no", "number", "key", "code", "uuid", "sku", "date", "day",
             "month", "period", "window", "week", "year", "currency", "ccy"}
# who ran the write (a machine, a process, one execution): such a column makes two copies of one row look like
# two rows, so it never enters a proposed key. What was run (job, batch), a version and an application can be
# what a row is about (job_id and run_date key a job's output; doc_id and version a document's), so they stay
WHO_WORDS = {*ROLE_WORDS["host"], *ROLE_WORDS["process"], "run", "execution", "invocation", "attempt",
             "consumer", "producer", "publisher", "subscriber", "listener", "executor", "runner", "scheduler",
             "agent", "daemon"}
# ... but a version, release or build qualified by what runs (app_version, service_release, client_build) is the
# writing software's release: two releases writing one invoice during a rolling deploy are two copies, and with
# app_version a candidate, discover proposed (customer_id, app_version), whose groups hold every copy apart
# (stranger20: 252 deploy-overlap copies of 255 went unseen by the scan of the proposed key)
RELEASE_OF = {*ROLE_WORDS["app"], "software", "image", "deploy", "deployment"}
PERIOD_WORDS = {"date", "day", "week", "month", "quarter", "year", "period", "window"}
# a timestamp column named for a period (accrual_hour, period_start, billing_month) holds the period a job wrote
# for, a key part; other timestamps (a "date" named column too: payment_date holds an instant) stay out
# (stranger22: an hourly job keyed (account_id, accrual_hour) got no key proposed)
PERIOD_STAMP_WORDS = PERIOD_WORDS - {"date"} | {"hour"}
# the most rows a key's copies may hold: one per process that ran the job (stranger22: a scheduler in each of 4
# gunicorn workers wrote four copies a key, refused under the earlier bound of 3); a group wider than that is
# no copy of one row, and a further column splitting the group says so whatever its size. Groups of more than
# PAIRS rows count only over WIDE_KEYS repeated keys or more, not all written at one instant: 30 accounts
# inserted by one statement made (annual_rate), 3 values, 10 rows each, a key (a unique customer_id beside it
# splits nothing, since a column unique on its own tells nothing)
PAIRS = 3
MAX_COPIES = 10
WIDE_KEYS = 20
# share of the most rows any fitting set keys that a proposal must key before fewer columns count
KEYED = 0.95
WHO_QUALIFIERS = {"id", "name", "pid", "host", "no", "number", "uuid", "key", "tag"}
# a message's own id (Celery's task_id, a queue's message_id, a request id): one per message sent, the same id again
# only when the queue redelivers it. Unique but for redeliveries, it fits a key as well as any, and being one
# column it was proposed over the business key (stranger: payouts keyed on task_id, window 4 s); but a second
# scheduler or a run of the job twice sends new messages with new ids, so a scan of it finds redeliveries only.
# It is proposed only when no other set of columns keys the table, and named beside the key either way
MESSAGE_WORDS = {"task", "message", "msg", "request", "delivery"}
MESSAGE_QUALIFIERS = {"id", "uuid", "guid"}


@dataclass(frozen=True)
class KeySet:
    columns: tuple[str, ...]
    key_groups: int
    dup_groups: int
    near_groups: int
    dup_rows: int
    near_span_us: int = 0  # the longest span of the near groups: what the window must hold

    @property
    def near_share(self) -> float:
        return self.near_groups / self.dup_groups if self.dup_groups else 1.0

    @property
    def rows_keyed(self) -> int:
        """The rows whose key holds no NULL (a UNIQUE constraint on the set constrains these only)."""
        return self.key_groups - self.dup_groups + self.dup_rows

    @property
    def rows_per_group(self) -> float:
        return self.dup_rows / self.dup_groups if self.dup_groups else 0.0


@dataclass
class Proposal:
    table: str
    ts: str
    keys: tuple[str, ...] | None
    evidence: str
    rows_read: str
    alternatives: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the table could not be measured (it is left out, the rest goes on)
    window: int | None = None  # whole seconds, when the copies the evidence counts are further apart than 2 s
    index: str | None = None  # CREATE INDEX on (key..., ts) when no index starts with the key: scans sort then
    identity: str | None = None  # why a scan cannot find the table's rows again until `ids` are named
    index_where: str | None = None  # where to run ``index``: on a hot standby, the primary
    where: str | None = None  # discover --where: only the rows matching it were measured (and the scan reads)
    searched: str | None = None  # how many sets of 3-4 columns were measured, when the bound cut the search
    # under --where: why ``index`` is not partial on it (the engine refuses it in an index: now() is not IMMUTABLE),
    # or that it was not checked (a cast or operator PostgreSQL may refuse there: connect.index_predicate)
    index_note: str | None = None
    message_id: str | None = None  # a message id column (message_id_column), proposed as the key or not
    message_note: str | None = None  # what it finds as a key, and what it hides

    @property
    def note_lines(self) -> list[str]:
        """The notes a person reads under the proposal (the text output, the TOML comments)."""
        return [self.message_note] if self.message_note else []

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "ts": self.ts, "keys": list(self.keys) if self.keys else None,
                "evidence": self.evidence, "rows_read": self.rows_read, "alternatives": self.alternatives,
                "skipped": self.skipped, "index": self.index, "window": self.window, "identity": self.identity,
                **({"index_where": self.index_where} if self.index_where else {}),
                **({"where": self.where} if self.where else {}),
                **({"searched": self.searched} if self.searched else {}),
                **({"index_note": self.index_note} if self.index_note else {}),
                **({"message_id": self.message_id, "message_note": self.message_note} if self.message_id else {})}

    @property
    def index_advice(self) -> str:
        """The index line a person reads (the text output, the TOML comment): where to run it too."""
        where = f"; {self.index_where}" if self.index_where else ""
        return (f"no index starts with this key, so every scan sorts the table's keys: {self.index}"
                f"{'; ' + self.index_note if self.index_note else ''}{where}")


def discover(url: str, schemas: Sequence[str] = (), where: str | None = None,
             max_combinations: int = MAX_COMBINATIONS) -> list[Proposal]:
    """Propose a key per table of every schema ``schemas`` names (none: the default schema), read-only;
    ``where``: only the rows matching this predicate count (a table it does not work on is skipped);
    ``max_combinations``: how many sets of 3 and 4 columns one table's search measures at most.

    A schema-per-tenant database holds the same tables in hundreds of schemas: one run over all of them
    (``tenant_*``) writes one config, where a run per schema wrote hundreds of files to merge by hand.
    """
    with read_only(url) as conn:
        inspector = sa.inspect(conn)
        try:
            chosen = (matching_schemas(inspector.get_schema_names(), schemas, conn.dialect.name)
                      if schemas else [None])
        except sa.exc.DBAPIError as err:
            raise QueryFailed(f"cannot list schemas: {first_line(err)}") from None
        named = [(_bare(p.table, schema), p) for schema in chosen
                 for p in _discover_schema(conn, inspector, schema, where, max_combinations)]
        proposals = [_borrowed(conn, p, name, named) if p.rows_read == EMPTY else p for name, p in named]
        if standby_state(conn):
            proposals = [dataclasses.replace(p, index_where=STANDBY_INDEX) if p.index else p for p in proposals]
    return proposals


def _bare(qualified: str, schema: str | None) -> str:
    """A table's name without the schema it was listed in."""
    return qualified[len(schema) + 1:] if schema else qualified


def _borrowed(conn: Connection, empty: Proposal, name: str, named: list[tuple[str, Proposal]]) -> Proposal:
    """An empty table's key, the one most tables of the same name in the other schemas discovered got (a tie
    borrows nothing), when this table has its columns: a tenant with no invoices yet got no entry, so the
    nightly check skipped its invoices from the night the tenant started billing. A shared public table of
    the same name keyed otherwise is outvoted, not a veto. Otherwise the empty proposal."""
    votes = Counter((p.keys, p.ts) for n, p in named if n == name and p.keys)
    ranked = votes.most_common(2)
    if not ranked or len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
        return empty
    (keys, ts), count = ranked[0]
    try:
        with _savepoint(conn):
            info = introspect(conn, empty.table, {"key": list(keys), "ts": [ts]}, require_identity=False)
    except (ColumnNotFound, QueryFailed, sa.exc.DBAPIError):
        return empty
    # discover --where: its index is partial on the predicate, as its namesakes' are (introspect reads no --where)
    info = dataclasses.replace(info, where=empty.where)
    return Proposal(info.qualified_name, ts, keys, f"the table is empty: the key {count:,} of the "
                    f"{sum(votes.values()):,} other {name} tables discovered got", EMPTY,
                    **_missing_index(conn, info, keys, ts), identity=_identity_missing(info), where=empty.where)


def matching_schemas(names: Sequence[str], patterns: Sequence[str], dialect: str | None = None) -> list[str]:
    r"""The schemas ``patterns`` name, each an exact name or a shell-style glob, in the database's order.

    A glob never picks ``information_schema`` (``*`` means the user's schemas); a pattern matching nothing is
    an error naming the closest few schemas, not a line listing all 300 of a schema-per-tenant database. On
    PostgreSQL a pattern matching no name as given is read as PostgreSQL reads a name (and psql's ``\dn`` a
    pattern): unquoted letters in lower case, a double-quoted part exactly as written (``""`` a quote in it,
    ``*`` and ``?`` in it plain characters), so ``Ledger`` finds ``ledger`` and ``'"Ledger"'`` finds ``Ledger``.

    >>> matching_schemas(["public", "tenant_0001", "tenant_0002", "Tenant-ACME", "information_schema"],
    ...                  ["tenant_*", "Tenant-ACME"])
    ['tenant_0001', 'tenant_0002', 'Tenant-ACME']
    >>> matching_schemas(["ledger", "Billing Ops", "a*b"], ["LEDGER", '"Billing Ops"', '"a*b"'], "postgresql")
    ['ledger', 'Billing Ops', 'a*b']
    """
    chosen: set[str] = set()
    for pattern in patterns:
        found = _schemas_named(pattern, names, dialect)
        if not found:
            raise UsageError(f"schema {pattern!r} not found; {_closest(pattern, names, dialect)}")
        chosen |= found
    return [n for n in names if n in chosen]


def _schemas_named(pattern: str, names: Sequence[str], dialect: str | None) -> set[str]:
    """The schemas one ``--schema`` names: itself, the glob as given, else (PostgreSQL) the name or psql
    pattern as PostgreSQL reads it."""
    if pattern in names:
        return {pattern}
    found = {n for n in names if n != "information_schema" and fnmatch.fnmatchcase(n, pattern)}
    if found or dialect != "postgresql":
        return found
    read = _postgresql_pattern(pattern)
    return {n for n in names if n != "information_schema" and read.fullmatch(n)} if read else set()


def _postgresql_pattern(pattern: str) -> re.Pattern | None:
    r"""A schema pattern as PostgreSQL reads an identifier and psql a pattern: outside double quotes ASCII
    letters in lower case and ``*``/``?`` wildcards, inside them every character as itself (``""``: one quote);
    None when a quote is left open.

    >>> [bool(_postgresql_pattern(p).fullmatch(n)) for p, n in [("Ledger", "ledger"), ('"Ledger"', "ledger"),
    ...     ('"Ledger"', "Ledger"), ('Tenant_"ACME"*', "tenant_ACME-1"), ('"a""b"', 'a"b'), ('"x*"', "xy")]]
    [True, False, True, True, True, False]
    >>> _postgresql_pattern('"open') is None
    True
    """
    out: list[str] = []
    quoted, i = False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == '"':
            if quoted and pattern[i + 1:i + 2] == '"':
                out.append(re.escape('"'))
                i += 2
                continue
            quoted = not quoted
        elif quoted:
            out.append(re.escape(ch))
        elif ch in "*?":
            out.append(".*" if ch == "*" else ".")
        else:
            out.append(re.escape(ch.lower() if "A" <= ch <= "Z" else ch))  # PostgreSQL folds ASCII letters only
        i += 1
    return None if quoted else re.compile("".join(out), re.DOTALL)


def _closest(pattern: str, names: Sequence[str], dialect: str | None = None) -> str:
    """The few schema names nearest a mistyped one (else the first few), and how many there are in all; one
    differing only in case first (a quoted mixed-case schema typed in lower case), with how to name it."""
    bare = pattern[1:-1].replace('""', '"') if len(pattern) > 1 and pattern[0] == pattern[-1] == '"' else pattern
    cased = [n for n in names if n.casefold() == bare.casefold() and n != bare]
    near = list(dict.fromkeys([*cased, *difflib.get_close_matches(bare, names, n=5, cutoff=0.5)]))[:5]
    shown = near or list(names[:5])
    more = f" (of {len(names)})" if len(names) > len(shown) else ""
    hint = ""
    if cased and dialect == "postgresql":
        quoted = '"' + cased[0].replace('"', '""') + '"'
        hint = (f"; PostgreSQL reads an unquoted name in lower case and a double-quoted one as written: "
                f"--schema {_shell_word(cased[0])} or --schema {_shell_word(quoted)}")
    elif cased:
        hint = f"; names differ in case here: --schema {_shell_word(cased[0])}"
    return (f"{'closest' if near else 'schemas'}: {', '.join(map(spelled_out, shown))}{more}{hint}" if shown
            else "the database has no schema")


def _shell_word(text: str) -> str:
    """``text`` as one shell word on one line (the hint is read, then typed)."""
    from .remediate import shell_word

    return shell_word(text)


def _discover_schema(conn: Connection, inspector: sa.Inspector, schema: str | None,
                     where: str | None = None, max_combinations: int = MAX_COMBINATIONS) -> list[Proposal]:
    """Propose a key per table of one schema (``None``: the default one); a table it cannot read is skipped."""
    proposals = []
    try:
        # PyHive's own listing reads the database column of Spark's SHOW TABLES: every "table" was the database
        listed = table_names(conn, schema) if conn.dialect.name == "hive" else inspector.get_table_names(schema)
        names = sorted(set(listed) - _partitions(conn, schema))
    except sa.exc.DBAPIError as err:
        raise QueryFailed(f"cannot list tables: {first_line(err)}") from None
    for name in names:
        if name.startswith(("dupfinder_backup_", "alembic_version")):
            continue
        qualified = f"{schema}.{name}" if schema else name
        try:
            # one table that cannot be read (no SELECT privilege, a type without equality) is skipped with
            # a note, the transaction still usable for the next table
            with _savepoint(conn), warnings.catch_warnings():
                warnings.simplefilter("ignore", sa.exc.SAWarning)  # types the dialect does not know
                proposal = _discover_table(conn, qualified, where, max_combinations)
        except (QueryFailed, sa.exc.DBAPIError) as err:
            if recovery_conflict(err):  # not this table's fault: the standby ended the whole read
                raise
            lines = str(getattr(err, "orig", None) or err).strip().splitlines()
            reason = lines[0] if lines else type(err).__name__
            proposal = Proposal(qualified, "", None, f"skipped: {reason}", "no rows", skipped=reason)
        if proposal is not None:
            proposals.append(proposal)
    return proposals


def _savepoint(conn: Connection):
    """A savepoint on PostgreSQL, where a failed statement would end the transaction every later table is read in
    (the other engines' transactions outlive a failed statement, and DuckDB has no savepoints)."""
    return conn.begin_nested() if conn.dialect.name == "postgresql" else nullcontext()


def _partitions(conn: Connection, schema: str | None) -> set[str]:
    """PostgreSQL: the partitions in ``schema``, left to their partitioned table; nothing elsewhere."""
    if conn.dialect.name != "postgresql":
        return set()
    return set(conn.execute(sql_text(render_sql("partitions_postgresql.sql.j2", conn.dialect)),
                            {"schema": schema}).scalars())


def _discover_table(conn: Connection, qualified: str, where: str | None = None,
                    max_combinations: int = MAX_COMBINATIONS) -> Proposal:
    info = introspect(conn, qualified, {}, require_identity=False)  # a key is proposed all the same
    if where:
        try:
            with _savepoint(conn):
                check_where(conn, info, where)
        except UsageError as err:  # a predicate on columns this table lacks: the others are still measured
            return Proposal(info.qualified_name, "", None, f"skipped: {err}", "no rows", skipped=str(err))
        info = dataclasses.replace(info, where=where)
    # a table passed over gets its line too: a person listing 25 tables and reading 24 wonders about the 25th
    constrained = [u for u in info.unique_constraints if tuple(u) != info.primary_key]
    if constrained:
        return Proposal(info.qualified_name, "", None, f"already unique on ({', '.join(constrained[0])}) beside its "
                        "primary key: a second copy of that key fails there", "no rows")
    ts = _timestamp_column(info, conn)
    if ts is None:
        return Proposal(info.qualified_name, "", None, "no creation-timestamp column (a timestamp or datetime type; a "
                        "date has no time of day), which a scan needs", "no rows")
    return _propose(conn, info, ts, max_combinations)


def _timestamp_column(info: TableInfo, conn: Connection | None = None) -> str | None:
    """The creation-timestamp column: a date-time column, preferring names that say 'created'; not the
    primary key itself, but a timestamp beside an id in it is one (a table partitioned by time must put its
    partition key in its primary key). On SQLite without one, a column named like a time whose values are
    moments, as a scan lets it in as --ts (SQLite's own documentation keeps times as TEXT or INTEGER)."""
    def is_time(c) -> bool:
        upper = c.type.upper()
        return "TIMESTAMP" in upper or "DATETIME" in upper or c.timezone is not None

    from .values import soft_delete_column

    deleted = soft_delete_column((c.name, c.type) for c in info.columns)  # set later, never the creation time
    timed = [c.name for c in info.columns if is_time(c) and info.primary_key != (c.name,) and c.name != deleted]
    if not timed and conn is not None and info.dialect == "sqlite":
        timed = [c.name for c in info.columns if info.primary_key != (c.name,) and _holds_moments(conn, info, c)]
    if not timed:
        return None
    return min(timed, key=lambda n: next((i for i, w in enumerate(TS_WORDS) if w in name_words(n)), len(TS_WORDS)))


def _holds_moments(conn: Connection, info: TableInfo, column) -> bool:
    """Whether a SQLite column named like a time (created_at TEXT, settled_at INTEGER) holds moments by the
    check a scan's --ts passes; a date or a name is no creation timestamp."""
    if not set(name_words(column.name)) & set(TS_WORDS) or column.type.upper().startswith("DATE"):
        return False
    try:
        check_timestamp_column(info, column.name, conn)
    except ColumnNotFound:
        return False
    return True


def who_column(name: str) -> bool:
    """Whether a column names who wrote the row (it ends in such a word, or such a word and a qualifier).

    >>> [who_column(n) for n in ("consumer_id", "worker", "scheduler_host", "run_id", "job_id", "version")]
    [True, True, True, True, False, False]
    >>> [who_column(n) for n in ("app_version", "service_release", "doc_version", "lock_version")]
    [True, True, False, False]
    """
    words = name_words(name)
    return bool(words) and (words[-1] in WHO_WORDS or
                            len(words) > 1 and words[-2] in WHO_WORDS and words[-1] in WHO_QUALIFIERS or
                            len(words) > 1 and words[-2] in RELEASE_OF and words[-1] in ROLE_WORDS["version"])


def message_id_column(name: str) -> bool:
    """Whether a column names a message's own id: a task, message, request or delivery id.

    >>> [message_id_column(n) for n in ("task_id", "celeryTaskId", "message_uuid", "request_id", "msg_id")]
    [True, True, True, True, True]
    >>> [message_id_column(n) for n in ("job_id", "event_id", "task", "task_name", "order_id", "message")]
    [False, False, False, False, False, False]
    """
    words = name_words(name)
    return len(words) > 1 and words[-2] in MESSAGE_WORDS and words[-1] in MESSAGE_QUALIFIERS


def _candidates(info: TableInfo, ts: str, messages: bool = False) -> list[str]:
    """The columns a key is measured on, key-like names first (``messages``: the message id columns instead)."""
    skip = set(info.primary_key) | {ts} | {c for c in info.column_names if who_column(c)}
    skip |= {c for c in info.column_names if message_id_column(c) != messages}
    found = []
    for c in info.columns:
        words = set(name_words(c.name))
        upper = c.type.upper()
        if c.name in skip or words & MEASURE_WORDS or "FLOAT" in upper or "REAL" in upper or "DOUBLE" in upper \
                or ("TIMESTAMP" in upper or "DATETIME" in upper) and not words & PERIOD_STAMP_WORDS \
                or "BLOB" in upper or "JSON" in upper \
                or _NO_EQUALITY.search(upper) or _NESTED.search(upper):
            continue
        found.append(c.name)
    found.sort(key=lambda n: (not set(name_words(n)) & KEY_WORDS, info.column_names.index(n)))
    return found[:MAX_COLUMNS]


# measures that tell two rows under one key apart (an invoice's "Subscription" and "Sales tax" lines), where the
# copies of a double write agree: never a key, but a difference in them says the rows are not copies. A status,
# checksum or document may differ between copies (one paid, one open), so those never split a key
SPLIT_WORDS = {"amount", "cents", "total", "count", "sum", "qty", "quantity", "price", "balance", "cost", "note",
               "notes", "comment", "description"}


def _splitters(info: TableInfo, ts: str, columns: list[str]) -> list[str]:
    """The candidate columns, then the measures that may show a proposed key's "copies" to be different rows."""
    skip = set(info.primary_key) | {ts} | set(columns)
    measures = [c.name for c in info.columns if c.name not in skip and not who_column(c.name)
                and set(name_words(c.name)) & SPLIT_WORDS and not _NO_EQUALITY.search(c.type.upper())
                and not re.search("FLOAT|REAL|DOUBLE|TIMESTAMP|DATETIME|BLOB|JSON", c.type.upper())
                and not _NESTED.search(c.type.upper())]
    return [*columns, *measures]


def _propose(conn: Connection, info: TableInfo, ts: str, max_combinations: int = MAX_COMBINATIONS) -> Proposal:
    table = read_from(conn.dialect, info)  # a parent's heirs' rows are not its own: a scan reads it ONLY too
    total = int(conn.execute(sql_text(render_sql("row_count.sql.j2", conn.dialect, table=table,
                                                 where=info.where))).scalar_one())
    lo = _slice_start(conn, table, ts, total, info.where)
    rows_read = (EMPTY if not total else f"all {total:,} rows" if lo is None
                 else f"the latest {SLICE_ROWS:,} of {total:,} rows")
    if total and info.row_security_role:  # the rows the policies show, not the table: keys measured on a part
        rows_read += f" that row-level security shows role {info.row_security_role}"
    columns = _candidates(info, ts)
    measured: dict[tuple[str, ...], KeySet] = {}

    def measure(cols: tuple[str, ...], nulls_kept: tuple[str, ...] = ()) -> KeySet:
        if (cols, nulls_kept) not in measured:
            sql = render_sql("discover_keyset.sql.j2", conn.dialect, table=table, keys=list(cols), ts=ts,
                             bounded=lo is not None, nulls_kept=list(nulls_kept), where=info.where)
            params: dict[str, Any] = {"near_us": int(NEAR_SECONDS * 1e6)}
            if lo is not None:
                params["lo"] = lo  # read from the column itself: it binds back as it came
            row = conn.execute(sql_text(sql), params).mappings().one()
            measured[cols, nulls_kept] = KeySet(cols, *(int(row[k] or 0) for k in
                                                        ("key_groups", "dup_groups", "near_groups", "dup_rows",
                                                         "near_span_us")))
        return measured[cols, nulls_kept]

    sets = [(c,) for c in columns] + list(itertools.combinations(columns, 2))
    splitters = _splitters(info, ts, columns)
    minimal = _minimal(sets, splitters, measure)
    searched = None
    if _wider_needed(minimal, columns, min(total, SLICE_ROWS), measure):
        wider, tried, possible = _wider(columns, splitters, minimal, measure, max_combinations, measured,
                                        min(total, SLICE_ROWS))
        sets += tried
        minimal += wider
        if len(tried) < possible:
            searched = (f"measured {len(tried):,} of the {possible:,} sets of 3-4 columns not holding a smaller "
                        "proposal (--max-combinations)")
    message_ids = _candidates(info, ts, messages=True)
    why_not = None if minimal else _why_no_key(total, columns, sets, measure)
    if not minimal and message_ids:  # a message id is the key only where nothing else keys the table
        minimal = _minimal([(c,) for c in message_ids], [*message_ids, *splitters], measure)
        if not minimal:  # said of the closest set, a message id among them
            why_not = _why_no_key(total, [*columns, *message_ids], [*sets, *((c,) for c in message_ids)], measure)
    if not minimal:
        return Proposal(info.qualified_name, ts, None, why_not, rows_read, where=info.where, searched=searched)
    # a set NULL in most rows is "unique" over the few it keys: of equal size, the set keying more rows first.
    # A UNIQUE constraint leaves the rows with a NULL key unconstrained, so a set leaving more than a few rows
    # out ranks after one keying (nearly) all, whatever their sizes: a bank reference NULL for a quarter of the
    # merchants was proposed over (merchant_id, settlement_date), and a quarter of the double run stayed open
    most = max(measure(s).rows_keyed for s in minimal)
    ranked = sorted(minimal, key=lambda s: (-min(measure(s).dup_groups, 1), measure(s).rows_keyed < KEYED * most,
                                            len(s), -measure(s).rows_keyed, -_name_score(s), -measure(s).dup_groups))
    best = measure(ranked[0])
    named = best.columns[0] if best.columns[0] in message_ids else message_ids[0] if message_ids else None
    note = _message_note(named, measure((named,)), why_not) if named else {}
    # a period holding one value in every row read (a first month of invoices) tells no row apart, so no minimal
    # key holds it, and a UNIQUE constraint on the rest refuses next month's invoice of every customer
    # (stranger20: (customer_id) proposed for invoices billed for 2026-11 only). It joins the key: the same
    # groups today, and the constraint still takes the next period
    same = [c for c in columns if c not in best.columns and set(name_words(c)) & PERIOD_WORDS
            and measure((c,)).key_groups == 1 and measure((c,)).rows_keyed >= best.rows_keyed][:4 - len(best.columns)]
    evidence = _evidence(best) + "".join(f"; {c} holds one value in every row read: kept in the key, so a UNIQUE "
                                         f"constraint still takes the next {c}" for c in same)
    return Proposal(info.qualified_name, ts, (*best.columns, *same), evidence, rows_read,
                    [f"{', '.join(s)}: {_evidence(measure(s))}" for s in ranked[1:4]],
                     **_missing_index(conn, info, (*best.columns, *same), ts), window=_window_for(best),
                    identity=_identity_missing(info), where=info.where, searched=searched, **note)


def _message_note(column: str, k: KeySet, why_not: str | None) -> dict[str, str]:
    """The note naming a message id column beside the proposal: what a scan keyed on it finds, and what it hides
    (``why_not``: why no other set of columns keys the table, where the message id is the key proposed)."""
    again = (f" ({k.near_groups:,} of its {k.key_groups:,} ids written again within {NEAR_SECONDS:g} s here)"
             if k.near_groups else "")
    found = (f"{column} looks like a message id: one per message sent, repeated only when the queue redelivers the "
             f"message{again}. As the key it finds redeliveries, but not a second scheduler or a job run twice, "
             "which send new messages with new ids")
    if why_not is None:
        text = (f"{found}; the key proposed is the business key, which finds both: scan with --writer run={column} "
                "beside the other writer columns to tell a redelivery (one id) from a second run (two ids)")
    else:
        text = f"{found}; proposed because no other set of columns keys the table ({why_not})"
    return {"message_id": column, "message_note": text}


def _minimal(sets: Sequence[tuple[str, ...]], splitters: list[str], measure,
             found: Sequence[tuple[str, ...]] = ()) -> list[tuple[str, ...]]:
    """The sets that qualify (they fit, and no further column splits their copies) and hold no smaller set that
    does, smallest first: a 4-column set whose 3-column part already keys the same copies is never proposed
    beside it, nor is a set measured for being too coarse once a part of it qualified."""
    chosen = list(found)
    for s in sorted(sets, key=len):
        if not any(set(o) < set(s) for o in chosen) and _fits(measure(s)) and not _too_coarse(s, splitters, measure):
            chosen.append(s)
    return chosen[len(found):]


def _wider_needed(minimal: list[tuple[str, ...]], columns: list[str], rows: int, measure) -> bool:
    """Whether keys of 3 and 4 columns are worth measuring: not when a set of 1-2 columns with double-write
    evidence keys (nearly) every row (a wider set ranks after it), nor when some set already qualifies and the
    rows agree on all the candidate columns (a unique column left out) nowhere within 5 s: then no wider set can
    show copies either, and a clean table costs one GROUP BY more instead of 126."""
    if len(columns) < 3:
        return False
    if any(measure(s).dup_groups and measure(s).rows_keyed >= KEYED * rows for s in minimal):
        return False
    if minimal:
        unique = {s[0] for s in minimal if len(s) == 1 and not measure(s).dup_groups}
        rest = tuple(c for c in columns if c not in unique)
        # copies agree on every candidate column, a NULL included: NULLs group together here
        return len(rest) >= 3 and bool(measure(rest, rest).near_groups)
    return True


def _wider(columns: list[str], splitters: list[str], minimal: list[tuple[str, ...]], measure, budget: int,
           measured: dict, rows: int) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], int]:
    """Sets of 3 and 4 columns holding no set that qualified (a superset of a key is no smaller key), measured up
    to ``budget`` of them, best first: the set that may tell the most rows apart (its distinct keys are at most
    those of any two parts of it multiplied, read from the parts measured), then the one whose measured parts
    hold the most distinct keys, then fewer columns and id-, reference- and date-like names. A 4-column set is
    measured after those of its 3-column parts not measured yet, and only while none of them qualifies: taken
    in column order, the bound was spent on the first columns' triples and a ledger's key never reached. The
    search ends at the first set that qualifies with copies in it and keys (nearly) every row (the sets after it
    are further from a key, and each costs a GROUP BY). Returns what qualified, what was measured, and how many
    sets not holding a qualifying one there were to measure."""
    found, tried = list(minimal), []
    order = [s for size in range(3, min(MAX_KEY_COLUMNS, len(columns)) + 1)
             for s in itertools.combinations(columns, size)]
    unaffordable: set[tuple[str, ...]] = set()

    def known(s: tuple[str, ...]) -> int | None:
        return measured[s, ()].key_groups if (s, ()) in measured else None

    def bound(s: tuple[str, ...]) -> int:
        best = max(rows, 1)
        for size in range(1, len(s) // 2 + 1):
            for a in itertools.combinations(s, size):
                ka, kb = known(a), known(tuple(c for c in s if c not in a))
                if ka is not None and kb is not None:
                    best = min(best, ka * kb)
        return best

    def nearness(s: tuple[str, ...]) -> float:
        for size in range(len(s) - 1, 0, -1):  # the largest parts measured
            parts = [k for p in itertools.combinations(s, size) if (k := known(p)) is not None]
            if parts:
                return sum(parts) / len(parts)
        return 0.0

    def open_sets() -> list[tuple[str, ...]]:
        return [s for s in order if s not in tried and not any(set(o) <= set(s) for o in found)]

    while len(tried) < budget:
        ready = [s for s in open_sets() if s not in unaffordable]
        if not ready:
            break
        s = min(ready, key=lambda s: (-bound(s), -nearness(s), len(s), -_name_score(s), order.index(s)))
        missing = [p for p in itertools.combinations(s, len(s) - 1) if len(s) > 3 and p not in tried]
        if len(tried) + len(missing) + 1 > budget:
            unaffordable.add(s)
            continue
        for part in [*missing, s]:
            if any(set(o) <= set(s) for o in found):
                break  # a part qualified: the 4-column set is no smaller key
            tried.append(part)
            found += _minimal([part], splitters, measure, found)
        if any(measure(o).dup_groups and measure(o).rows_keyed >= KEYED * rows for o in found[len(minimal):]):
            return found[len(minimal):], tried, len(tried)
    return found[len(minimal):], tried, len(tried) + len(open_sets())


def _window_for(k: KeySet) -> int | None:
    """Whole seconds that hold the near groups' longest span, when the default window does not: the evidence
    counts copies up to 5 s apart, and a config with the default 2 s made a scan call copies 2.3 s apart (a
    redelivery after a 2 s visibility timeout) far duplicates, none of them a cluster.

    >>> _window_for(KeySet(("ref",), 40, 3, 3, 6, 2_300_000)), _window_for(KeySet(("ref",), 40, 3, 3, 6, 900_000))
    (3, None)
    """
    return -(-k.near_span_us // 1_000_000) if k.near_span_us > WINDOW_SECONDS * 1_000_000 else None


def _identity_missing(info: TableInfo) -> str | None:
    """Why a scan refuses the table as it stands: no primary key and no row id (MySQL/MariaDB, Spark,
    ClickHouse, a view). The starter config then keeps its entry as a comment, so ``scan --config`` runs the other
    tables unedited instead of stopping at this one."""
    if info.primary_key or info.row_id:
        return None
    return (f"no primary key, and {ENGINE_LABELS.get(info.dialect, info.dialect)} has no row id: a scan needs the "
            "columns that identify a row; add ids = [...] naming them and uncomment the entry")


def _missing_index(conn: Connection, info: TableInfo, keys: tuple[str, ...], ts: str) -> dict[str, str | None]:
    """The CREATE INDEX a scan of the proposed key would want (``index``), when no index starts with the key:
    without one every scan sorts all the keys of the table (with it PostgreSQL reads them in order; see
    detect.key_index). None where an index exists or does not serve the scan (DuckDB, Spark, ClickHouse). Under
    --where it is partial on the predicate where the engine takes that in an index (``index_note`` says why not)."""
    from .config import table_spec
    from .detect import INDEXED_ENGINES, key_index, recommended_index_sql

    if info.view or conn.dialect.name not in INDEXED_ENGINES:
        return {"index": None}
    spec = table_spec(table=info.qualified_name, keys=list(keys), ts=ts)
    if key_index(conn, info, spec):
        return {"index": None}
    info = dataclasses.replace(info, where_index=index_predicate(conn, info, info.where))
    return {"index": recommended_index_sql(conn.dialect, info, spec),
            "index_note": where_index_caveat(info).removeprefix("; ") or None}


def _slice_start(conn: Connection, table: str, ts: str, total: int, where: str | None = None):
    """For a big table, the timestamp from which the latest SLICE_ROWS rows (matching ``where``) were written."""
    if total <= SLICE_ROWS:
        return None
    sql = render_sql("latest_rows_start.sql.j2", conn.dialect, table=table, ts=ts, where=where)
    return conn.execute(sql_text(sql), {"offset": SLICE_ROWS - 1}).scalar()


def _fits(k: KeySet) -> bool:
    """Unique, or duplicated only in small groups written moments apart."""
    if k.key_groups == 0:
        return False
    if k.dup_groups == 0:
        return True
    if k.rows_per_group > PAIRS:
        return (k.near_share >= 0.9 and k.rows_per_group <= MAX_COPIES and k.dup_groups >= WIDE_KEYS
                and k.near_span_us > 0)
    return k.near_share >= 0.9


def _why_no_key(total: int, columns: list[str], sets: list[tuple[str, ...]], measure) -> str:
    """Why no set fits, said of the set that came closest (a stranger read "order_ref is not unique except for
    rows written moments apart" where order_ref was exactly that but for one far duplicate)."""
    if not total:
        return "the table is empty: there is nothing to measure a key on"
    if not columns:
        return ("no candidate key column (the others are the primary key, timestamps, writer columns, "
                "measures, floats, JSON documents or types without equality)")
    measured = [measure(s) for s in sets]
    if not any(k.key_groups for k in measured):
        return f"every row has a NULL in each candidate column ({', '.join(columns)})"
    k = max(measured, key=lambda k: (k.key_groups > 0, k.near_share, -len(k.columns)))
    cols = ", ".join(k.columns)
    if k.near_share < 0.9:
        far = k.dup_groups - k.near_groups
        return (f"the closest, {cols}: {far:,} of its {k.dup_groups:,} repeated keys are written again more than "
                f"{NEAR_SECONDS:g} s apart (far duplicates; at most 10% may be)")
    if k.rows_per_group > PAIRS and not _fits(k):
        return (f"the closest, {cols}: its repeated keys hold {k.rows_per_group:.1f} rows each (at most {PAIRS} "
                f"for copies; up to {MAX_COPIES} over {WIDE_KEYS} repeated keys or more not written at one instant)")
    return (f"the closest, {cols}: its repeated keys differ in another column, so they are different rows, "
            "not copies")


def _too_coarse(cols: tuple[str, ...], columns: list[str], measure) -> bool:
    """Whether the 'duplicates' of a set differ in another column: then they are different rows (an order's
    two SKUs reserved together), not one row written twice. The other column's NULLs group together there:
    copies that both lack it do not differ in it (dropping those rows made a column NULL in most rows look
    like one that splits every group, and discover proposed it instead of the key). A column unique on its own
    (a generated row id that is no primary key, as on every ClickHouse table) splits copies too, so it tells
    nothing: it made the key look too coarse, and a pair with some other column was proposed instead."""
    base = measure(cols)
    if not base.dup_groups:
        return False
    for extra in columns:
        if extra in cols:
            continue
        alone = measure((extra,))
        if not alone.dup_groups and alone.key_groups >= base.rows_keyed:
            continue
        finer = measure(tuple(sorted((*cols, extra), key=columns.index)), (extra,))
        # split: half the groups gone, or (groups of more than two rows: an order's four SKUs reserved twice
        # stay eight rows in four pairs) a new key for every other group at least
        if finer.dup_groups < 0.5 * base.dup_groups or finer.key_groups - base.key_groups >= 0.5 * base.dup_groups:
            return True
    return False


def _name_score(cols: tuple[str, ...]) -> int:
    return sum(1 for c in cols if set(name_words(c)) & KEY_WORDS)


def _evidence(k: KeySet) -> str:
    if not k.dup_groups:
        return f"unique today over {k.key_groups:,} keys: the constraint can be added now"
    return (f"{k.key_groups:,} keys; {k.dup_groups:,} written more than once, {k.near_groups:,} of them within "
            f"{NEAR_SECONDS:g} s ({k.near_share:.0%}), {k.rows_per_group:.1f} rows each")


def starter_toml(url: str, proposals: list[Proposal]) -> str:
    """A dupfinder.toml that ``scan --config`` accepts; the password is never written."""
    from .connect import mask_url

    lines = ["# Written by `dupfinder discover`: review the keys, then `dupfinder scan --config dupfinder.toml`.",
             ""]
    if mask_url(url) != url:  # a password in the userinfo or in the query string
        lines += [f"# database = \"{_toml_escape(mask_url(url))}\"  # password removed: pass the URL on the "
                  "command line or in DUPFINDER_URL", ""]
    else:
        lines += [f"database = \"{_toml_escape(url)}\"", ""]
    lines += [f"window = \"{WINDOW_SECONDS}s\"", ""]
    for p in proposals:
        searched = [_comment(p.searched)] if p.searched else []
        if not p.keys:
            lines += [_comment(f"{p.table}: {p.evidence}"), *searched, ""]
            continue
        lines += [_comment(f"{p.evidence} (read {p.rows_read})"), *searched]
        lines += [_comment(f"also possible: {alt}") for alt in p.alternatives]
        lines += [_comment(note) for note in p.note_lines]
        if p.index:
            lines += [_comment(p.index_advice)]
        entry = ["[[table]]", f"name = \"{_toml_escape(p.table)}\"",
                 "keys = [" + ", ".join(f"\"{_toml_escape(k)}\"" for k in p.keys) + "]",
                 f"ts = \"{_toml_escape(p.ts)}\""]
        if p.where:
            entry += [f"where = \"{_toml_escape(p.where)}\""]
        if p.window:
            entry += [f"window = \"{p.window}s\"  # the copies counted above were up to {p.window} s apart"]
        lines += [_comment(p.identity), *(f"# {line}" for line in entry)] if p.identity else entry
        lines += [""]
    return "\n".join(lines)


def _comment(text: str) -> str:
    r"""A TOML comment line: a line break or other control character in a table or column name would end the
    comment and start TOML of the name's choosing, so such characters are spelled out.

    >>> _comment("events: no key"), _comment("nl\n[[table]]")
    ('# events: no key', '# nl\\u000a[[table]]')
    """
    return "# " + spelled_out(text)


def _toml_escape(text: str) -> str:
    r"""Text inside a TOML basic string: quotes and backslashes escaped, every control character (which TOML
    refuses there, not only the line break) as a ``\uXXXX`` escape.

    >>> print(_toml_escape('a"b\\c\nd\re'))
    a\"b\\c\u000ad\u000de
    """
    text = re.sub(r'(["\\])', r"\\\1", text)
    return re.sub("[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", text)
