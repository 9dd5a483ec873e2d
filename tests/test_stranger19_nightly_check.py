"""stranger19: a nightly payouts job, a post-deploy check set up as docs/ci.md says, on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import sqlalchemy as sa
from click.testing import CliRunner

from dupfinder.cli import main

JOB = """
import datetime as dt, sys, sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
with engine.begin() as conn:
    for m in range(1, 6):
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # created_at: naive, in UTC
        conn.execute(sa.text("INSERT INTO payouts (merchant_id, payout_date, created_at) "
                             "VALUES (:m, '2026-11-02', :t)"), {"m": m, "t": now})
"""


def test_a_quiet_window_with_the_zone_given_draws_no_timezone_warning(pg_url, monkeypatch):
    """The nightly job (a real process) wrote its UTC rows; the check runs later with `--since` and, as docs/ci.md
    asks for a column without time zone, `--timezone UTC`. Nothing was written since the bound: an ordinary quiet
    window, the check passes. It used to warn on stderr and in the summary, every such night, to "scan with
    --timezone ZONE" although the zone was given; without --timezone the warning stays."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE payouts (id bigserial PRIMARY KEY, merchant_id int NOT NULL, "
                             "payout_date date NOT NULL, created_at timestamp without time zone NOT NULL)")
    engine.dispose()
    subprocess.run([sys.executable, "-c", JOB, pg_url], check=True)
    time.sleep(1.5)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    args = ["scan", pg_url, "--table", "payouts", "--key", "merchant_id", "--key", "payout_date",
            "--ts", "created_at", "--window", "100ms", "--since", "1s", "--format", "summary"]
    try:
        given = CliRunner().invoke(main, [*args, "--timezone", "UTC"])
        unknown = CliRunner().invoke(main, args)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert given.exit_code == 0 and unknown.exit_code == 0, (given.output, unknown.output)
    table = json.loads(given.stdout)["tables"][0]
    assert table["rows_scanned"] == 0
    assert "warning" not in given.stderr, given.stderr
    assert not table.get("warnings"), table
    assert "scan with --timezone ZONE" in unknown.stderr  # the zone not given: the warning stays


RUN = """
import datetime as dt, sys, time, sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
time.sleep(float(sys.argv[2]))
with engine.connect() as conn:
    for m in range(1, 41):  # the nightly payouts job: one row per merchant, each its own transaction
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        conn.execute(sa.text("INSERT INTO payouts (merchant_id, payout_date, hostname, created_at) "
                             "VALUES (:m, '2026-11-04', 'host-a', :t)"), {"m": m, "t": now})
        conn.commit()
        time.sleep(0.01)
"""


def test_two_launchers_on_one_host_read_as_a_double_run(pg_url):
    """Two launchers on one host (a cron entry and a systemd timer) ran the job 100 ms apart, a host column
    recording host-a for both. It was read as retry or worker_race at 0.82-0.92 ("make the claim atomic"): the
    span's coverage counted only keys another writer wrote, 0% when one host wrote both runs, so the whole batch
    written twice was not seen. Now duplicate_run, or unknown with it in the shortlist."""
    from sqlrun import scan_doc

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE payouts (id bigserial PRIMARY KEY, merchant_id int NOT NULL, "
                             "payout_date date NOT NULL, hostname text, created_at timestamp without time zone)")
    engine.dispose()
    launchers = [subprocess.Popen([sys.executable, "-c", RUN, pg_url, delay]) for delay in ("0", "0.1")]
    assert [p.wait() for p in launchers] == [0, 0]
    table = scan_doc(pg_url, table="payouts", keys=["merchant_id", "payout_date"], ts="created_at",
                     writers={"host": "hostname"})["tables"][0]
    assert len(table["clusters"]) == 40
    named = [c for c in table["clusters"] if c["mechanism"] == "duplicate_run"
             or (c["mechanism"] == "unknown" and "duplicate_run" in {x["mechanism"] for x in c.get("candidates", [])})]
    assert len(named) == 40, sorted({(c["mechanism"], c["confidence"]) for c in table["clusters"]})
