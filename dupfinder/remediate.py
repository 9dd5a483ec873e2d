"""Cleanup, rollback and migration SQL, generated as plans: these functions return text and run nothing.

Everything is rendered from a findings document (so ``dupfinder cleanup FINDINGS.json`` regenerates the
same files), for the dialect the scan ran on, with identifiers quoted and values rendered by that dialect.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from sqlalchemy.engine import Dialect

from .connect import PG_TEXT_FORMAT
from .errors import UsageError
from .sqltemplates import literal, quote_table, render_sql

BATCH_ROWS = 5000      # losing rows per transaction: long deletes hold locks and WAL in smaller pieces
LOCK_TIMEOUT = "5s"
LOCK_WAIT_SECONDS = 5
STATEMENT_TIMEOUT = "15min"
SUPPORTED = ("postgresql", "sqlite", "mysql", "duckdb", "hive (Spark SQL)", "chdb (ClickHouse)")
PLAN_ONLY = ("hive", "chdb")  # no multi-statement transactions: cleanup.sql is a plan of guarded steps
NO_UNIQUE = {"hive": "Spark SQL enforces no UNIQUE constraint", "chdb": "ClickHouse enforces no UNIQUE constraint"}
NO_UNIQUE_ADVICE = {
    "hive": "write with MERGE INTO ... ON the business key WHEN NOT MATCHED THEN INSERT on a Delta table",
    "chdb": "a ReplacingMergeTree ordered by the business key, or insert_deduplication_token per job run",
}


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


def _split(qualified: str) -> tuple[str | None, str]:
    schema, dot, name = qualified.partition(".")
    return (schema, name) if dot else (None, qualified)


def _stamp(findings: dict[str, Any]) -> str:
    return re.sub(r"\D", "", findings.get("scanned_at", ""))[:14] or "00000000000000"


def _backup_name(table: str, stamp: str) -> str:
    base = re.sub(r"\W+", "_", table).strip("_").lower() or "table"
    return f"dupfinder_backup_{base[:26]}_{stamp}"


def _identity(row: dict[str, Any], ids: list[str], dialect: Dialect, row_id: str | None) -> list[str]:
    """The literals that find one row again: its primary key, or the ctid/rowid the scan read."""
    values = [literal(dialect, row["pk"][c]) for c in ids]
    return [f"CAST({v} AS tid)" for v in values] if row_id == "ctid" else values


def _children(table: dict[str, Any], dialect: Dialect, backup: str) -> list[dict[str, Any]]:
    """Foreign keys pointing at the table: re-pointable ones (one column, referring to a one-column primary
    key, in a child with a primary key to record the old reference by) and the ones cleanup must refuse."""
    pk = table.get("primary_key") or []
    children = []
    for n, fk in enumerate(table.get("referenced_by") or [], start=1):
        schema, name = _split(fk["table"])
        reason = None
        if len(fk["columns"]) != 1 or fk["referred_columns"] != pk or len(pk) != 1:
            reason = "it is not a one-column reference to the primary key"
        elif not fk.get("child_primary_key"):
            reason = "the child table has no primary key to record the old reference by"
        children.append({
            "table": fk["table"], "qtable": quote_table(dialect, name, schema), "name": fk.get("name") or "",
            "columns": fk["columns"], "referred": fk["referred_columns"], "pk": fk.get("child_primary_key") or [],
            "ondelete": fk.get("ondelete") or "NO ACTION", "reason": reason, "refs": f"{backup}_r{n}",
        })
    return children


def _table_context(table: dict[str, Any], dialect: Dialect, stamp: str, keep: str | None,
                   plan: bool = True) -> dict[str, Any]:
    """What the templates need for one table. ``plan=False`` (rollback) skips rendering the plan's literals,
    the costly part for big findings: rollback only needs to know there were losers."""
    schema, name = _split(table["table"])
    pk = table.get("primary_key") or []
    given = table.get("id_columns") or []  # --id: the columns the scan checked unique
    row_id = None if pk or given else table.get("row_id")
    ids = given or pk or ([row_id] if row_id else [])
    columns = [c["name"] for c in table.get("columns", [])]
    writer_columns = {w["column"] for w in table.get("writer_columns", [])}
    skip = set(pk) | set(given) | set(table["keys"]) | {table["ts_column"]} | writer_columns
    payload = [c for c in columns if c not in skip]
    # SQLite has no hash function: its guard compares every scanned value (blobs are read back as hex text,
    # so they are left to the survivor comparison)
    checked = [c["name"] for c in table.get("columns", []) if "BLOB" not in c.get("type", "").upper()
               and "BINARY" not in c.get("type", "").upper()]
    keep = keep or table.get("keep", "earliest")
    pairs, divergent, clusters, losers = [], [], 0, 0
    for cluster in table["clusters"]:
        rows = cluster["rows"]
        if cluster["payload"] != "identical":
            # json.dumps keeps values from the database on one comment line (no newline can end it)
            divergent.append({"key": json.dumps(cluster["key"], ensure_ascii=True),
                              "ids": json.dumps([r["pk"] for r in rows], ensure_ascii=True),
                              "columns": json.dumps(cluster["differing_columns"], ensure_ascii=True)})
            continue
        if not ids:
            continue
        clusters += 1
        survivor = rows[0] if keep == "earliest" else rows[-1]
        losers += len(rows) - 1
        if not plan:
            continue
        for row in rows:
            if row is not survivor:
                pairs.append({
                    "loser": _identity(row, ids, dialect, row_id),
                    "survivor": _identity(survivor, ids, dialect, row_id),
                    "hash": literal(dialect, row.get("hash")),
                    "values": [literal(dialect, row.get("values", {}).get(c)) for c in checked],
                })
    backup = _backup_name(table["table"], stamp)
    return {
        "tag": dollar_tag(json.dumps(table, default=str), *(fk["table"] for fk in table.get("referenced_by") or [])),
        "table": table["table"], "qtable": quote_table(dialect, name, schema), "ids": ids, "row_id": row_id,
        "key_columns": table["keys"], "payload": payload, "columns": columns, "checked": checked,
        "pairs": pairs, "losers": losers,
        "batches": [pairs[i:i + BATCH_ROWS] for i in range(0, len(pairs), BATCH_ROWS)],
        "clusters": clusters, "divergent": divergent, "keep": keep, "backup": backup,
        "hashed": bool(pairs) and all(p["hash"] != "NULL" for p in pairs),
        "children": _children(table, dialect, backup), "text_format": PG_TEXT_FORMAT,
        "storage": table.get("storage"),
        "unsupported": None if ids else "the table has neither a primary key nor a row id the engine exposes",
    }


def dollar_tag(*texts: str) -> str:
    """A PL/pgSQL dollar-quote tag that none of the names or values going inside the block contain.

    >>> dollar_tag("orders"), dollar_tag("odd$dupfinder$name")
    ('dupfinder', 'dupfinder1')
    """
    tag, n = "dupfinder", 0
    while any(f"${tag}$" in text for text in texts):
        n += 1
        tag = f"dupfinder{n}"
    return tag


def _template(kind: str, dialect: Dialect) -> str:
    if dialect.name == "duckdb":
        return f"{kind}_duckdb.sql.j2"
    if dialect.name in PLAN_ONLY:
        return f"{kind}_plan.sql.j2"
    return f"{kind}_mysql.sql.j2" if dialect.name in ("mysql", "mariadb") else f"{kind}.sql.j2"


def _header(kind: str, findings: dict[str, Any], lines: list[str]) -> list[str]:
    return [
        f"-- dupfinder {kind}",
        f"-- generated from the scan of {findings.get('database', '?')} at {findings.get('scanned_at', '?')}",
        "-- (dupfinder " + str(findings.get("dupfinder_version", "?")) + ")",
        *lines,
        "",
    ]


def cleanup_sql(findings: dict[str, Any], keep: str | None = None) -> str:
    """Return cleanup.sql: per table one transaction that backs up and deletes the losing rows."""
    stamp = _stamp(findings)
    body, summary, total = [], [], 0
    for table in findings["tables"]:
        dialect = dialect_for(table.get("dialect", "sqlite"))
        ctx = _table_context(table, dialect, stamp, keep)
        total += len(ctx["pairs"])
        summary.append(f"--   {table['table']}: {ctx['clusters']} identical cluster(s), {len(ctx['pairs'])} row(s) "
                       f"to delete, {len(ctx['divergent'])} divergent cluster(s) left for a person")
        if ctx["unsupported"]:
            body.append(f"-- table {table['table']}: nothing deleted ({ctx['unsupported']})")
            continue
        body.append(render_sql(_template("cleanup", dialect), dialect, t=ctx, lock_timeout=LOCK_TIMEOUT,
                               statement_timeout=STATEMENT_TIMEOUT, lock_wait_seconds=LOCK_WAIT_SECONDS))
    head = _header("cleanup.sql", findings, [
        f"-- deletes {total} row(s) that duplicate an earlier row exactly; every deleted row is first copied",
        "-- into a dupfinder_backup_* table in the same transaction. Each table's transaction aborts and",
        "-- deletes nothing if any losing row changed since the scan or its survivor is gone.",
        "-- Running it twice deletes nothing the second time. Undo with rollback.sql.",
        "-- PostgreSQL: psql -v ON_ERROR_STOP=1 -f cleanup.sql    SQLite: sqlite3 -bail DATABASE < cleanup.sql",
        "-- MySQL 8.0.16+: mysql DATABASE < cleanup.sql (stops at the first error; the open transaction rolls back)",
        "-- Verify afterwards: dupfinder scan ... again should report no near-duplicate clusters.",
        *summary,
    ])
    return "\n".join(head + body)


def rollback_sql(findings: dict[str, Any], keep: str | None = None) -> str:
    """Return rollback.sql: put back every row cleanup.sql backed up; safe to run more than once."""
    stamp = _stamp(findings)
    body = []
    for table in findings["tables"]:
        dialect = dialect_for(table.get("dialect", "sqlite"))
        ctx = _table_context(table, dialect, stamp, keep, plan=False)
        if ctx["unsupported"]:
            body.append(f"-- table {table['table']}: nothing to roll back ({ctx['unsupported']})")
            continue
        body.append(render_sql(_template("rollback", dialect), dialect, t=ctx))
    head = _header("rollback.sql", findings, [
        "-- restores the rows cleanup.sql deleted, exactly (same primary keys and values), from its backup",
        "-- tables; rows already present are skipped. The backup tables are kept: drop them when done.",
    ])
    return "\n".join(head + body)


def constraint_name(table: str, keys: list[str]) -> str:
    """A deterministic constraint name within PostgreSQL's 63-byte limit.

    >>> constraint_name("recon_summary", ["account_id", "window_id"])
    'uq_recon_summary_account_id_window_id'
    """
    base = re.sub(r"\W+", "_", "_".join([table.split(".")[-1], *keys])).strip("_").lower()
    return f"uq_{base}"[:63]


def check_predicate(where: str | None) -> str | None:
    """A --where predicate is one boolean expression the user writes; refuse what could end it early.

    >>> check_predicate("status = 'active'")
    "status = 'active'"
    """
    if where is None:
        return None
    where = where.strip()
    if not where or ";" in where or "--" in where or "/*" in where or "$" in where:
        raise UsageError("--where must be one boolean expression, without ';', comments or '$'")
    return where


def migration_sql(dialect_name: str, table: str, keys: list[str], nulls_not_distinct: bool = False,
                  where: str | None = None) -> str:
    """Return the UNIQUE migration for one table and key, with its pre-flight and a down step."""
    dialect, ctx = _migration_context(dialect_name, table, keys, nulls_not_distinct, where)
    return render_sql("migration.sql.j2", dialect, **ctx)


def _migration_context(dialect_name: str, table: str, keys: list[str], nulls_not_distinct: bool,
                       where: str | None) -> tuple[Dialect, dict[str, Any]]:
    dialect = dialect_for(dialect_name)
    if dialect.name in PLAN_ONLY:
        raise UsageError(f"{NO_UNIQUE[dialect.name]}: there is no UNIQUE migration to write")
    where = check_predicate(where)
    if nulls_not_distinct and dialect.name != "postgresql":
        raise UsageError(f"NULLS NOT DISTINCT is PostgreSQL 15+ only; {dialect.name} treats NULLs as distinct")
    if where and dialect.name in ("mysql", "mariadb"):
        raise UsageError("MySQL has no partial indexes: drop --where, or use a generated column")
    schema, name = _split(table)
    constraint = constraint_name(table, keys)
    t = {"table": table, "qtable": quote_table(dialect, name, schema), "key_columns": keys, "name": constraint,
         "name_in_schema": quote_table(dialect, constraint, schema), "nulls_not_distinct": nulls_not_distinct,
         "where": where, "tag": dollar_tag(table, *keys), "schema_name": schema, "table_name": name}
    return dialect, {"t": t, "lock_timeout": LOCK_TIMEOUT, "lock_wait_seconds": LOCK_WAIT_SECONDS}


def migration_parts(dialect_name: str, table: str, keys: list[str], nulls_not_distinct: bool = False,
                    where: str | None = None) -> dict[str, str]:
    """The migration as separate statements groups (preflight, create_index, add_constraint, down), for an
    Alembic revision that must run CREATE INDEX CONCURRENTLY in an autocommit block."""
    dialect, ctx = _migration_context(dialect_name, table, keys, nulls_not_distinct, where)
    return {part: render_sql("migration_part.sql.j2", dialect, part=part, **ctx).strip()
            for part in ("preflight", "create_index", "add_constraint", "down")}


def migration_sql_for_findings(findings: dict[str, Any]) -> str:
    """Return migration.sql for the tables of a findings document that cleanup.sql leaves free of duplicates.

    A table where the scan saw far duplicates or divergent clusters would only stop at its pre-flight, so it
    gets a comment with what to resolve and the command to run afterwards instead of a migration that cannot
    pass.
    """
    body, held = [], []
    for t in findings["tables"]:
        if t.get("dialect") in PLAN_ONLY:
            body.append(f"-- table {t['table']}: {NO_UNIQUE[t['dialect']]}; make the writing job idempotent "
                        f"instead ({NO_UNIQUE_ADVICE[t['dialect']]})\n")
            continue
        blockers = []
        if t.get("far_duplicates"):
            blockers.append(f"{t['far_duplicates']} far-duplicate key(s)")
        if t.get("divergent_clusters"):
            blockers.append(f"{t['divergent_clusters']} divergent cluster(s)")
        if blockers:
            keys = " ".join(f"--key {shlex.quote(k)}" for k in t["keys"])
            held.append(t["table"])
            body.append(f"-- table {t['table']}: not migrated yet: {' and '.join(blockers)} remain after cleanup.sql "
                        "(see the report); resolve them by hand, then write the migration with\n"
                        f"--   dupfinder migrate URL --table {shlex.quote(t['table'])} {keys}\n")
            continue
        body.append(migration_sql(t.get("dialect", "sqlite"), t["table"], t["keys"]))
    head = _header("migration.sql", findings, [
        "-- adds a UNIQUE constraint on each business key so the next double run fails loudly. Run it after",
        "-- cleanup.sql. Each table's pre-flight stops the migration while any duplicate key remains (near",
        "-- clusters, divergent ones and far duplicates alike).",
        *([f"-- held back (duplicates cleanup.sql does not remove): {', '.join(held)}"] if held else []),
    ])
    return "\n".join(head + body)
