"""A nightly settlement job started twice, read back through its plain log lines (--runs --runs-pattern) on a
real MariaDB: real OS processes write a mixed-case table (DECIMAL amounts, a DATETIME(6) of local wall time, a
status, NULLs) with PyMySQL and log as Python's logging does by default (local time, a comma before the
milliseconds, no offset). Two causes, as an on-call engineer meets them: a cron.d entry beside a systemd
timer on one host, and a standby host whose cron was never disabled (stranger11's review)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import sqlalchemy as sa
from click.testing import CliRunner

from dupfinder.cli import main

_SETTLE = r"""
import logging, sys, time
from datetime import datetime
from decimal import Decimal
import sqlalchemy as sa
url, host, log, fire_at, crash_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
time.sleep(max(0.0, fire_at - time.time()))  # the launcher's firing time
handler = logging.FileHandler(log)
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s settle[%(process)d] %(message)s"))
logger = logging.getLogger("settle"); logger.addHandler(handler); logger.setLevel(logging.INFO)
logger.info("started on host %s", host)
engine = sa.create_engine(url)
with engine.connect() as conn:
    for n in range(30):
        if n == crash_at:
            sys.exit(0)  # killed mid-run: no end line in the log
        fee = None if n % 7 == 0 else Decimal(n) * Decimal("0.0125")
        conn.execute(sa.text(
            "INSERT INTO `Settlement_Batches` (merchant_id, settlement_date, gross_amount, fee_amount, currency,"
            " status, bank_reference, created_at) VALUES (:m, '2026-11-19', :g, :f, 'EUR', 'PENDING', :r, :at)"),
            {"m": f"M{1000 + n}", "g": Decimal(n * 1000 + 17) / 100, "f": fee,
             "r": None if n % 4 == 0 else f"SEPA-{n}", "at": datetime.now()})
        conn.commit()
        time.sleep(0.01)
engine.dispose()
time.sleep(0.3)  # the job's closing steps
logger.info("finished on host %s", host)
"""

PATTERN = (r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ settle\[(?P<process>\d+)\] "
           r"(?P<phase>.*? on host (?P<host>\S+))$")


def _settle_twice(url: str, folder, hosts: tuple[str, str], delay: float, crash_at: tuple[int, int] = (-1, -1)):
    """Start the job twice as two real processes, ``delay`` seconds apart, each logging to its host's file."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE `Settlement_Batches` (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
            "merchant_id VARCHAR(20) NOT NULL, settlement_date DATE NOT NULL, gross_amount DECIMAL(14,2) NOT NULL, "
            "fee_amount DECIMAL(10,4) NULL, currency CHAR(3) NOT NULL, status VARCHAR(16) NOT NULL, "
            "bank_reference VARCHAR(40) NULL, created_at DATETIME(6) NOT NULL)")
    engine.dispose()
    fire_at = time.time() + 4.0  # both started and imported before it, on a loaded machine too (1.5 s was not)
    env = {"TZ": "Europe/Berlin", "PATH": "/usr/bin:/bin"}
    children = [subprocess.Popen([sys.executable, "-c", _SETTLE, url, host, str(folder / f"settle-{host}.log"),
                                  str(fire_at + n * delay), str(crash_at[n])], env=env)
                for n, host in enumerate(hosts)]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    return [child.pid for child in children]


def _scan(url: str, *logs, extra: tuple[str, ...] = ()) -> tuple[CliRunner, dict]:
    args = ["scan", url, *extra, "--table", "Settlement_Batches", "--key", "merchant_id", "--key", "settlement_date",
            "--ts", "created_at", "--format", "json", "--runs-pattern", PATTERN]
    for log in logs:
        args += ["--runs", str(log)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    return result, json.loads(result.stdout)["tables"][0]


def test_the_primary_hosts_log_alone_does_not_rule_out_the_standby(mariadb_url, tmp_path):
    """The standby's cron was never disabled; the engineer has the primary's log (the standby is another
    machine). Every copy fell inside the primary's one run, and that run's host was read like a host column:
    multi_host, the truth, was ruled out and all 30 clusters answered "duplicate_run or deploy_overlap". One
    run holding both copies says nothing of who wrote the second one."""
    _settle_twice(mariadb_url, tmp_path, ("pay-01", "pay-02"), delay=0.05)
    _, table = _scan(mariadb_url, tmp_path / "settle-pay-01.log")
    clusters = table["clusters"]
    assert len(clusters) == 30
    one_run = [c for c in clusters if c["evidence"]["job_runs"]["verdict"] == "one_run"]
    assert len(one_run) >= 15, [c["evidence"]["job_runs"]["verdict"] for c in clusters]
    for cluster in one_run:
        named = {cluster["mechanism"], *(c["mechanism"] for c in cluster["evidence"].get("candidates", []))}
        assert "multi_host" in named, cluster["explanation"]
        assert "runs_host" not in cluster["evidence"]["observations"], cluster["evidence"]["observations"]
        # the log's Berlin wall times are shown as the log wrote them, not called UTC
        assert "log time)" in cluster["explanation"] and "UTC)" not in cluster["explanation"], cluster["explanation"]
    # with both hosts' logs the two runs are named and one host running it twice is what is ruled out
    _, table = _scan(mariadb_url, tmp_path / "settle-pay-01.log", tmp_path / "settle-pay-02.log")
    for cluster in table["clusters"]:
        named = {cluster["mechanism"], *(c["mechanism"] for c in cluster["evidence"].get("candidates", []))}
        assert "duplicate_run" not in named and "multi_host" in named, cluster["explanation"]


def test_a_run_that_started_and_never_finished_is_reported_not_dropped(mariadb_url, tmp_path):
    """A cron.d entry beside a systemd timer on one host; the second run was killed half-way (by the on-call
    engineer, or the OOM killer), so its log has a start line and no end line. Its start line was dropped
    without a word and its copies counted "outside any run", as if the log did not know that process."""
    killed = _settle_twice(mariadb_url, tmp_path, ("pay-01", "pay-01"), delay=0.6, crash_at=(-1, 20))[1]
    result, table = _scan(mariadb_url, tmp_path / "settle-pay-01.log")
    assert len(table["clusters"]) == 20
    warned = [w for w in table.get("warnings", []) if "never ended" in w]
    assert len(warned) == 1, table.get("warnings")
    assert f"pid {killed}" in warned[0] and "settle-pay-01.log:" in warned[0], warned[0]
    assert "never ended" in result.stderr, result.stderr


def test_a_log_in_the_schedulers_local_time_matches_a_table_in_utc_with_timezone(mariadb_url, tmp_path):
    """The usual split: the table's DATETIME(6) takes the server's clock (``DEFAULT CURRENT_TIMESTAMP(6)`` on a
    server in UTC), the job host logs local time as Python's logging does (no offset). The log's times were
    always read as UTC, so no copy ever fell in a run, with or without --timezone: 0 of 60 rows matched and
    nothing said why. With --timezone the log's own times are read in that zone too."""
    _settle_twice(mariadb_url, tmp_path, ("pay-01", "pay-02"), delay=0.05)
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:  # the same rows as the server's clock (UTC) would have stamped them
        conn.exec_driver_sql("UPDATE `Settlement_Batches` SET created_at = "
                             "CONVERT_TZ(created_at, '+01:00', '+00:00')")  # Berlin in November: UTC+1
    engine.dispose()
    logs = (tmp_path / "settle-pay-01.log", tmp_path / "settle-pay-02.log")
    result, table = _scan(mariadb_url, *logs)
    assert all(c["evidence"]["job_runs"]["verdict"] == "none" for c in table["clusters"])
    hint = [w for w in table.get("warnings", []) if "--timezone" in w]
    assert len(hint) == 1 and "no offset" in hint[0], table.get("warnings")
    result, table = _scan(mariadb_url, *logs, extra=("--timezone", "Europe/Berlin"))
    verdicts = [c["evidence"]["job_runs"]["verdict"] for c in table["clusters"]]
    assert verdicts.count("none") <= 2 and len(verdicts) == 30, verdicts
    for cluster in table["clusters"]:
        assert cluster["evidence"]["job_runs"]["log_times_read_as"] == "Europe/Berlin"
        if cluster["evidence"]["job_runs"]["verdict"] != "none":  # read in their zone, they are instants
            assert "UTC)" in cluster["explanation"] and "log time)" not in cluster["explanation"]
        assert cluster["evidence"]["job_runs"]["timestamps_read_as"] == "UTC"
    assert "--timezone" not in " ".join(table.get("warnings", []))


def test_discover_does_not_propose_a_reference_null_in_a_quarter_of_the_rows(mariadb_url, tmp_path):
    """The bank reference is NULL for a quarter of the merchants (no SEPA mandate yet) and otherwise names the
    merchant and day. discover proposed it over (merchant_id, settlement_date), one column before two, though
    a UNIQUE on it constrains no row without a reference: 8 of the 30 keys written twice that night would be
    written twice again after the migration. The set keying every row, with the same evidence, comes first."""
    _settle_twice(mariadb_url, tmp_path, ("pay-01", "pay-02"), delay=0.05)
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:  # the night before, written once
        conn.exec_driver_sql(
            "INSERT INTO `Settlement_Batches` (merchant_id, settlement_date, gross_amount, fee_amount, currency, "
            "status, bank_reference, created_at) SELECT merchant_id, '2026-11-18', min(gross_amount), "
            "min(fee_amount), 'EUR', 'SETTLED', concat(min(bank_reference), '-prev'), "
            "min(created_at) - INTERVAL 1 DAY FROM `Settlement_Batches` GROUP BY merchant_id")
        nulls = conn.exec_driver_sql("SELECT count(*) FROM `Settlement_Batches` WHERE bank_reference IS NULL").scalar()
    engine.dispose()
    assert nulls == 24  # merchants 0, 4, ..., 28: two copies and the night before
    result = CliRunner().invoke(main, ["discover", mariadb_url, "--format", "json", "-o", str(tmp_path / "d.toml")])
    assert result.exit_code == 0, result.output
    (proposal,) = json.loads(result.stdout)["tables"]
    assert proposal["keys"] == ["merchant_id", "settlement_date"], proposal
    assert any(a.startswith("bank_reference:") for a in proposal["alternatives"]), proposal["alternatives"]


def test_cleanup_deletes_copies_holding_float_bit_and_time_columns(mariadb_url, tmp_path):
    """A legacy FLOAT column (an exchange rate) beside the DECIMAL amounts: the scan reads 1.7, the plan
    carries the literal 1.7, and MariaDB compares the single-precision 1.70000005 with it as unequal, so the
    guard stopped every cleanup with "rows changed since the scan, nothing deleted" though nothing had. A
    TIME(3) cut-off read as 86399.5 seconds compared unequal with '23:59:59.500' the same way, and a BIT(1)
    flag (Hibernate's boolean on MySQL), read as the text '\\x01', stopped it with "Truncated incorrect
    DECIMAL value"."""
    from sqlrun import apply_sql

    _settle_twice(mariadb_url, tmp_path, ("pay-01", "pay-01"), delay=0.6)
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE `Settlement_Batches` ADD COLUMN fx_rate FLOAT NULL, "
                             "ADD COLUMN is_final BIT(1) NOT NULL DEFAULT b'1', "
                             "ADD COLUMN cutoff TIME(3) NULL DEFAULT '23:59:59.500'")
        conn.exec_driver_sql("UPDATE `Settlement_Batches` SET fx_rate = 1.1 + "
                             "MOD(CAST(SUBSTR(merchant_id, 2) AS INT), 7) / 10")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "Settlement_Batches", "--key", "merchant_id",
                                       "--key", "settlement_date", "--ts", "created_at", "--out", str(out), "-q"])
    assert result.exit_code == 1, result.output
    assert "deleted 30 of 30 planned" in apply_sql(mariadb_url, (out / "cleanup.sql").read_text())
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM `Settlement_Batches`").scalar() == 30
    engine.dispose()
    assert "deleted 0 of 30 planned" in apply_sql(mariadb_url, (out / "cleanup.sql").read_text())


def test_an_end_word_mid_run_that_closes_the_run_early_is_reported(mariadb_url, tmp_path):
    """A warning mid-run ("bank API error for M1020, retrying on host pay-01") holds an end word: it closed
    the run there, the run's real "finished" line then closed nothing, and the copies written after the
    warning counted outside any run, without a word."""
    _settle_twice(mariadb_url, tmp_path, ("pay-01", "pay-01"), delay=0.6)
    log = tmp_path / "settle-pay-01.log"
    lines = log.read_text().splitlines()
    first = lines[0]  # "<date> <time>,<ms> INFO settle[<pid>] started on host pay-01"
    stamp, pid = first[:23], first.split("settle[")[1].split("]")[0]
    warning = f"{stamp} WARNING settle[{pid}] bank API error for M1020, retrying on host pay-01"
    log.write_text("\n".join([first, warning, *lines[1:]]) + "\n")
    _, table = _scan(mariadb_url, log)
    warned = [w for w in table.get("warnings", []) if "closed no open run" in w]
    assert len(warned) == 1, table.get("warnings")
    ended = [n for n, line in enumerate([first, warning, *lines[1:]], start=1)
             if f"settle[{pid}] finished" in line]
    assert f"settle-pay-01.log:{ended[0]}" in warned[0], warned[0]
