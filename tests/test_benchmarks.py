"""The benchmark's README heading: the command shown is the command that ran."""

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
