"""The benchmark block's heading (docs/benchmarks.md): the command shown is the command that ran."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import peers  # noqa: E402


def test_heading_shows_the_command_run_and_the_shared_note_once():
    note = "The machine (2 cores) was shared with other agents' test runs (load about 4-5); ratios compare runs."
    argv = ["--rows", "1000000", "5000000", "--runs", "3", "--shared", note]
    text = peers.heading(3, argv, "2026-11-23 09:29 UTC", "2 cores")
    assert text.count("other agents") == 1
    command = text.split("`")[1]
    assert shlex.split(command) == ["python", "benchmarks/peers.py", *argv]


def test_dupfinder_processes_of_the_benchmark_read_bytecode_compiled_once(tmp_path):
    """Under PYTHONDONTWRITEBYTECODE=1 (this machine's setting) a checkout's process compiled every dupfinder
    module at each start; after compile_once the scans the benchmark starts import them from bytecode."""
    import os
    import subprocess

    code = ("import sys, os; sys.path.insert(0, 'benchmarks'); import peers; from pathlib import Path; "
            f"peers.compile_once(Path({str(tmp_path)!r})); "
            "import subprocess; print(subprocess.run([sys.executable, '-c', 'import sys, dupfinder.api; "
            "print(sys.flags.dont_write_bytecode, sys.pycache_prefix, dupfinder.api.__cached__)'], "
            "capture_output=True, text=True).stdout)")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr
    compiled = {p.name.split(".")[0] for p in (tmp_path / "pycache").rglob("dupfinder/**/*.pyc")}
    assert {"api", "detect", "cluster", "written", "model"} <= compiled
    flag, prefix, cached = done.stdout.split()  # a process the benchmark starts: reads (and may write) bytecode
    assert flag == "0" and prefix == str(tmp_path / "pycache") and Path(cached).is_file()


def test_stage_times_leave_out_the_stages_timed_inside_them():
    """attribute_table runs the coverage statement: the README's 2026-11-24 block showed that statement's
    1.89 s both as the coverage stage and inside "attribution" (2.19 s, 0.30 s of it Python)."""
    import time

    timings: list[tuple[float, str]] = []
    wrap = peers.exclusive_timer(timings)
    statement = wrap(lambda: time.sleep(0.2), "statement")
    attribution = wrap(lambda: (time.sleep(0.05), statement(), statement()), "attribution")
    attribution()
    took = dict((label, s) for s, label in timings)
    assert [label for _, label in timings] == ["statement", "statement", "attribution"]
    assert 0.05 <= took["attribution"] < 0.15
    assert all(s >= 0.2 for s, label in timings if label == "statement")
