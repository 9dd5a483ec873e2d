"""Start-up of a post-deploy check: what a scan process imports, measured in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import events_table

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(*args: str) -> tuple[int, set[str], str]:
    """Run ``python -X importtime -m dupfinder ARGS`` from the worktree; its exit code, every module it
    imported (from the import-time log, which lists each first import) and its stderr."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dupfinder", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return done.returncode, modules, done.stderr


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
