"""Start-up of a post-deploy check: what a scan process imports, measured in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import events_table

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(*args: str, env: dict[str, str] | None = None,
                     entry: str = "dupfinder") -> tuple[int, set[str], str]:
    """Run ``python -X importtime -m dupfinder ARGS`` from the worktree; its exit code, every module it
    imported (from the import-time log, which lists each first import) and its stderr (which also holds
    the process's stdout, after the log)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", entry, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return done.returncode, modules, done.stderr + done.stdout


HEAVY = ("pandas", "numpy", "pyarrow", "dupfinder.report", "dupfinder.charts", "dupfinder.remediate")


@pytest.mark.parametrize("found", [False, True], ids=["clean", "clusters"])
def test_a_scan_imports_no_pandas_or_numpy(sqlite_url, found):
    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.3 if found else 30.0), (3, 8, 0.0)])
    code, modules, log = imported_modules("scan", sqlite_url, "--table", "events", "--key", "account",
                                          "--ts", "ts", "--format", "json")
    assert code == (1 if found else 0), log[-2000:]
    assert "dupfinder.detect" in modules and "sqlalchemy" in modules  # the log is read correctly
    assert not [m for m in modules if m.split(".")[0] in ("pandas", "numpy", "pyarrow")]
    assert not [m for m in modules if m in HEAVY]  # nothing written: the report and SQL writers stay unloaded


def test_writing_the_outputs_needs_no_pandas_either(sqlite_url, tmp_path):
    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    code, modules, log = imported_modules("scan", sqlite_url, "--table", "events", "--key", "account",
                                          "--ts", "ts", "--out", str(tmp_path / "out"))
    assert code == 1, log[-2000:]
    assert "dupfinder.report" in modules and (tmp_path / "out" / "report.html").exists()
    assert not [m for m in modules if m.split(".")[0] in ("pandas", "numpy", "pyarrow")]


def test_compiled_templates_are_kept_between_processes(sqlite_url, tmp_path):
    """The second process loads the templates the first compiled (compiling them cost 0.1-0.3 s a run)."""
    import os

    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "dupfinder", "scan", sqlite_url, "--table", "events", "--key", "account", "--ts",
            "ts", "--out", str(tmp_path / "out")]
    first = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 1, first.stderr[-2000:]
    cached = sorted((tmp_path / "cache" / "dupfinder").glob("templates-*/__jinja2_*.cache"))
    assert len(cached) >= 5  # the detection statements, the SQL files and the report's templates
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    second = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 1, second.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps  # read, not written again
    unwritable = {**os.environ, "XDG_CACHE_HOME": "/proc/no-such-dir"}
    third = subprocess.run(args, cwd=ROOT, env=unwritable, capture_output=True, text=True, timeout=300)
    assert third.returncode == 1, third.stderr[-2000:]  # no cache folder: compiled in memory as before


def test_templates_compiled_under_other_environment_options_are_not_run(tmp_path, monkeypatch):
    """Compiled code holds the environment's options (finalize, autoescape): when the module that sets them up
    changes, code compiled before it must not run. (The report's spelled-out line breaks went unseen under
    templates compiled before ``finalize`` was added, the version number unchanged.)"""
    import jinja2

    from dupfinder import sqltemplates

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sqltemplates.cache_folder.cache_clear()
    (tmp_path / "t.txt").write_text("{{ x }}")
    configuring = tmp_path / "configuring.py"

    def render(finalize) -> str:
        sqltemplates.template_cache.cache_clear()
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path)), finalize=finalize,
                                 bytecode_cache=sqltemplates.template_cache(str(configuring)))
        return env.get_template("t.txt").render(x="a")

    try:
        configuring.write_text("finalize = None")
        assert render(None) == "a"
        configuring.write_text("finalize = str.upper")  # the options' module edited: another size, another time
        assert render(str.upper) == "A"
    finally:
        sqltemplates.cache_folder.cache_clear()
        sqltemplates.template_cache.cache_clear()


# What a post-deploy check that finds nothing must not import, once the statements it runs are in the
# rendered-statement cache: what writes or explains findings, the template engine, pandas and what only other
# commands or options need (a TOML config, job-run logs, scoring, discovery, the progress bar).
CLEAN_FORBIDDEN = (*HEAVY, "jinja2", "dupfinder.runs", "dupfinder.evaluate", "dupfinder.discover",
                   "dupfinder.alembic_revision", "dupfinder.progress", "dupfinder.sample_data", "tqdm", "jsonschema",
                   "tomllib", "sqlalchemy.orm")


def forbidden(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in CLEAN_FORBIDDEN or m.split(".")[0] in ("pandas", "numpy", "pyarrow",
                                                                                     "jinja2", "tqdm", "jsonschema")
                  or m.startswith("sqlalchemy.orm"))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "duckdb"])
def test_a_clean_check_renders_nothing_the_second_time(request, tmp_path, engine):
    """The first check renders its statements with jinja2 and keeps them; the next imports no jinja2 (nor
    anything in CLEAN_FORBIDDEN), runs the same statements read back and prints the same findings."""
    import json
    import os

    url = request.getfixturevalue("pg_url" if engine == "postgresql" else f"{engine}_url")
    events_table(url, [(1, 7, 0.0), (2, 7, 30.0), (3, 8, 0.0)])  # key 7 written again 30 s later: far, not near
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ("scan", url, "--table", "events", "--key", "account", "--ts", "ts", "--format", "json")
    first_code, first_modules, first = imported_modules(*args, env=env)
    assert first_code == 0, first[-2000:]
    assert "jinja2" in first_modules  # nothing kept yet: rendered, and so the test can tell the two apart
    kept = sorted((tmp_path / "cache" / "dupfinder").glob("sql-*/*.sql"))
    assert len(kept) >= 2  # the statistics and the detection statements at least
    code, modules, second = imported_modules(*args, env=env)
    assert code == 0, second[-2000:]
    assert "dupfinder.detect" in modules and "sqlalchemy" in modules and "click" in modules  # the log is read
    assert forbidden(modules) == [], forbidden(modules)
    assert sorted((tmp_path / "cache" / "dupfinder").glob("sql-*/*.sql")) == kept  # read back, none added

    def findings(log: str) -> dict:
        doc = json.loads(log[log.index("\n{") + 1:])
        doc.pop("scanned_at")
        for table in doc["tables"]:  # the only other field that differs from run to run
            table.pop("scan_seconds")
        return doc

    assert findings(second) == findings(first)
    assert findings(first)["tables"][0]["far_duplicates"] == 1  # the statements ran for real: the far key is seen


def test_python_m_dupfinder_cli_runs_the_command_line(sqlite_url, tmp_path):
    """``python -m dupfinder.cli`` (the console script's module) runs the CLI instead of exiting silently."""
    import os

    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code, _modules, log = imported_modules("scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts",
                                           env=env, entry="dupfinder.cli")
    assert code == 1, log[-2000:]
    assert "1 cluster found" in log
    version = subprocess.run([sys.executable, "-m", "dupfinder.cli", "--version"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert version.returncode == 0 and "dupfinder, version" in version.stdout


def test_a_kept_statement_is_named_by_everything_that_shapes_it(tmp_path, monkeypatch):
    """A kept statement is read back only for the same template sources, dialect, server version and context;
    a context that is not plain data, or a dialect whose quoting depends on the live connection, is never kept;
    a DuckDB statement is named by DuckDB's version too."""
    import os

    from sqlalchemy.dialects import postgresql, sqlite

    from dupfinder import sqltemplates

    pg = postgresql.dialect()
    context = {"table": '"events"', "keys": ['"account"'], "since": False, "far_limit": 50}
    key = sqltemplates.rendered_key("table_stats.sql.j2", pg, context)
    assert key == sqltemplates.rendered_key("table_stats.sql.j2", postgresql.dialect(), dict(context))
    others = [
        sqltemplates.rendered_key("detect_clusters.sql.j2", pg, context),
        sqltemplates.rendered_key("table_stats.sql.j2", sqlite.dialect(), context),
        sqltemplates.rendered_key("table_stats.sql.j2", pg, {**context, "since": True}),
        sqltemplates.rendered_key("table_stats.sql.j2", pg, {**context, "keys": ['"account"', '"day"']}),
    ]
    newer = postgresql.dialect()
    newer.server_version_info = (16, 2)
    others.append(sqltemplates.rendered_key("table_stats.sql.j2", newer, context))
    assert None not in others and len({key, *others}) == len(others) + 1
    from datetime import datetime

    assert sqltemplates.rendered_key("table_stats.sql.j2", pg, {**context, "at": datetime(2026, 1, 1)}) is None
    hive = sqlite.dialect()
    hive.name = "hive"  # a dialect whose quoting is fixed up on the live dialect (connect.fix_quoting)
    assert sqltemplates.rendered_key("table_stats.sql.j2", hive, context) is None

    import duckdb
    from duckdb_engine import Dialect

    duck = Dialect()
    duck_key = sqltemplates.rendered_key("table_stats.sql.j2", duck, context)
    assert duck_key is not None and duck_key not in (key, *others)
    monkeypatch.setattr(duckdb, "__version__", "0.0.1")  # another DuckDB reserves other words
    assert sqltemplates.rendered_key("table_stats.sql.j2", duck, context) not in (duck_key, None)

    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "a.sql.j2").write_text("SELECT 1")
    (folder / "_part.sql.j2").write_text("-- included")
    before = sqltemplates.sources_fingerprint.__wrapped__(str(folder))
    (folder / "_part.sql.j2").write_text("-- included, edited")  # an included template changes size
    edited = sqltemplates.sources_fingerprint.__wrapped__(str(folder))
    os.utime(folder / "a.sql.j2", ns=(1, 1))  # or only its modification time
    touched = sqltemplates.sources_fingerprint.__wrapped__(str(folder))
    assert len({before, edited, touched}) == 3


def _inspector_shape(url: str, table: str, schema: str | None) -> tuple:
    """What the inspector says (the path the one catalog statement replaces): resolve_table's answer, the
    primary key and the unique constraints."""
    import sqlalchemy as sa

    from dupfinder.connect import resolve_table

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            where, name = resolve_table(conn, table)
            inspector = sa.inspect(conn)
            pk = tuple(inspector.get_pk_constraint(name, schema=where).get("constrained_columns") or ())
            uniques = tuple(tuple(u["column_names"]) for u in inspector.get_unique_constraints(name, schema=where))
            return where, name, pk, uniques
    finally:
        engine.dispose()


def _catalog_shape(url: str, table: str) -> tuple | None:
    import sqlalchemy as sa

    from dupfinder.connect import _postgresql_shape

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = _postgresql_shape(conn, table)
            return found and found[:4]  # (the fifth, the relation's kind, the inspector does not give)
    finally:
        engine.dispose()


def test_the_postgresql_catalog_statement_finds_what_the_inspector_finds(pg_url):
    """A scan on PostgreSQL reads the table's existence, primary key and unique constraints in one catalog
    statement (the inspector's listing and constraint queries cost ~15 ms of compilation per process): it
    must find the same table the inspector would, with the same keys, for hostile names, schemas, views,
    a table the search path shadows, and nothing for what the inspector does not list either."""
    import sqlalchemy as sa
    from hostile import ddl, names
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from sqlalchemy.dialects import postgresql

    from dupfinder.sqltemplates import ident

    ddl(pg_url,
        'CREATE SCHEMA "other"', 'CREATE SCHEMA "hidden"',
        'CREATE TABLE "plain" (id int PRIMARY KEY, a int, b text, c int, UNIQUE (b, a), '
        'CONSTRAINT "a_first" UNIQUE (c))',
        'CREATE TABLE "other"."plain" (x int, y int, PRIMARY KEY (y, x))',  # same name, another schema
        'CREATE TABLE "other"."only_there" (id int PRIMARY KEY)',
        'CREATE TABLE "hidden"."dot.ted" (id int)',  # a dot in the name, no primary key
        'CREATE TABLE "dot.ted" (k int PRIMARY KEY)',
        'CREATE VIEW "a_view" AS SELECT id, a FROM "plain"',
        'CREATE MATERIALIZED VIEW "a_matview" AS SELECT id FROM "plain"',
        'CREATE TABLE "parted" (id int, day date, PRIMARY KEY (id, day)) PARTITION BY RANGE (day)')
    for table in ("plain", "other.plain", "other.only_there", "hidden.dot.ted", "dot.ted", "a_view", "parted",
                  "public.plain"):
        assert _catalog_shape(pg_url, table) == _inspector_shape(pg_url, table, None), table
    assert _catalog_shape(pg_url, "other.plain")[2] == ("y", "x")  # key order, not column order
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:  # a view has no ctid or xmin: the scan must know it is one
        from dupfinder.connect import _postgresql_shape

        assert _postgresql_shape(conn, "a_view")[4] == "v" and _postgresql_shape(conn, "plain")[4] == "r"
    engine.dispose()
    assert _catalog_shape(pg_url, "plain")[3] == (("c",), ("b", "a"))  # by constraint name, key order
    for missing in ("only_there", "a_matview", "nope", "other.nope", "pg_class"):
        assert _catalog_shape(pg_url, missing) is None, missing  # resolve_table then names what is near
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET search_path = other, public")  # a table the search path shadows
        from dupfinder.connect import _postgresql_shape, resolve_table

        assert _postgresql_shape(conn, "plain")[:3] == (None, "plain", ("y", "x"))
        assert resolve_table(conn, "only_there") == (None, "only_there") == _postgresql_shape(conn, "only_there")[:2]
    engine.dispose()

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(names("postgresql"), min_size=3, max_size=3, unique=True))
    def hostile(picked):
        table, first, second = picked
        quoted = [ident(postgresql.dialect(), n) for n in picked]
        ddl(pg_url, f"DROP TABLE IF EXISTS {quoted[0]}",
            f"CREATE TABLE {quoted[0]} ({quoted[1]} int, {quoted[2]} text, PRIMARY KEY ({quoted[2]}, {quoted[1]}), "
            f"UNIQUE ({quoted[1]}))")
        found = _catalog_shape(pg_url, table)
        assert found == _inspector_shape(pg_url, table, None)
        assert found[2] == (second, first) and found[3] == ((first,),)

    hostile()


GC_PROBE = """
import atexit, gc, runpy, sys
during = []  # collections that walked start-up objects: after SQLAlchemy arrived, before anything was frozen
gc.callbacks.append(lambda phase, info: phase == "start" and "sqlalchemy" in sys.modules
                    and not gc.get_freeze_count() and during.append(info["generation"]))
frozen = [0]  # how many objects were frozen when the scan unfroze them at exit (for the last collection)
unfreeze = gc.unfreeze
gc.unfreeze = lambda: (frozen.append(gc.get_freeze_count()), unfreeze())
atexit.register(lambda: print(f"GC during={len(during)} frozen={max(frozen[-1], gc.get_freeze_count())} "
                              f"enabled={gc.isenabled()}", file=sys.stderr))
sys.argv = ["dupfinder", *sys.argv[1:]]
runpy.run_module("dupfinder", run_name="__main__")
"""


@pytest.mark.parametrize("found", [False, True], ids=["clean", "clusters"])
def test_the_collector_waits_until_the_scan_has_connected(db_url, tmp_path, found):
    """A scan process pauses the cyclic garbage collector while SQLAlchemy, the driver and the pipeline are
    imported (it walked their objects some 130 times, 25-90 ms of a clean check), then freezes them and
    collects as usual: no collection walks the start-up objects, and the collector is on again at the end
    (with --out and clusters too, where the scan's own work follows)."""
    import os

    events_table(db_url, [(1, 7, 0.0), (2, 7, 0.3 if found else 30.0), (3, 8, 0.0)])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["scan", db_url, "--table", "events", "--key", "account", "--ts", "ts",
            *(["--out", str(tmp_path / "out")] if found else [])]
    done = subprocess.run([sys.executable, "-c", GC_PROBE, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == (1 if found else 0), done.stderr[-2000:]
    line = next(x for x in done.stderr.splitlines() if x.startswith("GC "))
    fields = dict(part.split("=") for part in line[3:].split())
    assert fields["during"] == "0" and int(fields["frozen"]) > 10_000 and fields["enabled"] == "True", line
    assert (tmp_path / "out" / "report.html").exists() == found


def test_a_caller_s_process_keeps_its_collector(sqlite_url):
    """Run inside another process (CliRunner here, as tests and library callers do), a scan leaves the
    collector as it found it: nothing paused, nothing frozen."""
    import gc

    from click.testing import CliRunner

    from dupfinder.cli import main

    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 30.0)])
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts"])
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_a_cache_folder_others_may_write_to_is_not_used(sqlite_url, tmp_path):
    """What the cache folder holds is run (statements, compiled templates): a folder that other users may write
    to is left alone, and every run renders its statements (so imports jinja2) as if there were no cache."""
    import os

    from dupfinder import __version__

    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 30.0)])
    shared = tmp_path / "cache" / "dupfinder" / f"sql-{__version__}"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ("scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts")
    for _ in range(2):
        code, modules, log = imported_modules(*args, env=env)
        assert code == 0, log[-2000:]
        assert "jinja2" in modules
    assert list(shared.iterdir()) == []
    private = sorted((tmp_path / "cache" / "dupfinder").glob("templates-*"))
    assert private and all(p.stat().st_mode & 0o777 == 0o700 for p in private)  # made private to this user


TEARDOWN_PROBE = """
import atexit, os, runpy, sys

class Teardown:  # held by sys alone: freed when the interpreter's teardown empties sys, the last module
    def __del__(self, write=os.write):
        write(2, b"teardown ran\\n")

sys.dupfinder_teardown_probe = Teardown()
atexit.register(lambda: os.write(2, b"atexit ran\\n"))
sys.argv = ["dupfinder", *sys.argv[1:]]
runpy.run_module("dupfinder", run_name="__main__")
"""


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
@pytest.mark.parametrize("found", [False, True], ids=["clean", "clusters"])
def test_a_scan_process_ends_without_the_interpreter_s_teardown(request, tmp_path, engine, found):
    """Once the scan has printed its answer, the process ends as sys.exit would (same exit code, everything
    printed, the atexit functions run) but without the interpreter's teardown, which only frees memory: a last
    collection over every object and DuckDB's databases destroyed, about 0.2 s of CPU of a DuckDB scan."""
    import json
    import os

    url = request.getfixturevalue(f"{engine}_url")
    events_table(url, [(1, 7, 0.0), (2, 7, 0.3 if found else 30.0), (3, 8, 0.0)])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", TEARDOWN_PROBE, "scan", url, "--table", "events", "--key", "account",
                           "--ts", "ts", "--format", "json"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == (1 if found else 0), done.stderr[-2000:]
    assert len(json.loads(done.stdout)["tables"][0]["clusters"]) == found  # all of it flushed before the end
    assert done.stderr == "atexit ran\n"  # no teardown, and nothing else (DuckDB's "leaked" lines neither)


def test_an_error_ends_the_process_the_same_way(sqlite_url, tmp_path):
    """A scan that fails once connected keeps its one-line error and exit code on the quick way out."""
    import os

    events_table(sqlite_url, [(1, 7, 0.0)])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", TEARDOWN_PROBE, "scan", sqlite_url, "--table", "events", "--key",
                           "nope", "--ts", "ts"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("Error: ") and done.stderr.endswith("atexit ran\n"), done.stderr
    assert "teardown ran" not in done.stderr


OPEN_PROBE = """
import atexit, importlib.metadata, runpy, sys
import duckdb, duckdb_engine  # imported first: duckdb-engine's import opens an in-memory database of its own

opened, scanned = [], []
connect, entry_points = duckdb.connect, importlib.metadata.entry_points
duckdb.connect = lambda *args, **kwargs: (opened.append(str(args[0] if args else kwargs.get("database"))),
                                          connect(*args, **kwargs))[1]
importlib.metadata.entry_points = lambda *args, **kwargs: (scanned.append(1), entry_points(*args, **kwargs))[1]
atexit.register(lambda: print(f"opened={opened} entry_points={len(scanned)}", file=sys.stderr))
sys.argv = ["dupfinder", *sys.argv[1:]]
runpy.run_module("dupfinder", run_name="__main__")
"""


@pytest.mark.parametrize("options", ["", "?threads=1"], ids=["plain", "with options"])
def test_a_duckdb_scan_opens_its_file_and_no_other_database(duckdb_url, tmp_path, options):
    """A DuckDB scan opens its file read-only and nothing else: duckdb-engine's connect step opened an in-memory
    database first to list DuckDB's settings, and SQLAlchemy read every installed package's entry points to find
    the dialect (0.05-0.08 s of CPU together). A URL with options still goes through duckdb-engine's step, which
    reads them."""
    import os

    events_table(duckdb_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", OPEN_PROBE, "scan", duckdb_url + options, "--table", "events",
                           "--key", "account", "--ts", "ts", "--format", "summary"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert '"clusters": 1' in done.stdout
    line = next(x for x in done.stderr.splitlines() if x.startswith("opened="))
    database = duckdb_url.removeprefix("duckdb:///")
    if options:
        assert line == f"opened=[':memory:', {database!r}] entry_points=0", line
    else:
        assert line == f"opened=[{database!r}] entry_points=0", line
