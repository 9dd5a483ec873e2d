"""A finance auditor's payouts ledger on MariaDB, written twice by Celery redeliveries, scanned with SELECT only.

The payouts service runs Celery workers (two hosts, ``-n payouts-a@ledger`` and ``payouts-b@ledger``, three prefork
children each) over a redis-server with ``acks_late`` and a 1 s ``visibility_timeout``. A payout task writes its
ledger row (``DECIMAL`` amount, ``DATETIME(6)`` without time zone, the worker's hostname, pid and task id) and
then calls a slow webhook on some merchants: the message stays unacknowledged past the visibility timeout, kombu
puts it back and an idle child, on either host, writes the payout again about a second later. Beside it: legit
repeats (one merchant paid in two currencies in one batch), platform fees with no merchant (NULL key), and a
refund. Every write is logged with the worker's hostname, pid and delivery info: the ground truth.

What the stranger found (each test failed before its fix):

* the currency is part of the business key (a merchant paid in EUR and in USD in one batch holds two payouts), and
  ``extra_copy_totals`` then summed EUR, USD and GBP into one figure ("amount 1,299,194.16"): the currency column
  was looked for among the columns that are not the key;
* one redelivery storm of a few seconds was split into one incident per set of hosts that happened to pick the
  messages up (five "incidents" in seven seconds on the stranger's run): a redelivery goes to whichever worker is
  idle, as a rolling deploy pairs whichever pods, so a retry's incident is not split by host;
* without --writer, Celery's ``worker`` column (the hostname) took the process role before ``pid``, so the pid was
  business data and every copy from another child was divergent in it;
* page 1 of the printed report, the page an auditor files, said nothing of the money (it was on page 3).

Not fixed (xfail): two hosts taking each other's redelivered messages are named multi_host ("disable it on one
host") when the task id is not given as a writer column.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from redis_server import start_redis

from dupfinder.cli import main

VISIBILITY_TIMEOUT = 1.0
SLOW = 2.2  # the webhook after the write: longer than the visibility timeout
KEY = ("payout_batch", "merchant_id", "kind", "currency")

APP = textwrap.dedent('''
    import datetime as dt, fcntl, json, os, time
    import pymysql, redis
    from celery import Celery

    BROKER = os.environ["S23_BROKER"]
    app = Celery("payouts", broker=BROKER)
    app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True,
                    broker_transport_options={"visibility_timeout": %(vt)s, "unacked_restore_interval": 0.25,
                                              "unacked_restore_throttle": 1, "unacked_mutex_expire": 1})
    _conn = []

    @app.task(bind=True, name="pay")
    def pay(self, batch, merchant_id, kind, amount, currency, slow):
        attempt = redis.Redis.from_url(BROKER).incr("attempt:" + self.request.id)
        if not _conn:
            _conn.append(pymysql.connect(host="127.0.0.1", port=int(os.environ["S23_PORT"]), user="dupfinder",
                                         password="dupfinder", database=os.environ["S23_DB"], autocommit=True))
        ts = dt.datetime.utcnow().isoformat(sep=" ")
        with _conn[0].cursor() as cur:
            cur.execute("INSERT INTO payouts (payout_batch, merchant_id, kind, amount, currency, created_at, worker,"
                        " pid, task_id) VALUES (%%s,%%s,%%s,%%s,%%s,%%s,%%s,%%s,%%s)",
                        (batch, merchant_id, kind, amount, currency, ts, self.request.hostname, os.getpid(),
                         self.request.id))
            row_id = cur.lastrowid
        info = self.request.delivery_info or {}
        with open(os.environ["S23_TRUTH"], "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(json.dumps({"id": row_id, "key": [batch, merchant_id, kind, currency], "amount": amount,
                                "worker": self.request.hostname, "pid": os.getpid(), "task_id": self.request.id,
                                "attempt": attempt, "redelivered": bool(info.get("redelivered"))}) + "\\n")
        if slow and attempt == 1:
            time.sleep(%(slow)s)  # the merchant's webhook is slow: the message stays unacknowledged
''') % {"vt": VISIBILITY_TIMEOUT, "slow": SLOW}

CURRENCIES = ("EUR", "USD", "GBP")
# merchant -> slow on its first attempt (redelivered), currencies it is paid in this batch
MERCHANTS = {1001 + i: (i % 3 == 1, [CURRENCIES[i // 3 % 3]] + ([CURRENCIES[(i // 3 + 1) % 3]] if i % 5 == 0 else []))
             for i in range(24)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def ledger(mariadb_server, tmp_path_factory):
    """The payouts table written by real Celery workers, a SELECT-only auditor URL and the logged truth."""
    work = tmp_path_factory.mktemp("payouts")
    database = f"s23_{os.getpid()}"
    mariadb_server.admin(f"CREATE DATABASE `{database}`")
    mariadb_server.admin(
        "CREATE TABLE payouts (id BIGINT AUTO_INCREMENT PRIMARY KEY, payout_batch VARCHAR(32) NOT NULL, "
        "merchant_id INT NULL, kind VARCHAR(10) NOT NULL, amount DECIMAL(14,2) NOT NULL, currency CHAR(3) NOT NULL, "
        "created_at DATETIME(6) NOT NULL, worker VARCHAR(80) NOT NULL, pid INT NOT NULL, task_id VARCHAR(64) NOT NULL)",
        f"CREATE USER IF NOT EXISTS 'audit_{database}'@'%' IDENTIFIED BY 'Audit@2026!'",
        f"GRANT SELECT ON `{database}`.* TO 'audit_{database}'@'%'", database=database)
    # last month's payouts of the same merchants (legit repeats, weeks apart) and a refund days later
    history = [("2026-10-M", m, "payout", f"{m * 3}.{m % 100:02d}", cs[0], f"2026-10-31 02:00:{i:02d}.5")
               for i, (m, (_, cs)) in enumerate(MERCHANTS.items())]
    history.append(("2026-10-M", 1001, "refund", "-12.50", MERCHANTS[1001][1][0], "2026-11-03 14:12:09"))
    history += [("2026-10-M", None, "fee", "99.99", "EUR", "2026-10-31 02:01:00")] * 2
    conn = pymysql.connect(unix_socket=str(mariadb_server.sock), user="root", database=database, autocommit=True)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO payouts (payout_batch, merchant_id, kind, amount, currency, created_at, worker, "
                        "pid, task_id) VALUES (%s,%s,%s,%s,%s,%s,'payouts-a@ledger',1,'history')", history)
    conn.close()

    redis_proc, broker = start_redis(work)
    (work / "payouts_app.py").write_text(APP)
    truth = work / "truth.jsonl"
    env = {**os.environ, "S23_BROKER": broker, "S23_PORT": str(mariadb_server.port), "S23_DB": database,
           "S23_TRUTH": str(truth), "TZ": "UTC", "PYTHONPATH": str(work)}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "payouts_app", "worker", "--pool=prefork", "--concurrency=3",
         "-n", f"payouts-{name}@ledger", "--loglevel=INFO", f"--logfile={work / name}.log", "--without-gossip",
         "--without-mingle", "--without-heartbeat"], env=env, cwd=str(work), stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT, start_new_session=True) for name in ("a", "b")]
    try:
        from celery import Celery

        sender = Celery("payouts", broker=broker)
        sent = slow_sent = 0
        for m, (slow, currencies) in MERCHANTS.items():
            for ccy in currencies:
                amount = f"{m * 7 + len(ccy)}.{(m * 13) % 100:02d}"
                sender.send_task("pay", args=["2026-11-M", m, "payout", amount, ccy, slow and ccy == currencies[0]])
                sent += 1
                slow_sent += slow and ccy == currencies[0]
            time.sleep(0.03)
        sender.send_task("pay", args=["2026-11-M", None, "fee", "40.00", "EUR", True])  # a NULL key, redelivered
        sender.send_task("pay", args=["2026-11-M", None, "fee", "41.00", "EUR", False])
        sent, slow_sent = sent + 2, slow_sent + 1
        deadline = time.monotonic() + 60
        while len(_lines(truth)) < sent + slow_sent and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(SLOW + 2 * VISIBILITY_TIMEOUT)  # any further redelivery lands in the truth too
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
        redis_proc.terminate()
        redis_proc.wait(10)
    written = _lines(truth)
    assert any(r["redelivered"] for r in written), "no message was redelivered: the incident did not happen"
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in written:
        groups[tuple(r["key"])].append(r)
    url = mariadb_server.url(database, f"audit_{database}", "Audit%402026%21")
    yield {"url": url, "groups": groups, "written": written}
    mariadb_server.admin(f"DROP DATABASE IF EXISTS `{database}`", f"DROP USER IF EXISTS 'audit_{database}'@'%'")


def _scan(url: str, out: Path, *extra: str) -> dict:
    args = ["scan", url, "--table", "payouts", *[a for k in KEY for a in ("--key", k)], "--ts", "created_at",
            "--window", "4s", "--out", str(out), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    return json.loads((out / "findings.json").read_text())["tables"][0]


def _truth_clusters(ledger) -> dict[tuple, list[dict]]:
    """The keys the workers wrote more than once (a NULL merchant is a distinct key, as UNIQUE reads it)."""
    return {k: sorted(rs, key=lambda r: r["id"]) for k, rs in ledger["groups"].items() if len(rs) > 1 and None not in k}


def test_clusters_are_the_redeliveries_and_the_totals_stay_per_currency(ledger, tmp_path):
    table = _scan(ledger["url"], tmp_path / "out", "--writer", "host=worker", "--writer", "process=pid",
                  "--writer", "run=task_id")
    truth = _truth_clusters(ledger)
    found = {tuple(c["key"][k] for k in KEY): sorted(r["pk"]["id"] for r in c["rows"]) for c in table["clusters"]}
    assert found == {k: [r["id"] for r in rs] for k, rs in truth.items()}
    assert {c["mechanism"] for c in table["clusters"]} == {"retry"}, [c["explanation"] for c in table["clusters"]]
    # every copy is the same message again (one task id per cluster), so every one is identical and deletable
    assert all(len({r["task_id"] for r in rs}) == 1 for rs in truth.values())
    assert table["rows_to_delete"] == sum(len(rs) - 1 for rs in truth.values())

    expected: dict[str, Decimal] = defaultdict(Decimal)
    for rs in truth.values():
        for r in rs[1:]:  # the survivor is the earliest
            expected[r["key"][3]] += Decimal(r["amount"])
    totals = {t.get("currency"): (Decimal(t["extra_copies"]), Decimal(t["to_delete"]))
              for t in table["extra_copy_totals"] if t["column"] == "amount"}
    assert totals == {ccy: (total, total) for ccy, total in expected.items()}, table["extra_copy_totals"]


def test_one_redelivery_storm_is_one_incident(ledger, tmp_path):
    table = _scan(ledger["url"], tmp_path / "out", "--writer", "host=worker", "--writer", "process=pid",
                  "--writer", "run=task_id")
    hosts = {r["writer"]["host"] for c in table["clusters"] for r in c["rows"]}
    assert len(hosts) == 2  # both workers took redelivered messages
    assert [(i["mechanism"], i["clusters"]) for i in table["incidents"]] == [("retry", len(table["clusters"]))]
    recommendations = " ".join(table["incidents"][0]["recommendations"])
    assert "acknowledgement timeout" in recommendations and "idempotency key" in recommendations


def test_the_read_only_scan_sees_the_null_merchants_and_writes_nothing(ledger, tmp_path):
    before = sa.create_engine(ledger["url"]).connect()
    count = before.exec_driver_sql("SELECT count(*), sum(amount) FROM payouts").one()
    before.close()
    table = _scan(ledger["url"], tmp_path / "out", "--writer", "host=worker", "--writer", "process=pid")
    assert table["rows_null_key"] == 2 + sum(len(rs) for k, rs in ledger["groups"].items() if None in k)
    after = sa.create_engine(ledger["url"]).connect()
    assert after.exec_driver_sql("SELECT count(*), sum(amount) FROM payouts").one() == count
    after.close()


def test_inferred_writers_take_the_pid_not_celerys_worker_hostname(ledger, tmp_path):
    """Without --writer: ``worker`` (Celery's hostname, 'payouts-a@ledger') came before ``pid`` and took the process
    role, so the pid was business data and every copy a redelivery wrote from another child was divergent in it
    (cleanup.sql deleted none of them, and the text advised `--ignore pid`)."""
    table = _scan(ledger["url"], tmp_path / "out")
    process = [w["column"] for w in table["writer_columns"] if w["role"] == "process"]
    assert process == ["pid"], table["writer_columns"]
    children = [c for c in table["clusters"] if len({r["values"]["pid"] for r in c["rows"]}) > 1]
    assert children  # a redelivered message is taken by an idle child, never the one still holding it
    assert not [c["key"] for c in table["clusters"] if "pid" in c["differing_columns"]]


def test_the_first_printed_page_says_how_much_money(ledger, tmp_path):
    """An auditor files page 1 of report.html's printout: it gave rows and clusters, and the money the copies
    hold (per currency) only in the table's section, page 3 of this one-table report."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    table = _scan(ledger["url"], tmp_path / "out", "--writer", "host=worker", "--writer", "process=pid")
    currencies = {t["currency"] for t in table["extra_copy_totals"]}
    assert len(currencies) > 1
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto((tmp_path / "out" / "report.html").as_uri())
        page.pdf(path=str(tmp_path / "report.pdf"), landscape=True, format="A4")
        browser.close()
    first = " ".join(PdfReader(str(tmp_path / "report.pdf")).pages[0].extract_text().split())
    assert "The copies beyond each survivor hold: payouts: amount" in first, first[:600]
    for t in table["extra_copy_totals"]:
        assert f"{Decimal(t['extra_copies']):,f} {t['currency']}" in first, (t, first[:600])


@pytest.mark.xfail(strict=False, reason=(
    "with --writer host=worker --writer process=pid (no task id), two hosts that took each other's redelivered "
    "messages (one way on one key, the other way on another, each about 2 s after the first write, 2 of ~14 rows each: "
    "coverage 36%) are answered multi_host at 98-99% ('the same two writers share 2 cluster(s)', 'two hosts "
    "wrote the copies'), and the incident says 'disable it on one host and lock the job'; the fixed redelivery "
    "delay ('repeat: fixed') does not outweigh host_pair. 2 of 10 clusters on the stranger's run, 3 of 8 on one "
    "run of this test. "
    "Attribution model (attr15), not a few-line fix"))
def test_redelivery_between_two_hosts_is_not_a_second_scheduler(ledger, tmp_path):
    table = _scan(ledger["url"], tmp_path / "out", "--writer", "host=worker", "--writer", "process=pid")
    named = {tuple(c["key"].values()): (c["mechanism"], c["explanation"]) for c in table["clusters"]
             if c["mechanism"] in ("multi_host", "duplicate_run")}
    assert not named, named


def test_currency_and_kind_are_not_read_as_writers(ledger, tmp_path):
    """Scanned on (payout_batch, merchant_id), 'currency' (3 values, a change every 1.5 rows, as a shuffle changes;
    the copies differ in it only where one merchant was paid in two currencies) was read from the data as a run
    ('it takes few values and the copies differ in it'), 'kind' as a host, and the text advised '--writer
    run=currency --writer host=kind', which would hide a business difference from cleanup. A data-found writer
    column stays constant over stretches of insertion order or carries its own value on each copy (roles.assign);
    'kind' names the row's state (roles.STATE_WORDS). Failed before (attr16: currency; kind since review16)."""
    result = CliRunner().invoke(main, ["scan", ledger["url"], "--table", "payouts", "--key", "payout_batch",
                                       "--key", "merchant_id", "--ts", "created_at", "--window", "4s",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    table = json.loads((tmp_path / "out" / "findings.json").read_text())["tables"][0]
    two_currencies = [c for c in table["clusters"] if "currency" in c["differing_columns"]]
    assert two_currencies  # the legit pairs: one merchant paid in two currencies in one batch
    from_data = {w["column"]: w for w in table["signals"].get("writer_roles_from_data", [])}
    assert not {"currency", "kind"} & set(from_data), from_data
    assert "--writer run=currency" not in result.output and "host=kind" not in result.output
