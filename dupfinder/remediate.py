"""Cleanup, rollback and migration SQL, generated as plans: these functions return text and run nothing.

Everything is rendered from a findings document (so ``dupfinder cleanup FINDINGS.json`` regenerates the
same files), for the dialect the scan ran on. Names reach the SQL only through ``sqltemplates.ident``, values
only through ``sqltemplates.literal`` and comment text only through ``sqltemplates.comment_text``; nothing read
from the findings is trusted: every plan entry is checked here and again by the SQL at run time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.engine import Dialect

from . import values
from .config import check_predicate
from .connect import PG_TEXT_FORMAT
from .errors import BadFindings, TableNotFound, UsageError
from .findings import standby_note
from .recommend import NO_UNIQUE, NO_UNIQUE_ADVICE, partitioned_advice
from .sqltemplates import (
    _UNSAFE,
    comment_sql,
    comment_text,
    ident,
    literal,
    quote_table,
    render_sql,
    spelled_out,
    stream_sql,
)
from .values import since_shown
from .words import count
from .writers import ROLE_WORDS

BATCH_ROWS = 5000      # losing rows per transaction: long deletes hold locks and WAL in smaller pieces
LOCK_TIMEOUT = "5s"
LOCK_WAIT_SECONDS = 5
STATEMENT_TIMEOUT = "15min"
SUPPORTED = ("postgresql", "sqlite", "mysql", "duckdb", "hive (Spark SQL)", "chdb (ClickHouse)")
PLAN_ONLY = ("hive", "chdb")  # no multi-statement transactions: cleanup.sql is a plan of guarded steps
KEEP = ("earliest", "latest")
ON_DELETE = ("CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION")
# the engines' identifier limits in bytes (SQLite has none; the same names are used there)
NAME_BYTES = {"postgresql": 63, "mysql": 64, "mariadb": 64}
# which table a view's rows live in, and under which names, is the view's definition to say: dupfinder does not
# guess it (a view may join, filter or rename), so it deletes nothing from a view and adds no constraint to one
VIEW_REFUSAL = "a view: dupfinder changes tables only; scan the table the view reads to clean it up"
ROW_ID_COLUMN = "dupfinder_row_id"  # the backup's record of the row id of a table without a primary key
# DuckDB checks a foreign key against the rows as they were when its transaction began: a DELETE of a row a child
# pointed at fails ("still referenced by a foreign key") even after that child row was re-pointed in the same
# transaction (measured on DuckDB 2.0.1), so re-pointing and deleting cannot be one transaction there
DUCKDB_CHILDREN = ("DuckDB refuses to delete a row a foreign key pointed at earlier in the same transaction, even once "
                   "the child row is re-pointed, so re-pointing and deleting cannot be one transaction; re-point these "
                   "rows to the survivors first, then run cleanup.sql again")
PARTIAL_INDEX = ("postgresql", "sqlite")  # the engines whose unique index can leave the deleted rows out


class PlanPair(NamedTuple):
    """One losing row of the plan: literals only (a tuple, not a dict: 100,000 of them are held at once)."""

    loser: tuple[str, ...]
    survivor: tuple[str, ...]
    hashed: bool          # the scan took the row's md5 (PostgreSQL)
    row: tuple[str, ...]  # the plan row as the dialect's template writes it


def dialect_for(name: str) -> Dialect:
    """A SQLAlchemy dialect object for quoting and literals, without a connection."""
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    if name == "duckdb":
        return _duckdb_dialect()
    if name in PLAN_ONLY:
        return _plan_dialect(name)
    known = {"postgresql": postgresql, "sqlite": sqlite, "mysql": mysql, "mariadb": mysql}
    module = known.get(name)
    if module is None:
        raise UsageError(f"no SQL generator for dialect {name!r}: supported are {', '.join(SUPPORTED)}")
    return module.dialect()


def _plan_dialect(name: str) -> Dialect:
    """PyHive's dialect for Spark SQL, chdb-sqlalchemy's for ClickHouse: their quoting, fixed where needed."""
    from .connect import fix_quoting

    try:
        if name == "hive":
            from pyhive.sqlalchemy_hive import HiveDialect as PlanDialect
        else:
            from chdb_sqlalchemy.dialect import ChdbDialect as PlanDialect
    except ImportError as err:
        raise UsageError(f"writing {name} SQL needs its SQLAlchemy dialect: {err}") from None
    return fix_quoting(PlanDialect())


def _duckdb_dialect() -> Dialect:
    """DuckDB quotes and writes literals as PostgreSQL does: duckdb-engine's dialect when installed, else
    PostgreSQL's preparer under DuckDB's name (regenerating cleanup.sql needs no DuckDB driver)."""
    try:
        from duckdb_engine import Dialect as DuckDBDialect
        return DuckDBDialect()
    except ImportError:
        from sqlalchemy.dialects import postgresql

        dialect = postgresql.dialect()
        dialect.name = "duckdb"
        return dialect


def _split(qualified: str, schema: str | None = None, name: str | None = None) -> tuple[str | None, str]:
    """(schema, name) of a table: the findings' separate fields when present (a name may hold a dot)."""
    if name:
        return schema, name
    schema, dot, name = qualified.partition(".")
    return (schema, name) if dot else (None, qualified)


def scan_stamp(findings: dict[str, Any]) -> str:
    """The stamp of a scan (its time, to the second): it names the backup tables, so each scan's cleanup has its
    own backup and its own rollback.

    >>> scan_stamp({"scanned_at": "2026-11-03T02:30:00+00:00"})
    '20261103023000'
    """
    return re.sub(r"\D", "", str(findings.get("scanned_at", "")))[:14].ljust(14, "0")


def _truncate_utf8(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits ``limit`` bytes (never half a character).

    >>> _truncate_utf8("ééé", 5)
    'éé'
    """
    return text.encode("utf-8")[:max(limit, 0)].decode("utf-8", "ignore")


def _short_hash(*parts: str | None) -> str:
    return hashlib.sha256("\x00".join(p or "" for p in parts).encode("utf-8")).hexdigest()[:8]


def backup_name(schema: str | None, name: str, stamp: str, limit: int = 63) -> str:
    """The backup table of one table and one scan: a readable prefix, a hash of the full schema-qualified name
    and the scan's stamp, within ``limit`` bytes with room for the ``_rNNN`` tables of re-pointed children.

    >>> backup_name(None, "recon_summary", "20261103023000")
    'dupfinder_backup_recon_summary_9fe93c84_20261103023000'
    >>> len(backup_name(None, "é" * 40, "20261103023000").encode()) <= 63 - 5
    True
    """
    readable = re.sub(r"\W+", "_", name).strip("_").lower() or "table"
    fixed = len("dupfinder_backup_") + 1 + 8 + 1 + len(stamp) + 5  # + "_r999"
    prefix = _truncate_utf8(readable, limit - fixed).rstrip("_") or "t"
    return f"dupfinder_backup_{prefix}_{_short_hash(schema, name)}_{stamp}"


def _identity(row: dict[str, Any], ids: list[str], dialect: Dialect, where: str) -> list[str]:
    """The literals that find one row again: its primary key, or the ctid/rowid the scan read."""
    pk = row.get("pk")
    if not isinstance(pk, dict) or set(pk) != set(ids):
        raise BadFindings(f"{where}: a row's pk names {sorted(pk) if isinstance(pk, dict) else pk!r}, but rows of "
                          f"this table are identified by {ids}")
    values = [pk[c] for c in ids]  # a NULL never gets here: its cluster is left out (_unnamed)
    if any(isinstance(v, (dict, list)) for v in values):
        raise BadFindings(f"{where}: a row's pk holds a non-scalar value")
    return [literal(dialect, v) for v in values]


def _ondelete(fk: dict[str, Any], where: str) -> str:
    value = (fk.get("ondelete") or "NO ACTION").upper()
    if value not in ON_DELETE:
        raise BadFindings(f"{where}: ondelete {fk.get('ondelete')!r} is not one of {', '.join(ON_DELETE)}")
    return value


def _children(table: dict[str, Any], dialect: Dialect, backup: str, schema: str | None,
              ids: list[str]) -> list[dict[str, Any]]:
    """Foreign keys pointing at the table: re-pointable ones (one column, referring to a one-column primary
    key, in a child with a primary key to record the old reference by) and the ones cleanup must refuse."""
    pk = table.get("primary_key") or []
    children = []
    for n, fk in enumerate(table.get("referenced_by") or [], start=1):
        child_schema, name = _split(fk["table"], fk.get("schema"), fk.get("name_only"))
        reason = None
        # A reference to the whole primary key, in any column order, is re-pointed column by column from one plan
        # row. A partitioned table's primary key must hold its partition key, so every foreign key to one has two
        # columns or more: cleanup stopped on each such child (stranger20: invoices partitioned by month), and on
        # MySQL/MariaDB and SQLite on any composite key (order lines under (order_id, region))
        whole = (len(fk["columns"]) == len(pk) == len(set(fk["referred_columns"]))
                 and set(fk["referred_columns"]) == set(pk))
        if dialect.name == "duckdb":
            reason = DUCKDB_CHILDREN
        elif not (whole or len(fk["columns"]) == 1 and list(fk["referred_columns"]) == list(pk)) or ids != pk:
            reason = "it is not a one-column reference to the primary key"
        elif not fk.get("child_primary_key"):
            reason = "the child table has no primary key to record the old reference by"
        refs = f"{backup}_r{n}"
        children.append({
            "table": fk["table"], "qtable": quote_table(dialect, name, child_schema), "name": fk.get("name") or "",
            "columns": fk["columns"], "referred": fk["referred_columns"], "pk": fk.get("child_primary_key") or [],
            # (child column, its plan index, the column that keeps its old value in the record of references)
            "pairs": [(col, pk.index(ref) if ref in pk else 0, "old_ref" + (f"_{j}" if j else ""))
                      for j, (col, ref) in enumerate(zip(fk["columns"], fk["referred_columns"], strict=True))],
            "ondelete": _ondelete(fk, f"table {table['table']!r}: referenced_by[{n - 1}]"), "reason": reason,
            "refs": refs, "qrefs": quote_table(dialect, refs, schema),
            "scan": (f"dupfinder scan URL --table {shell_word(fk['table'])} --key {shell_word(fk['columns'][0])} "
                     "--key COLUMN --ts COLUMN"),
        })
    return children


def _keep(keep: str | None, table: dict[str, Any]) -> str:
    keep = keep or table.get("keep") or "earliest"
    if keep not in KEEP:
        raise UsageError(f"keep must be earliest or latest, not {keep!r}")
    return keep


_MYSQL_BIT = re.compile(r"^BIT\b", re.IGNORECASE)
_TIME = re.compile(r"^TIME\b(?!\s+WITH)", re.IGNORECASE)  # a MySQL TIME, not TIMESTAMP nor PostgreSQL's timetz
_TEXT = re.compile(r"^(N?(VAR)?CHAR|(TINY|MEDIUM|LONG)?TEXT|ENUM|SET)\b", re.IGNORECASE)  # MySQL text with a collation


def _table_context(table: dict[str, Any], dialect: Dialect, stamp: str, keep: str | None,
                   plan: bool = True) -> dict[str, Any]:
    """What the templates need for one table. ``plan=False`` (rollback) skips rendering the plan's literals,
    the costly part for big findings: rollback only needs to know there were losers."""
    schema, name = _split(table["table"], table.get("schema"), table.get("name"))
    pk = list(table.get("id_columns") or table.get("primary_key") or [])
    row_id = None if pk else table.get("row_id")
    ids = pk or ([row_id] if row_id else [])
    described = [c for c in table.get("columns", []) if isinstance(c, dict)]
    columns = [c["name"] for c in described]
    generated = {c["name"] for c in described if c.get("generated")}
    types = {c["name"]: str(c.get("type") or "") for c in described}
    writers = [w for w in table.get("writer_columns", []) if w.get("column") in columns and _trusted(w)]
    ignored = set(table.get("ignored_columns") or ())  # --ignore: never compared with the survivor
    # an id column differs between any two rows: a role the data read in one never makes a cluster divergent
    guessed = {**_roles_from_data(table, [c for c in columns if c not in pk and c not in ignored]),
               **{w["column"]: w.get("role", "?") for w in table.get("writer_columns", [])
                  if w.get("column") in columns and not _trusted(w)}}
    writer_columns = {w["column"] for w in writers}
    skip = set(pk) | set(table["keys"]) | {table["ts_column"]} | writer_columns | ignored
    payload = [c for c in columns if c not in skip]
    where = f"table {table['table']!r}"
    if row_id and ROW_ID_COLUMN in columns:
        raise UsageError(f"{where} has no primary key and a column named {ROW_ID_COLUMN}, the name its backup "
                         "needs for the row id: rename it, or give the table a primary key")
    # SQLite and MySQL have no md5 of a whole row: their guard compares every scanned value (blobs and MySQL
    # BIT values are read back as hex text, so they are left to the comparison with the survivor)
    bits = {n for n, t in types.items() if dialect.name in ("mysql", "mariadb") and _MYSQL_BIT.match(t)}
    checked = [c["name"] for c in described if "BLOB" not in str(c.get("type", "")).upper()
               and "BINARY" not in str(c.get("type", "")).upper() and c["name"] not in bits
               and c["name"] not in generated]
    keep = _keep(keep, table)
    survey = _survey(table, ids, dialect, keep, guessed, row_id, plan)
    planned = survey.losers if plan else 0

    def plan_rows() -> Iterator[PlanPair]:
        return _pairs(table, ids, dialect, keep, guessed, checked)
    backup = backup_name(schema, name, stamp, NAME_BYTES.get(dialect.name, 63))
    excluded = [{"column": c, "why": "primary key"} for c in pk]
    if table["ts_column"] in pk:  # a partitioned table's primary key holds its timestamp: one line, both reasons
        excluded[pk.index(table["ts_column"])]["why"] = "primary key; timestamp"
    else:
        excluded.append({"column": table["ts_column"], "why": "timestamp"})
    excluded += [{"column": w["column"], "why": f"writer column ({w.get('role', '?')}; "
                  f"{w.get('reason') or 'given'})"} for w in writers]
    # --ignore: a reviewer must see that a copy may differ from its survivor there and still be deleted
    excluded += [{"column": c, "why": "ignored (--ignore): left out of the comparison between copies; the backup "
                  "keeps its values"} for c in columns if c in ignored and c not in pk]
    children = _children(table, dialect, backup, schema, ids)
    return {
        # rollback.sql (plan=False) has no dollar-quoted block
        "tag": free_tag(survey.taken | tags_taken(fk["table"] for fk in table.get("referenced_by") or []))
        if plan else None,
        "table": table["table"], "schema": schema, "name": name, "qtable": quote_table(dialect, name, schema),
        # a table others INHERIT from is read and deleted from with ONLY: an heir's row may share a loser's id
        "qread": ("ONLY " if table.get("inherited_by") and dialect.name == "postgresql" else "")
        + quote_table(dialect, name, schema),
        "ids": ids, "row_id": row_id, "row_id_column": ROW_ID_COLUMN,
        "where": check_predicate(table.get("where")),  # scan --where: the guard checks it again (_plan.outside)
        "key_columns": table["keys"], "payload": payload, "columns": columns,
        "insert_columns": [c for c in columns if c not in generated], "checked": checked,
        # DuckDB: JSON text casts back to a list or struct but not to a MAP, wherever the MAP sits
        "json_checked": {c for c in checked if "MAP(" in types[c].upper()},
        # MySQL/MariaDB: a single-precision FLOAT holds 1.70000005 where the scan read 1.7, so the plan's literal
        # is cast to FLOAT before the comparison (it stopped every cleanup: "rows changed since the scan")
        "float_checked": {c for c in checked if types[c].upper().startswith("FLOAT")},
        # and a TIME is read as seconds (86399.5), which MySQL compares with '23:59:59.500' as a number
        "time_checked": {c for c in checked if _TIME.match(types[c])},
        # and a text column's collation (utf8mb4_unicode_ci) met the plan's, the client connection's
        # (utf8mb4_general_ci under --default-character-set=utf8mb4): "Illegal mix of collations", every cleanup
        # stopped; compared byte for byte in utf8mb4 instead, a case-only change since the scan is seen too
        "text_checked": {c for c in checked if _TEXT.match(types[c])},
        # the plan is rendered as the template reads it, a batch at a time, and kept by no one
        "pairs": Replay(planned, plan_rows),
        "losers": survey.losers,
        "plan_columns": [*(f"loser_{i}" for i in range(len(ids))), *(f"survivor_{i}" for i in range(len(ids))),
                         *(["hash"] if dialect.name == "postgresql" else [f"v_{i}" for i in range(len(checked))])],
        "key_compare": [{"name": k, "text": _no_equality(types.get(k))} for k in table["keys"]],
        "batches": Replay(-(-planned // BATCH_ROWS), lambda: _batches(plan_rows())),
        "clusters": survey.clusters, "divergent": Replay(survey.divergent, lambda: _divergent(table, guessed)),
        "unnamed": Replay(survey.unnamed, lambda: _unnamed_clusters(table, guessed)),
        "identity": identity_label(table),
        "keep": keep, "backup": backup,
        "qbackup": quote_table(dialect, backup, schema), "excluded": excluded,
        # Spark's by-hand rewrite of a parquet table: both in the table's database (a rename cannot move a table
        # between databases, and `spark-sql -f` starts in `default`)
        "qkept": quote_table(dialect, backup + "_kept", schema), "qold": quote_table(dialect, backup + "_old", schema),
        "hashed": planned > 0 and survey.hashed,
        "children": children, "text_format": PG_TEXT_FORMAT, "stamp": stamp,
        "storage": table.get("storage"),
        # Spark: the backup is stored like the table (CTAS would make a Hive SerDe table); a provider name
        # only, else parquet
        "backup_format": table.get("storage") if re.fullmatch(r"[a-z][a-z0-9_]*", table.get("storage") or "")
        and table.get("storage") != "hive" else "parquet",
        "unsupported": VIEW_REFUSAL if table.get("view") else
        None if ids else "the table has neither a primary key nor a row id the engine exposes",
    }


class Replay:
    """A list a template reads by iterating: each pass renders its items again from the findings and keeps
    none of them (cleanup.sql's plan of 50,000 rows held 55 MiB while rendered). ``len`` is known
    beforehand, for the header's counts and ``loop.length``."""

    def __init__(self, length: int, items: Callable[[], Iterator[Any]]) -> None:
        self.length, self.items = length, items

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Any]:
        return self.items()


class Survey(NamedTuple):
    """What one walk over a table's clusters learns before any SQL is written."""

    clusters: int      # identical clusters cleanup deletes from
    losers: int        # their losing rows
    divergent: int
    unnamed: int       # identical clusters left out: a row's identity is NULL, so no statement can name it
    hashed: bool       # every planned losing row carries the md5 the scan took
    taken: frozenset[str]  # dollar-quote tag suffixes some text of the findings holds


def _cleanable(cluster: dict[str, Any], guessed: dict[str, str]) -> list[str] | None:
    """None when cleanup may delete the copies of a cluster, else the columns its rows differ in (a column
    only guessed to name the writer counts as a business difference)."""
    differ_guessed = _differing(cluster["rows"], guessed)
    if cluster["payload"] == "identical" and not differ_guessed:
        return None
    return list(dict.fromkeys([*cluster["differing_columns"], *differ_guessed]))


def _survey(table: dict[str, Any], ids: list[str], dialect: Dialect, keep: str, guessed: dict[str, str],
            row_id: str | None, plan: bool) -> Survey:
    """Count the table's clusters and, for a plan, check every row identity the plan will name and find the
    dollar-quote tags its texts hold, keeping counts and 64-bit hashes only: bad findings fail here, before a
    line of SQL is written."""
    clusters = losers = divergent = unnamed = planned = 0
    hashed, taken = True, set()
    loser_hashes: set[int] = set()
    survivor_hashes: set[int] = set()
    where = f"table {table['table']!r}"
    deleted = soft_delete_column(table)
    if plan:  # every text of the table's findings, a cluster or incident at a time
        taken |= tags_taken(_dollar_texts({k: v for k, v in table.items() if k not in ("clusters", "incidents")}))
        for incident in table.get("incidents") or ():
            taken |= tags_taken(_dollar_texts([incident]))
    for number, cluster in enumerate(table["clusters"]):
        if plan:
            taken |= tags_taken(_dollar_texts([cluster]))
        rows = cluster["rows"]
        if _cleanable(cluster, guessed) is not None:
            divergent += 1
            continue
        if not ids:
            continue
        if _unnamed(cluster):
            unnamed += 1
            continue
        clusters += 1
        losers += len(rows) - 1
        if not plan:
            continue
        here = f"{where}, cluster {number}"
        survivor = _survivor(rows, keep, deleted)
        survivor_id = tuple(_identity(survivor, ids, dialect, here))
        survivor_hashes.add(hash(survivor_id))
        for row in rows:
            if row is survivor:
                continue
            loser_id = tuple(_identity(row, ids, dialect, here))
            if loser_id == survivor_id:
                raise BadFindings(f"{here}: a losing row is its own survivor ({', '.join(loser_id)}); "
                                  "this findings file was not written by a scan: scan again")
            if hash(loser_id) in loser_hashes and loser_id in _plan_ids(table, ids, dialect, keep, guessed, planned):
                hint = (f"; {row_id} values repeat when a table is partitioned (each partition has its own): scan "
                        "again with --id COL, columns that identify a row") if row_id else ""
                raise BadFindings(f"{here}: the row {', '.join(loser_id)} is listed as a losing row twice{hint}")
            loser_hashes.add(hash(loser_id))
            planned += 1
            hashed = hashed and isinstance(row.get("hash"), str)
    if loser_hashes & survivor_hashes:  # maybe: the exact identities say
        shared = loser_hashes & survivor_hashes
        both = (set(_plan_ids(table, ids, dialect, keep, guessed, None, shared))
                & set(_plan_ids(table, ids, dialect, keep, guessed, None, shared, survivors=True)))
        if both:
            raise BadFindings(f"{where}: the row {', '.join(sorted(both)[0])} is a survivor in one cluster and a "
                              "losing row in another; scan again")
    return Survey(clusters, losers, divergent, unnamed, hashed, frozenset(taken))


def _cleaned(table: dict[str, Any], ids: list[str], dialect: Dialect, keep: str, guessed: dict[str, str]
             ) -> Iterator[tuple[tuple[str, ...], dict[str, Any] | None, tuple[str, ...]]]:
    """For each cluster cleanup deletes from, in order: (survivor's identity, None, ()) and then (survivor's
    identity, losing row, its identity) per losing row."""
    where = f"table {table['table']!r}"
    deleted = soft_delete_column(table)
    for number, cluster in enumerate(table["clusters"] if ids else ()):
        if _cleanable(cluster, guessed) is not None or _unnamed(cluster):
            continue
        rows = cluster["rows"]
        here = f"{where}, cluster {number}"
        survivor = _survivor(rows, keep, deleted)
        survivor_id = tuple(_identity(survivor, ids, dialect, here))
        yield survivor_id, None, ()
        for row in rows:
            if row is not survivor:
                yield survivor_id, row, tuple(_identity(row, ids, dialect, here))


def _plan_ids(table: dict[str, Any], ids: list[str], dialect: Dialect, keep: str, guessed: dict[str, str],
              first: int | None, hashes: set[int] | None = None, survivors: bool = False
              ) -> Iterator[tuple[str, ...]]:
    """The exact identities where the survey's hashes meet: of the first ``first`` losing rows (all: None), or
    of every survivor, those with one of ``hashes`` only when given."""
    losers = 0
    for survivor_id, row, loser_id in _cleaned(table, ids, dialect, keep, guessed):
        if row is not None and first is not None and losers == first:
            return
        losers += row is not None
        found = survivor_id if survivors else loser_id
        if (row is None) == survivors and (hashes is None or hash(found) in hashes):
            yield found


def _pairs(table: dict[str, Any], ids: list[str], dialect: Dialect, keep: str, guessed: dict[str, str],
           checked: list[str]) -> Iterator[PlanPair]:
    """The plan's rows, one per losing row, rendered as literals of ``dialect`` only (the survey checked them)."""
    for survivor_id, row, loser_id in _cleaned(table, ids, dialect, keep, guessed):
        if row is None:
            continue
        values = row.get("values") if isinstance(row.get("values"), Mapping) else {}
        row_hash = row.get("hash") if isinstance(row.get("hash"), str) else None
        extra = ([literal(dialect, row_hash)] if dialect.name == "postgresql"
                 else [literal(dialect, values.get(c)) for c in checked])
        yield PlanPair(loser_id, survivor_id, row_hash is not None, (*loser_id, *survivor_id, *extra))


def _batches(pairs: Iterator[PlanPair]) -> Iterator[list[PlanPair]]:
    """The plan in transactions of BATCH_ROWS rows."""
    while batch := list(itertools.islice(pairs, BATCH_ROWS)):
        yield batch


def _divergent(table: dict[str, Any], guessed: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The clusters cleanup leaves to a person, as the header's comments name them; ``soft`` names the
    soft-delete column where every copy but one is soft-deleted already (the application sees one row)."""
    deleted = soft_delete_column(table) if live_rows(table) else None  # an engine with partial indexes
    for cluster in table["clusters"]:
        differing = _cleanable(cluster, guessed)
        if differing is None:
            continue
        live = sum(_live(cluster["rows"], deleted)) if deleted else 2
        yield {**_named(cluster), "columns": json.dumps(differing, ensure_ascii=True),
               "soft": deleted if live == 1 else None,
               "guessed": [{"column": c, "role": guessed[c], "option": shell_word(f"{guessed[c]}={c}")}
                           for c in differing if c in guessed]}


def _unnamed(cluster: dict[str, Any]) -> bool:
    """Whether a row of the cluster has a NULL identity: the guard cannot find it (nor its survivor, if it is
    one), the delete cannot name it and rollback could not tell it from the row put back, so the cluster is
    left to a person."""
    return values.unnamed(row.get("pk") for row in cluster["rows"])


def unnamed_clusters(table: dict[str, Any]) -> int:
    """How many identical clusters of a table's findings cleanup.sql leaves out for a NULL identity."""
    return sum(1 for c in table.get("clusters") or () if c.get("payload") == "identical" and _unnamed(c))


def identity_label(table: dict[str, Any]) -> str:
    """What identifies the table's rows, as a person would name it: ``--id event_id`` or ``primary key id``."""
    return values.identity_label(table.get("id_columns") or [], table.get("primary_key") or [])


def _unnamed_clusters(table: dict[str, Any], guessed: dict[str, str]) -> Iterator[dict[str, str]]:
    """The identical clusters left out for a NULL identity, as the header's comments name them."""
    for cluster in table["clusters"]:
        if _cleanable(cluster, guessed) is None and _unnamed(cluster):
            yield _named(cluster)


def _named(cluster: dict[str, Any]) -> dict[str, str]:
    """A cluster's key and row identities as the header's comments name a cluster left out (json.dumps with
    ensure_ascii keeps values from the database on one comment line)."""
    return {"key": json.dumps(cluster["key"], ensure_ascii=True, default=str),
            "ids": json.dumps([r.get("pk") for r in cluster["rows"]], ensure_ascii=True, default=str)}


def shell_word(text: str) -> str:
    r"""``text`` as one shell word on one line, to copy from a comment: ``shlex.quote`` when it holds no
    control or invisible character, else bash's ``$'...'`` with those characters escaped as their UTF-8 bytes
    (read the same in any locale; a raw line break would end the comment, a bidirectional mark would hide what
    is copied).

    >>> print(shell_word("orders"), shell_word("it's"), shell_word("nl\nDROP TABLE v; --"))
    orders 'it'"'"'s' $'nl\nDROP TABLE v; --'
    """
    if not _UNSAFE.search(text):
        return shlex.quote(text)
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return "$'" + _UNSAFE.sub(lambda m: _ESCAPES.get(m.group()) or "".join(
        f"\\x{b:02x}" for b in m.group().encode("utf-8")), escaped) + "'"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _trusted(writer: dict[str, Any]) -> bool:
    """Whether cleanup may leave a writer column out of the comparison: given with --writer or confirmed by the
    data (``trusted``); a findings file without the field trusts only columns given with --writer."""
    trusted = writer.get("trusted")
    return trusted if isinstance(trusted, bool) else str(writer.get("reason") or "").startswith("given")


def _roles_from_data(table: dict, columns: list[str]) -> dict[str, str]:
    """Column -> role of the writer roles the scan read from the data alone (``signals``): never trusted, but
    a difference in one is named with the --writer option that would trust it. Only the known roles of the
    table's own columns: ``signals`` is outside the findings schema."""
    found = (table.get("signals") or {}).get("writer_roles_from_data") or []
    return {w["column"]: w["role"] for w in found if isinstance(w, dict)
            and w.get("column") in columns and w.get("role") in ROLE_WORDS}


def _differing(rows: list[dict[str, Any]], columns: dict[str, str]) -> list[str]:
    """The columns among ``columns`` whose values differ between the rows (as the scan read them)."""
    values = [r.get("values") if isinstance(r.get("values"), Mapping) else {} for r in rows]
    return [c for c in columns if len({json.dumps(v.get(c), sort_keys=True, default=str) for v in values}) > 1]


def _no_equality(type_name: str | None) -> bool:
    """Whether a column type has no equality operator on PostgreSQL (or was not recognised), so it is compared
    by its text form.

    >>> _no_equality("JSON"), _no_equality("JSONB"), _no_equality("INTEGER"), _no_equality("NULL")
    (True, False, False, True)
    """
    base = re.sub(r"\(.*", "", (type_name or "").upper()).strip()
    return base in ("JSON", "XML", "POINT", "LINE", "LSEG", "BOX", "PATH", "POLYGON", "CIRCLE", "NULL")


def _dollar_texts(value: Any) -> list[str]:
    """Every text inside a table's findings that holds a dollar sign (keys and values): the
    only ones a dollar-quote tag can collide with. Dumping the whole table into one string instead cost
    100 MB at the peak for one key written 100,000 times."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):  # a row's values too (a StoredValues)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            # the clusters and their rows: each one's JSON text (the C encoder) says whether any text in it
            # holds a dollar sign, and only those are walked in Python (the walk alone took 0.41 s of the
            # 0.88 s writing the outputs of 2,500 clusters); a cluster of many rows is walked, its rows checked
            stack.extend(element for element in item if not _no_dollar(element))
        elif isinstance(item, str) and "$" in item:  # the rest are numbers, booleans and nulls
            found.append(item)
    return found


def _text(value: Any) -> Any:
    """What the dollar search encodes for a value JSON has no form of: a row's values (StoredValues) as a dict."""
    return value.as_dict() if isinstance(value, Mapping) else str(value)


_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=_text).encode


def _no_dollar(element: Any) -> bool:
    """Whether a list element certainly holds no text with a dollar sign (False: walk it to find out)."""
    if not isinstance(element, (dict, list, tuple)):
        return False  # a string or number: the walk looks at it
    rows = element.get("rows") if isinstance(element, dict) else None
    if isinstance(rows, (list, tuple)) and len(rows) > 100:
        return False  # one key written 100,000 times: no 60 MB JSON text, its rows are checked one by one
    try:
        return "$" not in _ENCODE(element)
    except (TypeError, ValueError):  # a key JSON cannot hold: walk it
        return False


# where a text holds a tag's delimiter ``$dupfinderN$`` (a lookahead: delimiters may overlap), N's digits
_TAG_DELIMITER = re.compile(r"(?=\$dupfinder(\d*)\$)")


def tags_taken(texts: Iterable[str]) -> set[str]:
    """The suffixes N of the tags ``dupfinderN`` whose delimiter ``$dupfinderN$`` one of ``texts`` holds: all a
    tag must avoid of them, however many texts there were.

    >>> sorted(tags_taken(["a$dupfinder$dupfinder2$b", "$dupfinder01$", "no tag"]))
    ['', '01', '2']
    """
    return {found.group(1) for text in texts for found in _TAG_DELIMITER.finditer(text)}


def free_tag(taken: set[str] | frozenset[str]) -> str:
    """The first of ``dupfinder``, ``dupfinder1``, ``dupfinder2``, ... whose suffix is not ``taken``."""
    n = 0
    while (str(n) if n else "") in taken:
        n += 1
    return f"dupfinder{n or ''}"


def dollar_tag(*texts: str) -> str:
    """A PL/pgSQL dollar-quote tag that none of the names or values going inside the block contain.

    >>> dollar_tag("orders"), dollar_tag("odd$dupfinder$name"), dollar_tag("$dupfinder$", "$dupfinder1$")
    ('dupfinder', 'dupfinder1', 'dupfinder2')
    """
    return free_tag(tags_taken(texts))


def _template(kind: str, dialect: Dialect) -> str:
    if dialect.name == "duckdb":
        return f"{kind}_duckdb.sql.j2"
    if dialect.name in PLAN_ONLY:
        return f"{kind}_plan.sql.j2"
    return f"{kind}_mysql.sql.j2" if dialect.name in ("mysql", "mariadb") else f"{kind}.sql.j2"


def _header(kind: str, findings: dict[str, Any], lines: list[str]) -> list[str]:
    return [
        f"-- dupfinder {kind}",
        f"-- generated from the scan of {comment_text(findings.get('database', '?'))} at "
        f"{comment_text(findings.get('scanned_at', '?'))}",
        f"-- (dupfinder {comment_text(findings.get('dupfinder_version', '?'))})",
        f"-- stamp: {scan_stamp(findings)}",
        *([f"-- {spelled_out(standby)}"] if (standby := standby_note(findings)) else []),  # one line, whatever it holds
        *lines,
        "",
    ]


_TRANSACTION_PROMISE = (
    "-- into a dupfinder_backup_* table in the same transaction. Each table's transaction aborts and",
    "-- deletes nothing if any losing row changed since the scan, its survivor is gone or differs, or the",
    "-- table's columns changed. Running it twice deletes nothing the second time. Undo with rollback.sql.")
# Spark SQL and ClickHouse have no multi-statement transactions: the header promised one all the same
_PLAN_PROMISE = (
    "-- into a dupfinder_backup_* table. NO TRANSACTION: this engine has none, so each table's part is a PLAN",
    "-- of separate steps; its guard stops the run before the delete if a survivor is gone or a losing row no",
    "-- longer equals it, and a step that ran stays done. Stop the writers of the table while it runs.",
    "-- Running it twice deletes nothing the second time. Undo with rollback.sql.",
    "-- ClickHouse: clickhouse-client --multiquery < cleanup.sql, or chdb's Session.query(text);",
    "-- Spark SQL: spark-sql -f cleanup.sql")


def only_tables(findings: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The findings limited to the tables ``names`` lists, as findings.json names them (``table``), in the
    findings' order; all of them when ``names`` is empty. One cleanup.sql for 750 tenant tables was all or nothing.
    """
    wanted = set(names)
    if not wanted:
        return findings
    known = [t["table"] for t in findings["tables"]]
    for name in sorted(wanted - set(known)):
        import difflib

        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        more = ", ..." if len(known) > 10 else ""
        hint = (f"tables with a similar name: {', '.join(close)}" if close
                else f"it holds {count(len(known), 'table')}: {', '.join(known[:10])}{more}")
        raise TableNotFound(f"table {name!r} is not in the findings; {hint}")
    return {**findings, "tables": [t for t in findings["tables"] if t["table"] in wanted]}


def cleanup_order(tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tables in the order cleanup.sql cleans them: a child table before the tables its foreign keys point
    at, otherwise as scanned. A parent's cleanup re-points the child's rows to its survivors, so the child's
    own cleanup, planned on the rows as scanned, would then stop on "changed since the scan" (payments after
    invoices: the file stopped half done). rollback.sql restores in the reverse order, parents first, so a
    restored child row finds the parent it pointed at. A cycle keeps its tables as scanned.

    >>> t = lambda name, *children: {"schema": None, "name": name, "referenced_by": [
    ...     {"schema": None, "name_only": c} for c in children]}
    >>> [x["name"] for x in cleanup_order([t("invoices", "payments", "lines"), t("order"), t("payments")])]
    ['payments', 'invoices', 'order']
    """
    where = {(t.get("schema"), t.get("name") or t["table"]): n for n, t in enumerate(tables)}
    children = [sorted({where[c.get("schema"), c.get("name_only")] for c in t.get("referenced_by") or ()
                        if (c.get("schema"), c.get("name_only")) in where} - {n}) for n, t in enumerate(tables)]
    placed: list[int] = []

    def place(n: int, path: tuple[int, ...]) -> None:
        if n in placed or n in path:
            return
        for child in children[n]:
            place(child, (*path, n))
        placed.append(n)

    for n in range(len(tables)):
        place(n, ())
    return [tables[n] for n in placed]


def cleanup_sql(findings: dict[str, Any], keep: str | None = None) -> str:
    """Return cleanup.sql: per table one transaction that backs up and deletes the losing rows."""
    return "".join(cleanup_parts(findings, keep))


def cleanup_parts(findings: dict[str, Any], keep: str | None = None) -> Iterator[str]:
    """cleanup.sql piece by piece, rendered as it is written. Every table's findings are surveyed and checked
    first (bad findings fail before a piece exists); each table's plan is then rendered a batch at a time."""
    stamp = scan_stamp(findings)
    bodies, summary, total, plans, contexts = [], [], 0, False, []
    for table in cleanup_order(findings["tables"]):
        dialect = dialect_for(table.get("dialect", "sqlite"))
        plans = plans or dialect.name in PLAN_ONLY
        ctx = _table_context(table, dialect, stamp, keep)
        contexts.append(ctx)
        # a table cleanup cannot change (a view) deletes nothing: its rows are not counted as deleted (the
        # header read "deletes 16 rows" above a view's "nothing deleted"; stranger21)
        total += 0 if ctx["unsupported"] else len(ctx["pairs"])
        unnamed = (f", {count(len(ctx['unnamed']), 'cluster')} with a NULL {comment_text(ctx['identity'])} left out"
                   if ctx["unnamed"] else "")
        summary.append(f"--   {comment_text(table['table'])}: {count(ctx['clusters'], 'identical cluster')}, "
                       + ("none deleted (see below)" if ctx["unsupported"] else
                          f"{count(len(ctx['pairs']), 'row')} to delete") + ", "
                       f"{count(len(ctx['divergent']), 'divergent cluster')} left for a person{unnamed}")
        if ctx["unsupported"]:
            bodies.append([f"-- table {comment_text(table['table'])}: nothing deleted ({ctx['unsupported']})"])
            continue
        bodies.append(stream_sql(_template("cleanup", dialect), dialect, t=ctx, lock_timeout=LOCK_TIMEOUT,
                                 statement_timeout=STATEMENT_TIMEOUT, lock_wait_seconds=LOCK_WAIT_SECONDS))
    head = _header("cleanup.sql", findings, [
        f"-- deletes {count(total, 'row')} that {'duplicates' if total == 1 else 'duplicate'} an earlier row exactly; "
        "every deleted row is first copied",
        *(_PLAN_PROMISE if plans else _TRANSACTION_PROMISE),
        "-- It creates only dupfinder_backup_* tables and temporary tables, re-points child rows named below, and",
        "-- deletes only rows named in its plan.",
        "-- PostgreSQL: psql -v ON_ERROR_STOP=1 -f cleanup.sql    SQLite: sqlite3 -bail DATABASE < cleanup.sql",
        "-- MySQL 8.0.16+ / MariaDB 10.4+: mysql (or mariadb) DATABASE < cleanup.sql (stops at the first error; "
        "the open transaction rolls back)",
        *_verify_lines(contexts),
        *summary,
    ])
    return _joined(head, bodies)


def _verify_lines(contexts: list[dict[str, Any]]) -> list[str]:
    """What a scan run again after cleanup.sql reports, as the header says it: none of the clusters it deletes in
    the tables it cleans (the ones left for a person still), and, in a child table whose rows it re-points, clusters
    that table did not have. Each copy's child rows point at the survivor together afterwards: a reminder sent
    twice queued an email per copy, one email_outbox row for each reminder_id; both now hold the survivor's id, so
    a scan of email_outbox keyed on reminder_id finds them (the header said no scan would find any)."""
    left = sum(len(c["divergent"]) + len(c["unnamed"]) for c in contexts)
    lines = ["-- Verify afterwards: a dupfinder scan of the tables below again, with the same keys, should report no "
             "near-duplicate clusters" + (f" but the {count(left, 'cluster')} left for a person" if left else "")
             + " (rows written since the scan aside)."]
    repointed = list(dict.fromkeys(
        f"{comment_text(c['table'])} ({', '.join(map(comment_text, c['columns']))} -> {comment_text(ctx['table'])})"
        for ctx in contexts if len(ctx["pairs"]) and not ctx["unsupported"] for c in ctx["children"]
        if not c["reason"]))
    if repointed:
        lines += [f"-- Expect new clusters in the child {'table' if len(repointed) == 1 else 'tables'} whose rows it "
                  f"re-points: {'; '.join(repointed)}. Each copy's child rows",
                  "-- (an email queued per copy) point at the survivor together afterwards, so a scan of the child "
                  "keyed on its reference column",
                  "-- finds what the double write left there: that table's own duplicates, to clean from its own "
                  "scan (the command is in the notes below)."]
    return lines


def _joined(head: list[str], bodies: list[Iterable[str]]) -> Iterator[str]:
    """``"\\n".join(head + bodies)`` piece by piece, each body rendered only when its turn comes."""
    yield "\n".join(head)
    for body in bodies:
        yield "\n"
        yield from body


def rollback_sql(findings: dict[str, Any], keep: str | None = None) -> str:
    """Return rollback.sql: put back every row cleanup.sql backed up; safe to run more than once."""
    return "".join(rollback_parts(findings, keep))


def rollback_parts(findings: dict[str, Any], keep: str | None = None) -> Iterator[str]:
    """rollback.sql piece by piece (each table's findings counted before the first piece)."""
    stamp = scan_stamp(findings)
    bodies, downs = [], []
    for table in reversed(cleanup_order(findings["tables"])):
        dialect = dialect_for(table.get("dialect", "sqlite"))
        ctx = _table_context(table, dialect, stamp, keep, plan=False)
        if ctx["unsupported"]:
            bodies.append([f"-- table {comment_text(table['table'])}: nothing to roll back ({ctx['unsupported']})"])
            continue
        bodies.append(stream_sql(_template("rollback", dialect), dialect, t=ctx))
        if ctx["losers"] and dialect.name not in PLAN_ONLY:
            downs += [f"--   {comment_sql(line)}" for line in migration_parts(
                table.get("dialect", "sqlite"), table["table"], list(table["keys"]), where=live_rows(table),
                schema=table.get("schema"), name=table.get("name"))["down"].splitlines() if line.strip()]
    head = _header("rollback.sql", findings, [
        "-- restores the rows cleanup.sql (same stamp) deleted, exactly (same primary keys and values), from its",
        "-- backup tables; rows already present are skipped. The backup tables are kept: drop them when done.",
        *(["-- FIRST, if migration.sql was applied since the cleanup, undo it: its UNIQUE constraint refuses the",
            "-- duplicates this file puts back (the rollback would stop at a unique violation and restore nothing).",
            "-- Its down step (a migration written by `dupfinder migrate --where` is a partial index: DROP INDEX):",
            *downs] if downs else []),
    ])
    return _joined(head, bodies)


def keep_previous_run(out_dir: str | Path, new_stamp: str) -> list[Path]:
    """Before ``--out`` writes a new cleanup.sql and rollback.sql: when the ones there belong to another scan
    (another stamp), keep them as ``cleanup-<stamp>.sql`` and ``rollback-<stamp>.sql``: that cleanup may have
    been applied, and its rollback is the only way back from its own backup tables. Returns the kept paths."""
    kept = []
    for name in ("cleanup.sql", "rollback.sql"):
        old = Path(out_dir) / name
        if not old.is_file():
            continue
        with old.open(encoding="utf-8", errors="replace") as file:
            head = "".join(file.readline() for _ in range(8))
        found = re.search(r"^-- stamp: (\d{14})$", head, re.MULTILINE)
        stamp = found.group(1) if found else f"{int(old.stat().st_mtime)}"
        if stamp == new_stamp:
            continue
        target = old.with_name(f"{old.stem}-{stamp}.sql")
        if not target.exists():
            old.replace(target)
            kept.append(target)
    return kept


def constraint_name(table: str, keys: list[str], limit: int = 63) -> str:
    """A deterministic constraint name within the engine's identifier limit in bytes (PostgreSQL: 63).

    >>> constraint_name("recon_summary", ["account_id", "window_id"])
    'uq_recon_summary_account_id_window_id'
    >>> len(constraint_name("т" * 40, ["ключ"]).encode()) <= 63
    True
    """
    base = re.sub(r"\W+", "_", "_".join([table.split(".")[-1], *keys])).strip("_").lower()
    name = f"uq_{base}"
    if len(name.encode("utf-8")) <= limit:
        return name
    return f"{_truncate_utf8(name, limit - 9).rstrip('_')}_{_short_hash(table, *keys)}"


def migration_sql(dialect_name: str, table: str, keys: list[str], nulls_not_distinct: bool = False,
                  where: str | None = None, schema: str | None = None, name: str | None = None,
                  only: bool = False, partitioned: bool = False) -> str:
    """Return the UNIQUE migration for one table and key, with its pre-flight and a down step. ``only``: a
    PostgreSQL table others INHERIT from, whose pre-flight counts its own rows (the index covers no heir's).
    ``partitioned``: a PostgreSQL partitioned table whose partition key the business key holds, which takes
    neither CREATE INDEX CONCURRENTLY nor a constraint made from an index: its unique index is built partition
    by partition and attached to one created ON ONLY the table (queries/migration_partitioned.sql.j2)."""
    dialect, ctx = _migration_context(dialect_name, table, keys, nulls_not_distinct, where, schema, name, only)
    if partitioned:
        if dialect.name != "postgresql":
            raise UsageError(f"a partitioned table's migration is written for PostgreSQL, not {dialect.name}")
        # a partition's index: this prefix, "_" and 8 hex digits of its name's hash, within the 63 bytes
        ctx["t"]["part_prefix"] = constraint_name(table, keys, NAME_BYTES["postgresql"] - 9)
        return render_sql("migration_partitioned.sql.j2", dialect, **ctx)
    return render_sql("migration.sql.j2", dialect, **ctx)


def _migration_context(dialect_name: str, table: str, keys: list[str], nulls_not_distinct: bool,
                       where: str | None, schema: str | None = None,
                       name: str | None = None, only: bool = False) -> tuple[Dialect, dict[str, Any]]:
    dialect = dialect_for(dialect_name)
    if dialect.name in PLAN_ONLY:
        raise UsageError(f"{NO_UNIQUE[dialect.name]}: there is no UNIQUE migration to write")
    where = check_predicate(where)
    if nulls_not_distinct and dialect.name != "postgresql":
        raise UsageError(f"NULLS NOT DISTINCT is PostgreSQL 15+ only; {dialect.name} treats NULLs as distinct")
    if where and dialect.name in ("mysql", "mariadb"):
        raise UsageError("MySQL has no partial indexes: drop --where, or use a generated column")
    schema, name = _split(table, schema, name)
    constraint = constraint_name(table, keys, NAME_BYTES.get(dialect.name, 63))
    qtable = quote_table(dialect, name, schema)
    t = {"table": table, "qtable": qtable, "key_columns": keys, "name": constraint,
         "qread": ("ONLY " if only and dialect.name == "postgresql" else "") + qtable,
         "name_in_schema": quote_table(dialect, constraint, schema), "nulls_not_distinct": nulls_not_distinct,
         "where": where, "tag": dollar_tag(table, *keys, where or ""), "schema_name": schema, "table_name": name}
    return dialect, {"t": t, "lock_timeout": LOCK_TIMEOUT, "lock_wait_seconds": LOCK_WAIT_SECONDS}


def migration_parts(dialect_name: str, table: str, keys: list[str], nulls_not_distinct: bool = False,
                    where: str | None = None, schema: str | None = None, name: str | None = None,
                    only: bool = False) -> dict[str, str]:
    """The migration as separate statements groups (preflight, create_index, add_constraint, down), for an
    Alembic revision that must run CREATE INDEX CONCURRENTLY in an autocommit block (and rollback.sql's
    header, which names the down step)."""
    dialect, ctx = _migration_context(dialect_name, table, keys, nulls_not_distinct, where, schema, name, only)
    return {part: render_sql("migration_part.sql.j2", dialect, part=part, **ctx).strip()
            for part in ("preflight", "create_index", "add_constraint", "down")}


def _since_caveat(table: dict[str, Any]) -> str:
    """A comment for a table scanned with --since: its older rows were not read, so keys written twice before
    the bound (a backfill's far duplicates) were not looked for and cleanup.sql leaves them; the pre-flight,
    which reads the whole table, then stops with nothing else saying why."""
    since = since_shown(table)
    if not since:
        return ""
    return (f"-- table {comment_text(table['table'])}: the scan read only rows written since "
            f"{comment_text(since)} (--since): keys written twice before that were not looked for, and the\n"
            "-- pre-flight below reads the whole table; scan it without --since to find and resolve them first\n")


def _null_keys_caveat(table: dict[str, Any]) -> str:
    """A comment for a table whose scan counted rows with a NULL in the business key: a unique key treats NULLs
    as distinct, so those rows stay out of it and a job writing one twice still gets in (a payouts ledger's
    platform fees with no merchant, one of them redelivered: stranger23). PostgreSQL 15+ can make them collide
    (``dupfinder migrate --nulls-not-distinct``, once no two of them repeat)."""
    nulls = int(table.get("rows_null_key") or 0)
    if not nulls:
        return ""
    keys = ", ".join(map(comment_text, table["keys"]))
    fix = ("make the key columns NOT NULL, or write the migration with dupfinder migrate ... --nulls-not-distinct "
           "(PostgreSQL 15+)" if table.get("dialect") == "postgresql" else "make the key columns NOT NULL")
    them = "it" if nulls == 1 else "them"
    return (f"-- table {comment_text(table['table'])}: {count(nulls, 'row')} with a NULL in ({keys}): the unique key "
            f"below leaves {them} out (NULLs are\n-- distinct), so a job writing such a row twice still gets in, and "
            f"the scan never compared {them}; to cover {them} too, {fix}\n")


def soft_delete_column(table: dict[str, Any]) -> str | None:
    """The soft-delete column of a findings table (``deleted_at``, ...), if it has one."""
    return values.soft_delete_column((c.get("name"), c.get("type")) for c in table.get("columns") or ())


def _survivor(rows: list[dict[str, Any]], keep: str, deleted: str | None) -> dict[str, Any]:
    """The row of a cluster that a cleanup keeps: never a soft-deleted copy while a live one exists."""
    return rows[values.survivor_index(_live(rows, deleted), keep)]


def _live(rows: list[dict[str, Any]], deleted: str | None) -> list[bool]:
    """For each row of a cluster, whether the application still sees it: its soft-delete column ``deleted`` is
    NULL (every row, without one; a row without its values counts as live)."""
    return [deleted is None or (r.get("values") or {}).get(deleted) is None for r in rows]


def live_rows(table: dict[str, Any]) -> str | None:
    """The predicate of the rows a soft-deleting application keeps unique (``"deleted_at" IS NULL``), for the
    partial unique index migration.sql writes there: a UNIQUE constraint over every row would refuse the row the
    application creates again after a soft delete. None without a soft-delete column or a partial index."""
    column = soft_delete_column(table)
    dialect = dialect_for(table.get("dialect", "sqlite"))
    return f"{ident(dialect, column)} IS NULL" if column and dialect.name in PARTIAL_INDEX else None


def filtered_migration(dialect: str, refused: str | None = None) -> str:
    """What migration.sql offers after a scan filtered with --where, said in the scan's notes and on stderr;
    ``refused``: what the engine said when it refused the predicate in an index (findings' where_not_indexable)."""
    if refused:
        return f"migration.sql holds the table back: the unique index cannot be partial on it ({refused})"
    if dialect in PARTIAL_INDEX:
        return "migration.sql makes the unique index partial on it (rows outside it may repeat a key)"
    return f"{dialect} has no partial unique index, so migration.sql holds the table back"


def _unique_among(table: dict[str, Any]) -> str | None:
    """The predicate of migration.sql's partial unique index: the scan's --where, which chose the rows that count
    (None on an engine without partial indexes), else the rows a soft-deleting application keeps unique."""
    if table.get("where"):
        dialect = dialect_for(table.get("dialect", "sqlite"))
        return check_predicate(table["where"]) if dialect.name in PARTIAL_INDEX and not table.get(
            "where_not_indexable") else None
    return live_rows(table)


def _live_divergent(table: dict[str, Any], column: str | None) -> int:
    """Divergent clusters that still hold two rows the application has not soft-deleted: the others obey its
    rule already (support soft-deleted all copies but one) and do not block a unique index on the live rows. A
    row without its values counts as live."""
    if column is None:
        return int(table.get("divergent_clusters") or 0)
    return sum(1 for c in table.get("clusters") or () if c.get("payload") == "divergent"
               and sum(_live(c.get("rows") or [], column)) > 1)


def _repointing_parents(table: dict[str, Any], tables: list[dict[str, Any]]) -> list[str]:
    """The scanned tables whose cleanup re-points this table's rows through one of its key columns (payments
    keyed by invoice_id, under invoices that lose rows): its duplicates after cleanup.sql are not the scan's."""
    me = (table.get("schema"), table.get("name") or table["table"])
    return [p["table"] for p in tables if p is not table and int(p.get("rows_to_delete") or 0)
            and any((c.get("schema"), c.get("name_only")) == me and set(c.get("columns") or ()) & set(table["keys"])
                    for c in p.get("referenced_by") or ())]


def migration_sql_for_findings(findings: dict[str, Any]) -> str:
    """Return migration.sql for the tables of a findings document that cleanup.sql leaves free of duplicates.

    A table where the scan saw far duplicates or divergent clusters would only stop at its pre-flight, so it
    gets a comment with what to resolve and the command to run afterwards instead of a migration that cannot
    pass.
    """
    body, held = [], []
    for t in findings["tables"]:
        if t.get("dialect") in PLAN_ONLY:
            body.append(f"-- table {comment_text(t['table'])}: {NO_UNIQUE[t['dialect']]}; make the writing job "
                        f"idempotent instead ({NO_UNIQUE_ADVICE[t['dialect']]})\n")
            continue
        if t.get("view"):
            body.append(f"-- table {comment_text(t['table'])}: no migration ({VIEW_REFUSAL}; a UNIQUE constraint "
                        "belongs on that table)\n")
            continue
        # a partitioned table whose partition key the business key holds gets its unique index partition by
        # partition (migration_sql); any other would stop the file at its pre-flight: advice instead
        by_key = bool(t.get("partitioned") and t.get("partition_key")
                      and all(c and c in t["keys"] for c in t["partition_key"]))
        if t.get("partitioned") and not by_key:
            advice = partitioned_advice(t["keys"], t.get("partition_key"), t.get("ts_column"), comment_text)
            body.append(f"-- table {comment_text(t['table'])}: not migrated: {advice}\n")
            continue
        deleted, where = soft_delete_column(t), _unique_among(t)
        if t.get("where") and not where:
            held.append(comment_text(t["table"]))
            cannot = (f"the unique index cannot be partial on it ({comment_text(t['where_not_indexable'])}: a "
                      "predicate such as created_at > now() - interval '30 days' moves with the clock; a fixed "
                      "bound, created_at > '2026-10-25', does not)" if t.get("where_not_indexable")
                      else "this engine has no partial unique index")
            body.append(f"-- table {comment_text(t['table'])}: not migrated: the scan read only the rows where "
                        f"{comment_text(t['where'])} (--where), and {cannot}; a UNIQUE "
                        "key over every row would refuse the rows outside it that share a key\n")
            continue
        if deleted and not where:
            held.append(comment_text(t["table"]))
            body.append(f"-- table {comment_text(t['table'])}: not migrated: its rows are soft-deleted "
                        f"({comment_text(deleted)}), so the application's rule is unique among the rows not deleted, "
                        "and this engine has no partial unique index; a UNIQUE key over every row would refuse a row "
                        "created again after a soft delete (put a generated column that is NULL for deleted rows in "
                        "the key instead)\n")
            continue
        if parents := _repointing_parents(t, findings["tables"]):
            held.append(comment_text(t["table"]))
            body.append(f"-- table {comment_text(t['table'])}: not migrated yet: cleanup.sql re-points its rows from "
                        f"the losing rows of {', '.join(map(comment_text, parents))} to their survivors, through a key "
                        "column, so a key each copy wrote a row under (a job that ran twice wrote its child rows "
                        "twice) becomes a duplicate the scan did not see; after cleanup.sql scan it again, resolve "
                        "those, then migrate\n")
            continue
        blockers = []
        if t.get("far_duplicates"):
            blockers.append(count(int(t["far_duplicates"]), "far-duplicate key"))
        if divergent := _live_divergent(t, deleted):
            blockers.append(count(divergent, "divergent cluster"))
        if unnamed := unnamed_clusters(t):
            blockers.append(f"{count(unnamed, 'cluster')} with a NULL {identity_label(t)}")
        if blockers:
            keys = " ".join(f"--key {shell_word(k)}" for k in t["keys"])
            held.append(comment_text(t["table"]))
            command = f"dupfinder migrate URL --table {shell_word(t['table'])} {keys}"
            if where:
                command += f" --where {shell_word(where)}"
            verb = "remains" if len(blockers) == 1 and blockers[0].startswith("1 ") else "remain"
            live = (f"; the scan counted every row, and a key whose other copies are soft-deleted "
                    f"({comment_text(deleted)} set) does not block the index on the rows not deleted, the only ones "
                    "the pre-flight of the command below counts" if where and not t.get("where")
                    and t.get("far_duplicates") else "")
            body.append(f"-- table {comment_text(t['table'])}: not migrated yet: {' and '.join(blockers)} {verb} "
                        f"after cleanup.sql (see the report{live}); resolve them by hand, then write the migration "
                        f"with\n--   {command}\n")
            continue
        soft = (f"-- table {comment_text(t['table'])}: scanned with --where {comment_text(where)}: the index is "
                "unique among the rows matching it, the rows the scan counted (rows outside it may share a key)\n"
                if t.get("where") else
                f"-- table {comment_text(t['table'])}: its rows are soft-deleted ({comment_text(deleted)}): the "
                "index is unique among the rows not deleted, the application's own rule (a UNIQUE constraint over "
                "every row would refuse a row created again after a soft delete)\n" if where else "")
        body.append(_since_caveat(t) + soft + _null_keys_caveat(t)
                    + migration_sql(t.get("dialect", "sqlite"), t["table"], t["keys"], where=where,
                                    schema=t.get("schema"), name=t.get("name"), only=bool(t.get("inherited_by")),
                                    partitioned=by_key))
    head = _header("migration.sql", findings, [
        "-- adds a UNIQUE constraint on each business key so the next double run fails loudly. Run it after",
        "-- cleanup.sql. Each table's pre-flight stops the migration while any duplicate key remains (near",
        "-- clusters, divergent ones and far duplicates alike).",
        *(["-- A table whose rows are soft-deleted gets a unique index on the rows not deleted instead (below)."]
          if any(live_rows(t) for t in findings["tables"]) else []),
        *([f"-- held back (duplicates cleanup.sql does not remove): {', '.join(held)}"] if held else []),
    ])
    return "\n".join(head + body)
