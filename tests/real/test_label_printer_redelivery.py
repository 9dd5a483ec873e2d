"""A label_printer consumer's redeliveries, captured from real processes and replayed: the job log names one
message id for both copies, and the attribution must not read that as two hosts running the job.

Captured by stranger16 (2026-11-24): three kombu consumers (hosts lp-01..03, each restarted by a shell loop
when it died) read a redis queue with ``visibility_timeout=30``; each wrote its label row, then called a
printer HTTP API with a 2 s timeout, and on the timeout (the printer hung 5 s on every 20th shipment, once)
logged the run and died without acking. Redis redelivered the message 30-37 s later, to a consumer on the
same host or another. ``label_printer/print_labels.csv`` holds every row the consumers wrote (8 shipments
twice, all redeliveries), ``runs_lp-0N.jsonl`` each host's log: one line per message handled, ``run`` the
message id the producer gave it, so both copies of a redelivered shipment name one run id.

Fails now: ``dupfinder/runs.py`` finds ``same_run_id`` and says "a redelivery or retry of the same run", but
``attribution/jobruns.py`` reads only "two runs" and the runs' hosts, so a redelivery to another host counts
for multi_host (shipment 5027: multi_host at 0.82, recommending to disable the job on one host), and without
host/pid one is `unknown` between multi_host and deploy_overlap, the truth (retry) not among them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from dupfinder.cli import main

DATA = Path(__file__).parent / "label_printer"
SCHEMA = """CREATE TABLE print_labels (id bigint PRIMARY KEY, shipment_id integer NOT NULL, carrier text NOT NULL,
created_at timestamptz NOT NULL{writers})"""


def _load(url: str, writers: bool) -> None:
    """The captured rows, one transaction each as the consumers wrote them (autocommit)."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(SCHEMA.format(writers=", host text NOT NULL, pid integer NOT NULL" if writers else ""))
        with (DATA / "print_labels.csv").open() as f:
            for row in csv.DictReader(f):
                cols = ["id", "shipment_id", "carrier", "created_at"] + (["host", "pid"] if writers else [])
                conn.execute(f"INSERT INTO print_labels ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                             [row[c] for c in cols])


def _scan(url: str, writers: bool) -> list[dict]:
    args = ["scan", url, "--table", "print_labels", "--key", "shipment_id", "--ts", "created_at", "--window", "60s",
            "--format", "json", "--no-infer-writers"]
    args += ["--writer", "host=host", "--writer", "process=pid"] if writers else []
    for log in sorted(DATA.glob("runs_lp-*.jsonl")):
        args += ["--runs", str(log)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    clusters = json.loads(result.output)["tables"][0]["clusters"]
    assert sorted(c["key"]["shipment_id"] for c in clusters) == [5007, 5027, 5047, 5067, 5087, 5107, 5127, 5147]
    return clusters


@pytest.mark.parametrize("writers", [True, False], ids=["host_pid", "no_writer_columns"])
def test_a_redelivered_message_id_is_never_answered_as_two_hosts(pg_url, writers):
    _load(pg_url, writers)
    redelivered = [c for c in _scan(pg_url, writers) if c["evidence"]["job_runs"]["same_run_id"]]
    assert len(redelivered) >= 6  # the log names one message id for both copies
    for cluster in redelivered:
        shortlist = [c["mechanism"] for c in cluster.get("candidates") or []] or [cluster["mechanism"]]
        assert "retry" in shortlist, (cluster["key"], cluster["mechanism"], cluster["explanation"])
