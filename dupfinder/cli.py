"""Command line: parse options, call dupfinder.api, print, map errors to exit codes. Nothing else."""

from __future__ import annotations

import json
import math
import shlex
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn

import click

from . import __version__
from .errors import DupfinderError, UsageError

EXIT_CLEAN, EXIT_FOUND, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3


def _handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """The one place errors become an ``Error:`` line and an exit code (design.md)."""

    @click.option("--traceback", "show_traceback", is_flag=True, help="Show the stack trace of an error.")
    @wraps(command)
    def wrapper(*args: Any, show_traceback: bool = False, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        show = show_traceback or bool((ctx.find_root().obj or {}).get("traceback"))
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            _quiet_broken_pipe()  # the reader (| head) has what it wanted: no message, the result's exit code
            sys.exit(ctx.meta.get("dupfinder.exit_code", EXIT_CLEAN))
        except DupfinderError as err:
            if show:
                _print_traceback()
            _error(str(err))
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            _error("interrupted")
            sys.exit(130)
        except OSError as err:
            import socket

            if show:
                _print_traceback()
            if isinstance(err, (ConnectionError, TimeoutError, socket.gaierror, socket.herror)):
                _error(f"cannot reach the database: {err.strerror or err}")  # a driver that let a socket error out
                sys.exit(EXIT_DATABASE)
            where = f" {err.filename!r}" if err.filename else ""  # a file that cannot be written or read
            _error(f"cannot write or read{where}: {err.strerror or err}")
            sys.exit(EXIT_USAGE)
        except Exception as err:  # a bug in dupfinder: say so, keep the exit code of a failed run
            if show:
                _print_traceback()
            _error(f"unexpected {type(err).__name__}: {err} (rerun with --traceback and report it)")
            sys.exit(EXIT_DATABASE)

    return wrapper


def _print_traceback() -> None:
    import traceback  # only when asked for: not on the path of a clean check

    traceback.print_exc()


def _error(message: str) -> None:
    """One line on stderr, secrets of any URL this process opened scrubbed out."""
    from .urls import scrub

    text = " ".join(scrub(message).split())
    try:
        click.echo(f"Error: {text}", err=True)
    except BrokenPipeError:
        pass


def _quiet_broken_pipe() -> None:
    """Point stdout at /dev/null so Python's final flush does not complain about the closed pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (a test runner): nothing will be flushed to a pipe


def _database_url(given: str | None, config_url: str | None = None) -> str:
    """The URL from the argument, DUPFINDER_URL, the config file or DATABASE_URL, in that order."""
    from .urls import resolve_url

    url, _source = resolve_url(given, config_url)
    if not url:
        raise UsageError("missing database URL: give it as an argument, in DUPFINDER_URL (or DATABASE_URL), or as "
                         "database in the config file, e.g. sqlite:///app.db or postgresql+psycopg://user@host/db")
    return url


class _OneLineErrors(click.Group):
    """click's own usage errors (unknown option, bad choice, missing value) as one ``Error:`` line too."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("standalone_mode", None)
        # no arguments given: this process is the command line itself (console script, python -m), not a
        # caller inside a longer-lived process (CliRunner); only then may a command tune the process (_Startup)
        process = (args[0] if args else kwargs.get("args")) is None
        ending: dict[str, bool] = {}  # _Startup marks here that the process may end without its teardown
        kwargs["obj"] = {**(kwargs.get("obj") or {}), "process": process, "ending": ending}
        try:
            code = self._one_line_errors(*args, **kwargs)
        except SystemExit as done:
            if ending.get("now"):
                _leave(done.code)
            raise
        if ending.get("now"):
            _leave(code)
        return code

    def _one_line_errors(self, *args: Any, **kwargs: Any) -> Any:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # click 8.2: no command given -> the help, as before
                click.echo(err.format_message())
            else:
                _error(f"{err.format_message()} (see dupfinder --help)")
            sys.exit(err.exit_code)
        except click.Abort:
            _error("aborted")
            sys.exit(130)
        except BrokenPipeError:  # --help or --version into a closed pipe
            _quiet_broken_pipe()
            sys.exit(EXIT_CLEAN)
        if isinstance(code, int) and code:
            sys.exit(code)
        return code


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dupfinder")
@click.option("--traceback", is_flag=True, help="Show the stack trace of an error.")
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    """Find rows written twice by jobs that ran twice, say who wrote them, and clean up safely."""
    ctx.obj = {**(ctx.obj or {}), "traceback": traceback}


@main.command()
@click.argument("url", required=False)
@click.option("--table", help="Table to scan (schema.table allowed).")
@click.option("--key", "keys", multiple=True, help="Business-key column; repeat for a composite key.")
@click.option("--ts", help="Creation-timestamp column.")
@click.option("--id", "ids", multiple=True,
              help="Column identifying a row where there is no primary key or row id (Spark, ClickHouse, views); "
                   "repeat for several. Checked unique by the scan.")
@click.option("--ignore", "ignore", multiple=True, metavar="COLUMN",
              help="Column left out of the comparison between copies (a per-row request id, a second write "
                   "time such as updated_at); repeat for several.")
@click.option("--window", default=None, help="Largest gap that still counts as the same moment [2s].")
@click.option("--writer", "writers", multiple=True, metavar="ROLE=COLUMN",
              help="Column naming who wrote a row; roles: host, process, run, version, app.")
@click.option("--no-infer-writers", is_flag=True, help="Do not guess writer columns from column names.")
@click.option("--since", default=None, help="Only rows written since DURATION ago (30m) or since TIMESTAMP.")
@click.option("--where", "where", metavar="PREDICATE", default=None,
              help="Only rows matching this SQL predicate count, e.g. \"deleted_at IS NULL\" (checked on the "
                   "database first; cleanup.sql re-checks it; the migration is a partial unique index on it).")
@click.option("--keep", type=click.Choice(["earliest", "latest"]), default=None, help="Row to keep [earliest].")
@click.option("--timezone", default=None, help="The scheduler's time zone, for clock-change evidence.")
@click.option("--incident-gap", default=None, help="Largest gap between clusters of one incident [10m].")
@click.option("--statement-timeout", default=None, help="Abort any query running longer than this (e.g. 5m).")
@click.option("--work-mem", default=None,
              help="PostgreSQL work_mem for the scan's own transaction, e.g. 16MB [the server's setting].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="dupfinder.toml with several tables.")
@click.option("--out", type=click.Path(file_okay=False), help="Write findings.json, report.html and the SQL here.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "summary", "junit"]), default="text",
              help="text for people, json (the findings), summary (a small JSON), junit (XML for CI).")
@click.option("--fail-on", "fail_on", multiple=True, metavar="METRIC>N",
              help="Exit 1 only when a threshold is passed: clusters>0, rows>10, delete>0, divergent>0, "
                   "incidents>0, far>0, mechanism:retry>5 (repeatable).")
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="An accepted findings.json: only clusters it does not hold count.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (exit code and --out files only).")
@click.option("--runs", "runs", multiple=True, metavar="FILE",
              help="Job runs (CSV or JSON lines: start, end, job, host, process, run; or log lines read through "
                   "--runs-pattern): each cluster row is matched to the runs active when it was written.")
@click.option("--runs-pattern", default=None, metavar="REGEX",
              help="Read runs from log lines: named groups start+end, ts+duration or ts+phase; job, host, "
                   "process, run.")
@_handle_errors
def scan(url, table, keys, ts, ids, ignore, window, writers, no_infer_writers, since, where, keep, timezone,
         incident_gap, statement_timeout, work_mem, config_path, out, fmt, fail_on, baseline, quiet, runs,
         runs_pattern):
    """Scan tables at URL (or DUPFINDER_URL) for rows with the same key written moments apart."""
    started = _Startup()
    from . import api, gates
    from .config import ScanOptions, prepare_out_dir, remove_created, table_spec
    from .durations import parse_memory, parse_timeout

    config_url = None
    if config_path:
        if table or keys or ts or writers or ids or ignore:
            raise UsageError("give tables either with --config or with --table/--key/--ts, not both")
        if where:
            raise UsageError("--where applies to one table: with --config give it as where = \"...\" in the table's "
                             "[[table]] entry")
        overrides = {"window": window, "keep": keep, "since": since, "timezone": timezone,
                     "incident_gap": incident_gap, **({"infer_writers": False} if no_infer_writers else {})}
        config_url, specs = api.scan_specs_from_config(config_path, overrides)
        from .config import run_logs

        config_runs, config_pattern = run_logs(config_path)
        runs, runs_pattern = runs or config_runs, runs_pattern or config_pattern
    else:
        missing = [name for name, value in (("--table", table), ("--key", keys), ("--ts", ts)) if not value]
        if missing:
            raise UsageError(f"missing {', '.join(missing)} (or use --config FILE)")
        specs = [table_spec(table=table, keys=keys, ts=ts, window=window, writers=writers,
                            infer_writers=not no_infer_writers, keep=keep or "earliest", since=since,
                            timezone=timezone, incident_gap=incident_gap, ids=ids, ignore=ignore, where=where)]
    url = _database_url(url, config_url)
    checks = gates.parse_gates(fail_on)
    accepted = gates.load_baseline(baseline) if baseline else None
    timeout = parse_timeout(statement_timeout) if statement_timeout is not None else None
    options = ScanOptions(url=url, tables=tuple(specs), statement_timeout=timeout,
                          work_mem=parse_memory(work_mem) if work_mem is not None else None,
                          runs=tuple(runs), runs_pattern=runs_pattern)
    created = prepare_out_dir(out) if out else []  # a folder that cannot be written fails now, not after an hour
    try:
        result = api.scan(options, started.connected(None if quiet else _progress(fmt)))
    except BaseException:
        remove_created(created)  # a failed scan leaves no empty --out folder behind
        raise
    finally:
        started.done()
    if out:
        doc = api.write_outputs(result, out).findings
    else:
        from .findings import findings_dict

        doc = findings_dict(result, on_demand=True)  # clusters built as they are read, by --format json too
    verdict = gates.evaluate(doc, checks, accepted)
    click.get_current_context().meta["dupfinder.exit_code"] = verdict.exit_code
    _print_warnings(doc)
    if not quiet and fmt != "text":  # the text says it in each table's notes
        _print_filters(doc)
    if quiet:
        pass
    elif fmt == "json":
        from .findings import write_findings_to

        write_findings_to(doc, click.get_text_stream("stdout"))  # as findings.json: one cluster at a time
    elif fmt == "summary":
        click.echo(json.dumps(gates.summary_dict(doc, verdict), indent=2, ensure_ascii=False))
    elif fmt == "junit":
        click.echo(gates.junit_xml(doc, verdict), nl=False)
    else:
        _print_summary(doc)
        _print_verdict(verdict, bool(checks or accepted))
        if out:
            click.echo(f"wrote {out}/findings.json, report.html, cleanup.sql, rollback.sql, migration.sql, verify.sql")
    sys.exit(verdict.exit_code)


def _print_warnings(doc: dict[str, Any]) -> None:
    """What may make a passing check wrong, on standard error whatever the format (a CI log shows it; the JSON
    and JUnit on standard output stay as they are)."""
    from .findings import standby_note
    from .sqltemplates import spelled_out

    for t in doc["tables"]:
        for warning in t.get("warnings", ()):
            click.echo(spelled_out(f"warning: {t['table']}: {warning}"), err=True)
    if doc.get("standby", {}).get("replay_paused"):  # a standby that stopped replaying: a pass says nothing new
        click.echo(spelled_out(f"warning: {standby_note(doc)}"), err=True)


def _print_filters(doc: dict[str, Any]) -> None:
    """A filtered scan (--where) on standard error beside machine output: its counts, its pass and the unique
    index its migration.sql offers hold only for the rows matching the predicate."""
    for t in (t for t in doc["tables"] if t.get("where")):  # remediate is imported by a filtered scan only
        from .remediate import filtered_migration
        from .sqltemplates import spelled_out

        click.echo(spelled_out(f"note: {t['table']}: only rows where {t['where']} were read (--where); "
                               f"{filtered_migration(t.get('dialect', 'sqlite'), t.get('where_not_indexable'))}"),
                   err=True)


def _leave(code: object) -> NoReturn:
    """End this process with ``code`` as ``sys.exit`` would, without the interpreter's teardown.

    Once a scan has run, the teardown only frees memory the operating system takes back anyway: a last
    collection over every object left, each module emptied, DuckDB's databases destroyed (on the 5M-row DuckDB
    table of benchmarks/peers.py about 0.2 s of CPU after the findings were printed, and as much in a clean
    DuckDB check). What must happen still does: the atexit functions run (logging's flush), then standard
    output and error are flushed; a reader that closed the pipe early leaves the exit code as it was."""
    import atexit
    import os

    if code is not None and not isinstance(code, int):
        click.echo(code, err=True)  # sys.exit("text") prints it and exits 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (| head) or stream: nothing more can be written
            pass
    os._exit(0 if code is None else code if isinstance(code, int) else 1)


class _Startup:
    """The start-up of a scan process: the cyclic garbage collector paused until the database is connected.

    Importing SQLAlchemy, the driver and the pipeline allocates some 60,000 objects that live as long as the
    process, and the collector walked them again and again as they arrived (measured on a clean check:
    about 120 young, 10 middle and one full collection, 25-90 ms of a 0.3-0.4 s process). So when this
    process is the command line itself, the collector waits until the scan has connected (the last import of
    a clean check: the driver); then what start-up left is frozen out of later collections and the collector
    runs as usual for the scan's own work. Inside another process (CliRunner, a library caller) nothing
    changes.
    """

    def __init__(self) -> None:
        import gc

        root = click.get_current_context().find_root()
        self.paused = bool((root.obj or {}).get("process")) and gc.isenabled()
        self.ending = (root.obj or {}).get("ending", {})
        if self.paused:
            gc.disable()

    def done(self) -> None:
        """Freeze what start-up allocated and let the collector run again (at most once).

        Frozen objects are never collected, not even by the interpreter's last collection at exit: DuckDB's
        extension (nanobind) then found its type objects still alive and printed some 60 lines of "leaked"
        warnings on stderr after every DuckDB scan. So the process then ends without that teardown
        (``_leave``): nothing is collected or reported, and the time it took is saved.
        """
        if self.paused:
            import gc

            self.paused = False
            gc.freeze()
            gc.enable()
            self.ending["now"] = True

    def connected(self, progress):
        """The progress callback api.scan calls first once connected, ending the start-up there."""

        def update(table: str, phase: str, done: int, total: int) -> None:
            self.done()
            if progress is not None:
                progress(table, phase, done, total)

        if hasattr(progress, "rows_read"):
            update.rows_read = progress.rows_read
        return update


def _print_verdict(verdict, gated: bool) -> None:
    from .words import count

    if not gated:
        return
    if verdict.baseline:
        known = sum(t.known_clusters for t in verdict.tables)
        new = sum(t.counts["clusters"] for t in verdict.tables)
        click.echo(f"baseline {verdict.baseline}: {count(known, 'cluster')} accepted, {new:,} new")
    for outcome in verdict.gates:
        click.echo(f"gate {outcome.gate}: {outcome.value} -> {'FAIL' if outcome.failed else 'pass'}")


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="dupfinder-demo", show_default=True,
              help="Folder for demo.db and every output file.")
@_handle_errors
def demo(out):
    """Build the sample incidents in a SQLite file and run the whole pipeline on them."""
    from . import api

    outputs = api.demo(out, _progress("text"))
    _print_summary(outputs.findings)
    click.echo(f"\nsample database: {out}/demo.db")
    click.echo(f"report: {outputs.files['report.html']}")
    click.echo(f"also wrote: {', '.join(str(p) for name, p in outputs.files.items() if name != 'report.html')}")


@main.command()
@click.argument("findings", type=click.Path(dir_okay=False))
@click.option("-o", "output", type=click.Path(dir_okay=False), help="Write cleanup SQL here (rollback beside it).")
@click.option("--keep", type=click.Choice(["earliest", "latest"]), default=None, help="Row to keep.")
@click.option("--table", "tables", multiple=True, metavar="T",
              help="Only this table, as findings.json names it; repeatable [every table].")
@_handle_errors
def cleanup(findings, output, keep, tables):
    """Regenerate cleanup and rollback SQL from a findings.json."""
    from . import api
    from .config import writable_file
    from .textfiles import joined, write_pieces

    path = writable_file(output) if output else None
    # written as rendered, one cluster at a time
    cleanup_pieces, rollback_pieces = api.cleanup_parts(findings, keep, tables)
    if path is None:
        click.get_text_stream("stdout").writelines(joined(cleanup_pieces))
        click.echo("no rollback written: with -o FILE the rollback SQL is written beside FILE", err=True)
        return
    write_pieces(path, cleanup_pieces)
    rollback_path = path.with_name(rollback_name(path.name))
    write_pieces(rollback_path, rollback_pieces)
    click.echo(f"wrote {path} and {rollback_path}")


@main.command()
@click.argument("findings", type=click.Path(dir_okay=False))
@click.argument("labels", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format.")
@click.option("--abstentions-right", is_flag=True,
              help="Count an unknown whose shortlist holds the true mechanism as right (reported apart either way).")
@click.option("--bins", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Equal-width confidence bins for the calibration error.")
@_handle_errors
def evaluate(findings, labels, fmt, abstentions_right, bins):
    """Score the attribution in FINDINGS.json against labelled clusters in LABELS (CSV or JSON lines).
    A report, not a gate: exits 0 whenever it ran."""
    from . import api

    result = api.evaluate(findings, labels, abstentions_right, bins)
    click.echo(json.dumps(result.as_dict(), indent=2) if fmt == "json" else result.text())


@main.command()
@click.argument("url", required=False)
@click.option("--table", required=True, help="Table to constrain.")
@click.option("--key", "keys", multiple=True, required=True, help="Business-key column; repeat for several.")
@click.option("-o", "output", type=click.Path(dir_okay=False), help="Write the migration here.")
@click.option("--alembic", "alembic_dir", type=click.Path(file_okay=False),
              help="Write an Alembic revision into this versions folder (or script folder) instead.")
@click.option("--nulls-not-distinct", is_flag=True,
              help="PostgreSQL 15+: rows with NULL in a key column count as equal (NULLS NOT DISTINCT).")
@click.option("--where", "where", metavar="PREDICATE",
              help="Only rows matching this SQL predicate must be unique (a partial unique index; no constraint).")
@_handle_errors
def migrate(url, table, keys, output, alembic_dir, nulls_not_distinct, where):
    """Write the UNIQUE-constraint migration (with its duplicate pre-flight) for a table."""
    from pathlib import Path

    from . import api
    from .config import writable_file
    from .sqltemplates import spelled_out

    url = _database_url(url)
    if output:
        writable_file(output)

    def warn(text: str) -> None:
        click.echo(spelled_out(f"warning: {text}"), err=True)

    if alembic_dir:
        path = api.migrate_alembic(url, table, keys, alembic_dir, nulls_not_distinct, where, warn)
        click.echo(f"wrote {path}")
        return
    text = api.migrate(url, table, keys, nulls_not_distinct, where, warn)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("url", required=False)
@click.option("--schema", "schemas", multiple=True, metavar="SCHEMA",
              help="Schema to look in, or a glob ('tenant_*'); repeatable [the default schema].")
@click.option("-o", "output", type=click.Path(dir_okay=False), default="dupfinder.toml", show_default=True,
              help="Write the starter config here.")
@click.option("--force", is_flag=True, help="Overwrite the config file if it exists.")
@click.option("--where", "where", metavar="PREDICATE", default=None,
              help="Only rows matching this SQL predicate count (e.g. \"deleted_at IS NULL\"); written into each "
                   "[[table]]; a table it does not work on is skipped.")
@click.option("--max-combinations", "max_combinations", type=click.IntRange(0, 10_000), default=None, metavar="N",
              help="Sets of 3 and 4 columns measured per table at most, one GROUP BY each (0: keys of 1-2 "
                   "columns only) [64].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format.")
@_handle_errors
def discover(url, schemas, output, force, where, max_combinations, fmt):
    """Propose business keys for tables with a creation timestamp and no unique constraint; write a
    starter dupfinder.toml that scan --config accepts."""
    import json

    from .config import check_predicate, writable_file
    from .discover import MAX_COMBINATIONS, starter_toml
    from .discover import discover as propose
    from .errors import UsageError

    where = check_predicate(where)  # bad text is refused before anything else
    url = _database_url(url)
    path = writable_file(output)
    if path.exists() and not force:
        raise UsageError(f"{output} exists; pass --force to overwrite it or -o to write elsewhere")
    proposals = propose(url, schemas, where,
                        MAX_COMBINATIONS if max_combinations is None else max_combinations)
    keyed = any(p.keys for p in proposals)  # a config without one [[table]] is nothing scan --config can run
    if keyed:
        path.write_text(starter_toml(url, proposals), encoding="utf-8")
    if fmt == "json":
        click.echo(json.dumps({"config": str(path) if keyed else None, "tables": [p.as_dict() for p in proposals]},
                              indent=2))
        return
    for p in proposals:
        if p.skipped:
            click.echo(f"{p.table}: skipped -- {p.skipped}")
        elif p.keys:
            click.echo(f"{p.table}: key ({', '.join(p.keys)}), timestamp {p.ts} -- {p.evidence}; read {p.rows_read}")
            if p.index:
                click.echo(f"  {p.index_advice}")
            if p.identity:
                click.echo(f"  {p.identity}")
            for note in p.note_lines:
                click.echo(f"  {note}")
        else:
            click.echo(f"{p.table}: no key proposed -- {p.evidence}")
        if p.searched:
            click.echo(f"  {p.searched}")
    if not proposals:
        where = (f"schema {', '.join(map(repr, schemas))}" if schemas
                 else "the default schema (--schema S looks in another)")
        click.echo(f"no table in {where}")
    click.echo(f"wrote {path}" if keyed else f"no key to propose: nothing written to {path}")


def rollback_name(cleanup_name: str) -> str:
    """The file name rollback SQL gets beside a cleanup file ``-o`` names; never the cleanup file itself.

    >>> rollback_name("cleanup.sql"), rollback_name("again.sql"), rollback_name("fix"), rollback_name("a.cleanup.sql")
    ('rollback.sql', 'again.rollback.sql', 'fix.rollback.sql', 'a.rollback.sql')
    """
    stem = cleanup_name[:-4] if cleanup_name.endswith(".sql") else cleanup_name
    if "cleanup" in stem:
        return stem.replace("cleanup", "rollback") + ".sql"
    return stem + ".rollback.sql"


def _progress(fmt: str, stream=None, environ=None, refresh: float = 0.5):
    """A per-table progress bar (tqdm) on stderr when a person is watching: a terminal, text output, not CI.

    It shows the table and phase, the statement running and for how long (refreshed while it runs), and
    each table's rows per second once read. Returns the callback api.scan calls, or None; the bar closes
    itself when the last table is done.
    """
    import os
    import threading

    stream = stream if stream is not None else sys.stderr
    environ = environ if environ is not None else os.environ
    if fmt != "text" or not stream.isatty() or environ.get("CI"):
        return None
    from tqdm import tqdm

    from .progress import ScanProgress

    state = ScanProgress()
    bar = None
    stop = threading.Event()

    def redraw() -> None:
        while not stop.wait(refresh):
            if bar is not None:
                bar.set_description_str(state.line(), refresh=True)

    def update(table: str, phase: str, done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="table", file=stream, leave=False, dynamic_ncols=True)
            state.listen()
            threading.Thread(target=redraw, daemon=True, name="dupfinder-progress").start()
        state.start_table(table)
        state.phase = phase
        bar.set_description_str(state.line())
        bar.update(done - bar.n)
        if done >= total:
            stop.set()
            state.stop()
            bar.close()

    update.rows_read = state.rows_read  # api.scan reports each table's rows: the bar shows rows per second
    return update


def _print_summary(doc: dict[str, Any]) -> None:
    from .findings import standby_note
    from .sqltemplates import spelled_out
    from .words import count, percent

    def echo(line: str) -> None:  # a table name may hold a line break: each line stays one line, escaped
        click.echo(spelled_out(line))

    for t in doc["tables"]:
        clusters = t["clusters"]
        head = (f"{t['table']}: {count(len(clusters), 'near-duplicate cluster')} in "
                f"{count(len(t['incidents']), 'incident')}, {count(t['rows_in_clusters'], 'row')}, "
                f"{t['rows_to_delete']:,} to delete, {t['divergent_clusters']:,} divergent; "
                f"{count(t['far_duplicates'], 'far-duplicate key')}; {count(t['rows_scanned'], 'row')} scanned"
                + (f" (only rows where {t['where']})" if t.get("where") else ""))
        echo(head)
        if t.get("far_duplicate_keys"):
            echo(f"  far duplicates: {_far_words(t)}")
        if t.get("extra_copy_totals"):
            from .totals import described

            echo(f"  the copies beyond each survivor hold: {described(t['extra_copy_totals'])}")
        if t["rows_null_key"] or t["rows_null_ts"]:
            echo(f"  {count(t['rows_null_key'], 'row')} with a NULL key (distinct), "
                 f"{t['rows_null_ts']:,} with a NULL timestamp (excluded)")
        if t.get("rows_infinite_ts"):
            echo(f"  {count(t['rows_infinite_ts'], 'row')} with an infinite timestamp (excluded like NULLs)")
        if t["writer_columns"]:
            used = ", ".join(f"{w['role']}={w['column']} ({w['reason']})" for w in t["writer_columns"])
            echo(f"  writer columns: {used}")
        signals = t.get("signals", {})
        named = {w["column"] for w in t["writer_columns"]}
        from_data = [f"--writer {shlex.quote(w['role'] + '=' + w['column'])}"
                     for w in signals.get("writer_roles_from_data", []) if w["column"] not in named]
        if clusters and t["writer_columns"] and from_data:
            # beside the columns found by name: without this line a table's divergent count has no visible cause
            echo(f"  also read from the data, for the attribution only (a difference there keeps a cluster out of "
                 f"cleanup.sql): {' '.join(from_data)} trusts it")
        elif clusters and from_data:
            # the attribution used them, so the explanations name their values; cleanup does not trust them
            echo(f"  writer columns: none given or found by name; read from the data for the attribution only, "
                 f"so their differences keep clusters from cleanup.sql ({' '.join(from_data)} trusts them)")
        elif clusters and not t["writer_columns"]:
            echo("  writer columns: none (give --writer ROLE=COLUMN if the table records who wrote a row)")
        if clusters and t.get("dialect") == "postgresql":
            echo(f"  evidence: xmin {signals.get('xmin')}; commit timestamps {signals.get('commit_timestamps')}; "
                 f"heap blocks {signals.get('heap_blocks')}")
        verdicts = [c["evidence"]["job_runs"]["verdict"] for c in clusters if "job_runs" in c.get("evidence", {})]
        if verdicts:
            counts = {v: verdicts.count(v) for v in ("two_runs", "one_run", "overlapping", "none")}
            echo(f"  job runs (--runs): copies in different runs {counts['two_runs']}, in one run "
                 f"{counts['one_run']}, runs active together {counts['overlapping']}, outside any run "
                 f"{counts['none']} (counted in clusters)")
        if signals.get("timestamp_precision_warning"):
            echo(f"  warning: {signals['timestamp_precision_warning']}")
        for incident in t["incidents"][:10]:
            sure = percent(incident.get("confidence", 0))
            if incident["mechanism"] == "unknown":  # its confidence is that the truth is in the shortlist
                sure = f"{sure} that it is one of the shortlist"
            echo(f"  {incident['id']} {incident['mechanism']} ({sure}): {incident['summary']}")
        if len(t["incidents"]) > 10:
            echo(f"  ... and {count(len(t['incidents']) - 10, 'more incident')} in findings.json")
        for note in t.get("notes", []):
            echo(f"  note: {note}")
    total = sum(len(t["clusters"]) for t in doc["tables"])
    standby = standby_note(doc)
    if standby:
        echo(standby)
    far = sum(t["far_duplicates"] for t in doc["tables"])
    verdict = "clean" if not far else f"no near-duplicate clusters, but {count(far, 'far-duplicate key')}"
    echo(f"{verdict if not total else count(total, 'cluster') + ' found' + _where(doc['tables'])} ({doc['database']})")


def _far_words(table: dict[str, Any]) -> str:
    """The far duplicates' gaps beside the window, and the window that would cluster them: a redelivery 30-37 s
    later under the default 2 s window was 8 far-duplicate keys and a last line saying "clean", with nothing
    to say that the keys were written twice half a minute apart or that a longer --window finds them (not
    said past an hour: a key written again the next day is the job's next run, no window to widen to).

    >>> said = _far_words({"far_duplicates": 2, "window_seconds": 2.0, "far_duplicate_keys": [
    ...     {"max_gap_seconds": 30.01}, {"max_gap_seconds": 37.02}]})
    >>> said.startswith("2 keys written again 30.0 s to 37.0 s later (the largest gap of each listed key), past")
    True
    >>> said.endswith("neither clustered nor attributed; --window 38s or more makes each listed key one cluster")
    True
    >>> _far_words({"far_duplicates": 8, "window_seconds": 2.0, "far_duplicate_keys": [
    ...     {"max_gap_seconds": 30.01}, {"max_gap_seconds": 37.02}]}).split("attributed; ")[1][:96]
    '--window 38s or more makes each of the 2 listed keys one cluster (the first by time; the other 6'
    """
    from .durations import format_seconds
    from .words import count

    gaps = [k["max_gap_seconds"] for k in table["far_duplicate_keys"]]
    low, high = format_seconds(min(gaps)), format_seconds(max(gaps))
    spread = low if low == high else f"{low} to {high}"
    said = (f"{count(table['far_duplicates'], 'key')} written again {spread} later (the largest gap of each listed "
            f"key), past the {format_seconds(table['window_seconds'])} window, so neither clustered nor attributed")
    if max(gaps) > 3600:  # written again hours or days later: a job's next run, no window to widen to
        return said
    if table["far_duplicates"] <= len(gaps):
        return f"{said}; --window {math.ceil(max(gaps))}s or more makes each listed key one cluster"
    # only the first keys (by time) are listed: 5,680 far keys of a three-week double run listed 1,000 2.0-3.4 s
    # apart, and the window said for them left 42 of the others (up to 4.4 s apart) far (stranger24)
    return (f"{said}; --window {math.ceil(max(gaps))}s or more makes each of the {len(gaps):,} listed keys one "
            f"cluster (the first by time; the other {table['far_duplicates'] - len(gaps):,} may be further apart: "
            f"scan again to see)")


def _where(tables: list[dict[str, Any]], shown: int = 20) -> str:
    """Which tables hold the clusters, for the last line: among 750 tenant tables the six hit ones were
    two lines each in 1,500, and that line said only how many clusters.

    >>> _where([{"table": "a", "clusters": [1, 2]}, {"table": "b", "clusters": []}])
    ' in 1 of 2 tables: a (2)'
    """
    from .words import count

    hit = [f"{t['table']} ({len(t['clusters']):,})" for t in tables if t["clusters"]]
    more = f", and {len(hit) - shown:,} more" if len(hit) > shown else ""
    return f" in {len(hit):,} of {count(len(tables), 'table')}: {', '.join(hit[:shown])}{more}"


if __name__ == "__main__":  # python -m dupfinder.cli, the console script's own entry point
    main()
