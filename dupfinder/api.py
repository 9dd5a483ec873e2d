"""The library: one function per command. The CLI only parses options and calls these."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .config import ScanOptions, TableSpec
from .connect import TableInfo
from .findings import ScanResult, TableResult, findings_dict

Progress = Callable[[str, str, int, int], None]  # (table, what is happening, tables done, tables in all)


def scan(options: ScanOptions, progress: Progress | None = None) -> ScanResult:
    """Scan every table in ``options`` in one read-only transaction and return what was found."""
    from .attribution import attribute_table, clock, roles, written
    from .cluster import build_clusters, one_column_divergence
    from .connect import (
        check_ids_unique,
        check_key_equality,
        check_timestamp_column,
        check_where,
        index_predicate,
        introspect,
        mask_url,
        read_in_utc,
        read_only,
        standby_state,
        timestamp_awareness,
    )
    from .detect import column_since, detect, key_index, rows_behind_since, verify_sql
    from .writers import node_hosts, resolve_writers

    scanned_at = datetime.now(UTC).isoformat(timespec="seconds")
    # bad job-run files stop the scan before the database is asked anything; the top-level logs are read with
    # the top-level pattern only where a table reads them so (a table's own pattern may be the only one there is)
    own_runs = {n: _run_index(options, spec) for n, spec in enumerate(options.tables)
                if spec.runs or spec.runs_pattern}
    run_index = _run_index(options) if len(own_runs) < len(options.tables) else None
    tables: list[TableResult] = []
    with read_only(options.url, options.statement_timeout, options.work_mem) as conn:
        standby = standby_state(conn)  # first: the snapshot every table is read in is taken here

        def shape(spec: TableSpec) -> TableInfo:
            given = [c for _, c in spec.writers]
            return introspect(conn, spec.table, {"key": list(spec.keys), "timestamp": [spec.ts], "writer": given,
                                                 "--ignore": list(spec.ignore)}, children=True, ids=spec.ids,
                               every_column=True)  # a role kept from some columns stops here, naming them

        # a bad --where stops the scan before any table is read; the shape read for the check is the one the
        # table's scan uses (it was read twice: a catalog statement and the inspector's reads again per table)
        shapes = {n: shape(spec) for n, spec in enumerate(options.tables) if spec.where}
        for n, info in shapes.items():
            check_where(conn, info, options.tables[n].where)
        total = len(options.tables)
        for done, spec in enumerate(options.tables):
            started = time.monotonic()
            if progress:
                progress(spec.table, "finding clusters", done, total)
            info = shapes.pop(done) if done in shapes else shape(spec)
            # whether the engine takes --where in an index: the advised index and migration.sql's unique one
            info = dataclasses.replace(info, where=spec.where, where_index=index_predicate(conn, info, spec.where))
            if info.id_columns:
                check_ids_unique(conn, info)
            ts_note = check_timestamp_column(info, spec.ts, conn)
            check_key_equality(conn, info, spec.keys)
            exclude = set(spec.keys) | {spec.ts} | set(info.primary_key) | set(info.id_columns) | set(spec.ignore)
            writers = resolve_writers(spec.writers, spec.infer_writers, info.columns, exclude=exclude)
            aware = timestamp_awareness(info, spec.ts)
            utc = read_in_utc(info, spec.ts)  # a MySQL/MariaDB TIMESTAMP: no zone in the type, instants in UTC
            spec, since_note = column_since(spec, aware or utc)
            index = key_index(conn, info, spec)
            found = detect(conn, info, spec, aware, index, tuple(w.column for w in writers))
            if not spec.writers and spec.infer_writers:  # a worker column of node names (name@host) is the host
                writers = node_hosts(writers, info.columns, exclude,
                                     lambda c, rows=found.rows or (): (r.col(c) for r in rows))
            clusters = build_clusters(found.rows, info, spec.keys, spec.ts, writers, spec.keep, spec.ignore)
            read = roles.from_data(conn, info, spec, aware, clusters, writers, _rows_per_us(found.stats))
            writers, rejected, data_roles = read.writers, read.rejected, read.found
            repeated, repeated_commits = clock.hour_apart_clusters(conn, info, spec, aware, writers, index)
            clusters, far_total, far_list = clock.merge(roles.annotate(clusters, data_roles), repeated,
                                                        found.far_total, found.far_duplicates)
            clusters = roles.reclassify(clusters, writers, rejected)  # the clock-change pairs too
            xmin_share = clock.xmin_share(conn, info, found, clusters)
            behind = (rows_behind_since(conn, info, spec) if spec.since is not None and aware is False and not utc
                      and not spec.timezone and not found.stats.rows_scanned else None)
            warnings = tuple(w for w in (behind, info.row_security_role and _row_security_warning(info)) if w)
            if spec.since is not None:
                since_us = int(spec.since.timestamp() * 1_000_000)
                clusters = [c for c in clusters if c.end_us >= since_us]
            divergence = one_column_divergence(clusters)
            unnamed = _unnamed_note(info, clusters)
            notes = [*_notes(info, aware, utc), *([ts_note] if ts_note else []), *([divergence] if divergence else []),
                     *([unnamed] if unnamed else []),
                     *([since_note] if since_note else []),
                     *([_where_note(spec.where, info)] if spec.where else []),
                     *found.stats.notes(),
                     *_read_notes(conn.dialect, info, spec, found.stats.rows_scanned, index, rejected,
                                  bool(standby))]
            table = TableResult(
                spec=spec, info=info, stats=found.stats, writers=writers, clusters=tuple(clusters),
                incidents=(), far_duplicates=far_list, far_total=far_total,
                ts_timezone_aware=aware, ts_read_in_utc=bool(utc), notes=tuple(notes), warnings=warnings,
                rows_fetched=found.rows_fetched,
                xmin_top_share=xmin_share,
                commit_timestamps=clock.commit_status(found.commit_timestamps, repeated_commits),
                verify_sql=verify_sql(conn, info, spec),
            )
            if progress:
                if hasattr(progress, "rows_read"):  # the command line's progress line shows rows per second
                    progress.rows_read(spec.table, found.stats.rows_scanned)
                progress(spec.table, "attributing writers", done, total)
            table_runs = own_runs.get(done, run_index)  # a [[table]]'s own runs, else the global ones
            if table_runs is not None:
                from . import runs

                table = runs.annotate(table, table_runs)  # evidence the attribution reads
            table = attribute_table(table, written.counter(conn, info, spec, aware, (*writers, *data_roles),
                                                           found.members, found.cells), data_roles)
            if table_runs is not None:
                table = runs.explain(table)
            tables.append(dataclasses.replace(table, scan_seconds=time.monotonic() - started))
            if progress:
                progress(spec.table, "done", done + 1, total)
    return ScanResult(database=mask_url(options.url), scanned_at=scanned_at, tables=tuple(tables), standby=standby)


def _run_index(options: ScanOptions, spec: TableSpec | None = None):
    """The job runs of ``--runs`` (None without it), or of one TOML table's own ``runs`` or ``runs_pattern``
    (``spec``; each, where the table has none, the top-level one: a table's own pattern reads the top-level
    files too)."""
    files, pattern = (spec.runs or options.runs, spec.runs_pattern or options.runs_pattern) if spec else (
        options.runs, options.runs_pattern)
    if not files:
        if pattern:
            from .errors import UsageError

            if spec is not None:
                raise UsageError(f"[[table]] {spec.table!r}: runs_pattern reads log files given with runs = ...; "
                                 "neither this table nor the top level of the config file names any")
            raise UsageError("--runs-pattern reads log files given with --runs FILE; no --runs was given")
        return None
    from .runs import RunIndex, read_runs

    warnings: list[str] = []
    return RunIndex(read_runs(files, pattern, warnings), warnings=warnings)


def _read_notes(dialect, info: TableInfo, spec, rows_scanned: int, index, rejected, standby: bool) -> list[str]:
    """What the scan's reading leaves to a person: guessed writer columns the data turned down, and the index
    that would let the scan (or a --since scan) read the table in order (on a hot standby: on the primary)."""
    from .connect import index_caveat, since_advice, where_index_caveat
    from .detect import INDEXED_ENGINES, recommended_index_sql
    from .recommend import STANDBY_INDEX

    where = f"; {STANDBY_INDEX}" if standby else ""

    notes = [f"column {w.column!r} is not used as the {w.role} writer column ({w.reason}); its differences "
             "count as business differences" for w in rejected]
    if index is None and not info.view and rows_scanned and info.dialect in INDEXED_ENGINES:
        columns = ", ".join([*spec.keys, spec.ts])
        notes.append(f"the scan sorted every key of the table: an index on ({columns}) lets it read them "
                     f"in order ({recommended_index_sql(dialect, info, spec)}){index_caveat(info)}"
                     f"{where_index_caveat(info)}{where}")
    advice = since_advice(dialect, info, spec.ts) if spec.since is not None and not info.view else None
    if advice:
        notes.append(advice + (where if "CREATE INDEX" in advice else ""))
    if (info.storage or "").endswith("ReplacingMergeTree") and set(info.sort_key) != set(spec.keys):
        notes.append(_replacing_note(info, spec.keys))
    return notes


def _replacing_note(info: TableInfo, keys) -> str:
    """Why a ReplacingMergeTree kept the copies: "make it a ReplacingMergeTree ordered by the business key" was
    the advice to a table that is one, ordered by more than its key (or by less, which merges keys away)."""
    extra = [c for c in info.sort_key if c not in keys]
    missing = [k for k in keys if k not in info.sort_key]
    head = f"a {info.storage} ordered by ({', '.join(info.sort_key)}) replaces only rows equal on all of it: "
    if missing:
        return head + (f"rows of different {', '.join(missing)} but an equal sort key are merged into one; order it "
                       f"by the business key ({', '.join(keys)})")
    return head + (f"copies of a key that differ in {', '.join(extra)} are never removed by its merges; ordered by "
                   f"the business key ({', '.join(keys)}) they would be (read it with FINAL until a merge has run)")


def _unnamed_note(info: TableInfo, clusters) -> str | None:
    """Which clusters cleanup.sql leaves out because a row's identity is NULL (a legacy row of an --id column):
    the scan's own files said nothing, or stopped on them as if the findings were bad."""
    from .values import identity_label, unnamed
    from .words import count

    left = sum(1 for c in clusters if c.payload == "identical" and unnamed(r.pk for r in c.rows))
    if not left:
        return None
    named = identity_label(info.id_columns, info.primary_key)
    return (f"{count(left, 'identical cluster')} {'holds' if left == 1 else 'hold'} a row whose {named} is NULL: no "
            "statement can find, back up or restore that row, so cleanup.sql leaves "
            f"{'it' if left == 1 else 'them'} out (listed there as NOT DELETED) and migration.sql waits; fill in "
            "the NULL, or name columns that hold no NULL with --id, and scan again")


def _where_note(where: str, info: TableInfo) -> str:
    """What a scan filtered with --where read, and what that changes in the files it writes."""
    from .remediate import filtered_migration

    refused = info.where_index.reason if info.where_index and info.where_index.refused else None
    return (f"only rows where {where} were read (--where): rows outside it are neither counted nor clustered; "
            "cleanup.sql deletes a row only while it and its survivor still match it; "
            f"{filtered_migration(info.dialect, refused)}")


def _notes(info: TableInfo, aware: bool | None, utc: bool = False) -> list[str]:
    notes = []
    if info.id_columns:
        notes.append(f"rows are identified by --id {', '.join(info.id_columns)} (checked unique when scanned)")
    elif not info.primary_key:
        notes.append(
            f"table has no primary key: rows are identified by the engine's row id ({info.row_id}), "
            "which changes when rows are updated or the table is rewritten; scan and clean up close together"
        )
    if info.view:
        notes.append("a view: no row id, and on PostgreSQL no xmin or ctid, so the evidence of inserting transactions "
                     "and heap blocks is not available; cleanup.sql deletes nothing from a view (scan the table it "
                     "reads to clean up)")
    if info.inherited_by:
        notes.append(f"tables inherit from this one ({', '.join(info.inherited_by)}): only its own rows are read and "
                     "cleaned (FROM ONLY); scan each of them on its own")
    if info.partition_of:  # a double run straddling its bounds wrote one copy here and one in a neighbour
        notes.append(f"a partition of {info.partition_of}: only its own rows are read, so copies written on either "
                     f"side of its bounds (a double run around the boundary) are not paired, and a "
                     f"unique index here covers this partition alone; scan {info.partition_of} to read them all")
    if aware is False and utc:  # a MySQL/MariaDB TIMESTAMP holds an instant, handed back in the session's UTC
        notes.append("the timestamp column (TIMESTAMP) is read in UTC, the scan's session time zone: gaps are "
                     "computed between instants")
    elif aware is False:
        notes.append("the timestamp column has no time zone: gaps are computed on wall-clock values")
    return notes


@dataclass(frozen=True)
class Outputs:
    findings: dict[str, Any]
    files: dict[str, Path]


def _rows_per_us(stats: Any) -> float | None:
    """The rows the detection counted per microsecond of its time range (None: no range), which tells the writer
    profile how many rows its spans hold (attribution.roles.profile_spans)."""
    from .values import naive_moment

    first, last = naive_moment(stats.first_ts), naive_moment(stats.last_ts)
    if first is None or last is None or last <= first:
        return None
    return stats.rows_scanned / ((last - first) / timedelta(microseconds=1))


def write_outputs(result: ScanResult, out_dir: str | Path) -> Outputs:
    """Write every file ``--out`` names: findings.json, report.html, cleanup.sql, rollback.sql, migration.sql.

    Each is written as it is rendered, from a findings document whose clusters are built as they are read: what
    this adds to the scan result in memory follows what the report shows, not how many clusters there are."""
    from . import findings
    from .findings import stream_findings
    from .remediate import cleanup_parts, keep_previous_run, migration_sql_for_findings, rollback_parts, scan_stamp
    from .report import SqlShown, render_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = findings_dict(result, on_demand=True, kept_rows=findings.KEPT_ROWS)  # read by every file in turn
    files = {
        "findings.json": out / "findings.json",
        "cleanup.sql": out / "cleanup.sql",
        "rollback.sql": out / "rollback.sql",
        "migration.sql": out / "migration.sql",
        "report.html": out / "report.html",
        "verify.sql": out / "verify.sql",
    }
    stream_findings(doc, files["findings.json"])
    parts = {  # the findings are checked here, before a SQL file is touched
        "cleanup.sql": cleanup_parts(doc),
        "rollback.sql": rollback_parts(doc),
        "migration.sql": [migration_sql_for_findings(doc)],
    }
    keep_previous_run(out, scan_stamp(doc))  # an applied cleanup's rollback is never overwritten
    sql = {name: SqlShown.write(files[name], pieces) for name, pieces in parts.items()}
    verify = _verify_file(result)
    files["verify.sql"].write_text(verify, encoding="utf-8")
    sql["verify.sql"] = SqlShown.of(verify)
    files["report.html"].write_text(render_report(doc, sql), encoding="utf-8")  # every file it wrote, linked
    return Outputs(findings=doc, files=files)


def _verify_file(result: ScanResult) -> str:
    from .sqltemplates import comment_sql  # names in comments: one line, no raw control character

    parts = [
        "-- dupfinder verify.sql: a post-deploy check, one standalone query per table.",
        "-- Bind :since to the start of the period to check, minus one window; the query returns the rows of",
        "-- near-duplicate clusters written since then and nothing when the table is clean (so a dbt singular",
        f"-- test or a monitoring alert can fail on any row). Generated from the scan at {result.scanned_at}.",
        *_VERIFY_RUN.get(result.tables[0].info.dialect if result.tables else None, _VERIFY_RUN["postgresql"]),
        "",
    ]
    for t in result.tables:
        parts += [f"-- table {comment_sql(t.info.qualified_name)}: key ({', '.join(map(comment_sql, t.spec.keys))}), "
                  f"window {t.spec.window} s",
                  *_naive_bound(t, comment_sql),
                  t.verify_sql.rstrip() + ";", ""]
    return "\n".join(parts)


def _naive_bound(t: TableResult, comment_sql: Callable[[str], str]) -> list[str]:
    """A PostgreSQL timestamp without time zone drops the offset of the bound it is compared with: '03:00+01'
    reads as 03:00 of the column's own clock (UTC for a Rails app), an hour later than meant, so say so."""
    if t.info.dialect != "postgresql" or t.ts_timezone_aware is not False:
        return []
    return [f"-- {comment_sql(t.spec.ts)} has no time zone: give :since in the column's own clock (its values' zone, "
            "UTC where the application writes UTC); PostgreSQL drops an offset such as +01 from the bound"]


# How to bind :since with each engine's own client (the mysql/mariadb client has no bind variables)
_VERIFY_RUN = {
    "postgresql": ["-- psql pastes a variable as it is, so give the bound quoted: "
                   "psql -v since=\"'2026-11-23 00:00:00+00'\" -f verify.sql."],
    "sqlite": ["-- sqlite3: sqlite3 DATABASE \".parameter set :since '2026-11-23 00:00:00'\" \".read verify.sql\""],
    "mysql": ["-- The mysql/mariadb client binds nothing: put the bound in its place,",
              "-- sed \"s/:since/'2026-11-23 00:00:00'/g\" verify.sql | mariadb DATABASE"],
}
_VERIFY_RUN["mariadb"] = _VERIFY_RUN["mysql"]


def scan_specs_from_config(path: str | Path, overrides: dict[str, Any]) -> tuple[str | None, list[TableSpec]]:
    """Read ``--config`` into table specs (a thin wrapper kept here so the CLI imports one module)."""
    from .config import load_config

    return load_config(path, overrides)


def demo(out_dir: str | Path, progress: Progress | None = None) -> Outputs:
    """Build the sample incidents in ``out_dir/demo.db`` and run the whole pipeline on them."""
    from .sample_data import build_demo_database, demo_specs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.db"
    if db.exists():
        db.unlink()
    build_demo_database(f"sqlite:///{db}")
    options = ScanOptions(url=f"sqlite:///{db}", tables=tuple(demo_specs()))
    return write_outputs(scan(options, progress), out)


def cleanup(findings_path: str | Path, keep: str | None = None, tables: tuple[str, ...] = ()) -> tuple[str, str]:
    """Regenerate cleanup.sql and rollback.sql text from a findings.json (runs nothing); only ``tables`` when
    given."""
    cleanup_pieces, rollback_pieces = cleanup_parts(findings_path, keep, tables)
    return "".join(cleanup_pieces), "".join(rollback_pieces)


def cleanup_parts(findings_path: str | Path, keep: str | None = None, tables: tuple[str, ...] = ()
                  ) -> tuple[Iterator[str], Iterator[str]]:
    """cleanup.sql and rollback.sql of a findings.json piece by piece, rendered as they are read; the findings
    are checked before this returns, and their clusters decoded from the file one at a time (runs nothing).
    ``tables``: only these (findings.json's ``table`` names), else all."""
    from .findings import read_findings
    from .remediate import cleanup_parts as cleanup_pieces
    from .remediate import only_tables, rollback_parts

    doc = only_tables(read_findings(findings_path, lazy=True), tables)
    return cleanup_pieces(doc, keep), rollback_parts(doc, keep)


def evaluate(findings_path: str | Path, labels_path: str | Path, abstentions_right: bool = False, bins: int = 10):
    """Score a findings.json's attribution against a labels file (CSV or JSON lines); runs no query."""
    from .evaluate import evaluate as score_findings
    from .findings import read_findings

    return score_findings(read_findings(findings_path), labels_path, abstentions_right, bins)


def _row_security_warning(info) -> str:
    """What a scan under row-level security did not see: a read-only audit role that policies filter reads a
    part of the table, while its totals read as the whole; migration.sql's pre-flight, run by the owner, counts the
    rest (it stopped on duplicates the scan never reported)."""
    return (f"row-level security is active for role {info.row_security_role}: the scan read "
            "only the rows its policies show, so keys written twice among the rows hidden from it are neither found "
            "nor cleaned up, and migration.sql's pre-flight, run by the table's owner, counts them; scan as a role "
            "that bypasses row-level security (BYPASSRLS, or the owner) to audit every row")


def migrate(url: str, table: str, keys: list[str] | tuple[str, ...], nulls_not_distinct: bool = False,
            where: str | None = None, warn: Callable[[str], None] | None = None) -> str:
    """Return the UNIQUE migration for ``table`` on ``keys``, after checking both exist (runs nothing).
    ``warn`` hears what the caller should tell the user (a soft-deleting table migrated without --where)."""
    from .recommend import STANDBY_MIGRATION
    from .remediate import migration_sql

    dialect, qualified, schema, name, only, standby, partitioned = _migration_target(url, table, keys, where, warn)
    text = migration_sql(dialect, qualified, list(keys), nulls_not_distinct, where, schema=schema, name=name,
                         only=only, partitioned=partitioned)
    return f"{STANDBY_MIGRATION}\n{text}" if standby else text


def migrate_alembic(url: str, table: str, keys: list[str] | tuple[str, ...], directory: str | Path,
                    nulls_not_distinct: bool = False, where: str | None = None,
                    warn: Callable[[str], None] | None = None) -> Path:
    """Write the migration as an Alembic revision into ``directory`` and return its path."""
    from .alembic_revision import versions_dir, write_revision
    from .errors import UsageError

    versions_dir(directory)  # a bad folder is reported before the database is asked anything
    dialect, qualified, schema, name, only, standby, partitioned = _migration_target(url, table, keys, where, warn)
    if partitioned:  # one CREATE INDEX CONCURRENTLY per partition, listed when it runs: psql's \gexec
        raise UsageError(f"{qualified} is partitioned: its unique index is built partition by partition by statements "
                         "psql's \\gexec writes as it runs, which an Alembic revision cannot hold; write the "
                         "migration with `dupfinder migrate URL --table ... --key ... -o FILE` and run it with psql")
    return write_revision(directory, dialect, qualified, list(keys), nulls_not_distinct, where, schema, name, only,
                          standby)


def _migration_target(url: str, table: str, keys: list[str] | tuple[str, ...], where: str | None,
                      warn: Callable[[str], None] | None = None
                      ) -> tuple[str, str, str | None, str, bool, bool, bool]:
    """Check the table, the key columns and the predicate on the database (read-only); return the dialect, the
    table's name as shown, the schema and name the SQL qualifies it with (the schema it was found in), whether
    others INHERIT from it (its pre-flight then counts its own rows only), whether the server is a hot
    standby (the migration must then run on the primary) and whether it is a partitioned table whose partition
    key the business key holds (its unique index is built partition by partition)."""
    from .config import check_predicate
    from .connect import MAY_REFUSE, check_where, index_predicate, introspect, read_only, standby_state
    from .errors import UsageError
    from .recommend import partitioned_advice
    from .remediate import VIEW_REFUSAL, shell_word
    from .sqltemplates import ident
    from .values import soft_delete_column

    where = check_predicate(where)
    with read_only(url) as conn:
        # a view needs no row identity here (the --id it was asked for is no option of migrate): it is refused
        info = introspect(conn, table, {"key": list(keys)}, require_identity=False)
        if info.view:
            raise UsageError(f"{info.qualified_name} is {VIEW_REFUSAL}; a UNIQUE constraint belongs on that table")
        partitioned = bool(info.partitioned and info.partition_key and all(c and c in keys for c in info.partition_key))
        if info.partitioned and not partitioned:  # no unique index on the key is possible: say what to do instead
            raise UsageError(f"{info.qualified_name} is not migrated: "
                             f"{partitioned_advice(keys, info.partition_key)}")
        if warn and info.partition_of:
            warn(f"{info.qualified_name} is a partition of {info.partition_of}: its unique index covers this "
                 "partition alone, so a copy written into another partition still gets in")
        if where:
            check_where(conn, info, where)
            said = index_predicate(conn, info, where)
            if said and said.refused:  # the migration would fail at its CREATE UNIQUE INDEX, after its pre-flight
                raise UsageError(f"--where {where!r} cannot be the predicate of a unique index on "
                                 f"{info.qualified_name}: {said.reason}; give a fixed bound (created_at > "
                                 "'2026-10-25', not now() - interval '30 days'), or migrate without --where once "
                                 "every row is unique")
            if warn and said:
                warn(f"whether {conn.dialect.name} takes --where {where!r} in an index was not checked "
                     f"({said.reason}): it {MAY_REFUSE}")
        elif warn and (deleted := soft_delete_column((c.name, c.type) for c in info.columns)):
            warn(f"{info.qualified_name} soft-deletes its rows ({deleted}): a UNIQUE constraint over every row "
                 "refuses a row created again after a soft delete; for uniqueness among the rows not deleted, "
                 f"add --where {shell_word(ident(conn.dialect, deleted) + ' IS NULL')}")
        standby = standby_state(conn) is not None
        return (conn.dialect.name, info.qualified_name, info.sql_schema, info.name, bool(info.inherited_by), standby,
                partitioned)

