"""A stranger's incident (stranger22): a WSGI app served by gunicorn with 4 workers starts an APScheduler
BackgroundScheduler at import, so every worker runs the nightly "send invoice reminders" job and the hourly
"accrue interest" job: each key is written by up to four processes of one host, milliseconds apart.

Real software writes the tables: gunicorn (4 pre-forked workers) importing an app module that starts the
scheduler, writing to the suite's PostgreSQL with psycopg. Time is compressed (a "night" every 3 s by a cron
trigger, an "hour" every 2 s by an interval trigger). Every write is logged with the worker's pid: that log,
never dupfinder's answer, is the ground truth. The reminder job sends each email inside its transaction (20 ms
each), so the four workers' checks all run before any of them commits, as a real SMTP call makes them.

What it found, run as the README says (discover, then scan --out):
- `discover` proposed no key for either job table: the reminders' copies come four to a key (one per gunicorn
  worker), and it counted only groups of at most three rows as copies; the accruals are keyed by their hour, a
  `timestamp` column, and every timestamp column was left out of the candidate keys.
- with host and pid recorded, the incident of one host whose processes ran the job was told to look in
  crontab and systemd timers and to wrap the job in `flock -n`, its summary to "find the second scheduler entry
  and remove it": none of that finds or stops a scheduler that the application starts in each web worker.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dupfinder.cli import main

pytest.importorskip("gunicorn")
pytest.importorskip("apscheduler")

APP = '''
"""billing app: a WSGI callable, and the scheduler started at import (once per gunicorn worker: the bug)."""
import atexit, datetime as dt, json, os, socket, time
import psycopg
from apscheduler.schedulers.background import BackgroundScheduler

DB, LOG, EPOCH0 = os.environ["BILLING_DB"], os.environ["WRITES_LOG"], float(os.environ["SIM_EPOCH0"])


def logged(table, row_id, key):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (json.dumps({"table": table, "id": row_id, "key": key, "pid": os.getpid()}) + "\\n").encode())
    os.close(fd)


def send_invoice_reminders():
    day = dt.date(2026, 11, 24) + dt.timedelta(days=int(time.time() // 3 - EPOCH0 // 3))  # cron: on multiples of 3 s
    with psycopg.connect(DB) as conn:
        overdue = conn.execute(
            "SELECT i.id, c.email FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.status = 'open' "
            "AND NOT EXISTS (SELECT 1 FROM invoice_reminders r WHERE r.invoice_id = i.id AND r.reminder_date = %s) "
            "ORDER BY i.id", (day,)).fetchall()
        done = []
        for iid, email in overdue:
            rid = conn.execute("INSERT INTO invoice_reminders (invoice_id, reminder_date, sent_to, node, worker_pid) "
                               "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                               (iid, day, email, socket.gethostname(), os.getpid())).fetchone()[0]
            conn.execute("INSERT INTO email_outbox (reminder_id, to_addr, subject) VALUES (%s, %s, %s)",
                         (rid, email, f"Invoice {iid} is overdue"))
            time.sleep(0.02)  # the SMTP call
            done.append((rid, [iid, day.isoformat()]))
        conn.commit()
    for rid, key in done:
        logged("invoice_reminders", rid, key)


def accrue_interest():
    hour = dt.datetime(2026, 11, 24) + dt.timedelta(hours=int(time.time() // 2 - EPOCH0 // 2))
    with psycopg.connect(DB) as conn:
        accounts = conn.execute(
            "SELECT a.id, a.balance, a.annual_rate FROM accounts a WHERE a.annual_rate >= 0.03 AND NOT EXISTS "
            "(SELECT 1 "
            "FROM interest_accruals x WHERE x.account_id = a.id AND x.accrual_hour = %s) ORDER BY a.id",
            (hour,)).fetchall()
        done = []
        for aid, balance, rate in accounts:
            amount = round(balance * rate / 8760, 6)
            xid = conn.execute("INSERT INTO interest_accruals (account_id, accrual_hour, amount, node, worker_pid, "
                               "created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                               (aid, hour, amount, socket.gethostname(), os.getpid(),
                                dt.datetime.utcnow())).fetchone()[0]
            conn.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s", (amount, aid))
            done.append((xid, [aid, hour.isoformat()]))
        conn.commit()
    for xid, key in done:
        logged("interest_accruals", xid, key)


scheduler = BackgroundScheduler(timezone="UTC")
scheduler.add_job(send_invoice_reminders, "cron", second="*/3", id="reminders")
scheduler.add_job(accrue_interest, "cron", second="1-59/2", id="accrue")
scheduler.start()
atexit.register(scheduler.shutdown)  # a worker stopping lets its running jobs finish (APScheduler waits)


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''

SCHEMA = """
CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text, created_at timestamptz NOT NULL);
CREATE TABLE invoices (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
  number text NOT NULL UNIQUE, amount numeric(12, 2) NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE invoice_reminders (id bigserial PRIMARY KEY, invoice_id bigint REFERENCES invoices (id),
  reminder_date date, sent_to text, node text, worker_pid integer, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE email_outbox (id bigserial PRIMARY KEY, reminder_id bigint REFERENCES invoice_reminders (id),
  to_addr text, subject text NOT NULL, queued_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE accounts (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
  balance numeric(14, 4) NOT NULL, annual_rate numeric(6, 4) NOT NULL, opened_at timestamptz NOT NULL);
CREATE TABLE interest_accruals (id bigserial PRIMARY KEY, account_id bigint REFERENCES accounts (id),
  accrual_hour timestamp, amount numeric(14, 6) NOT NULL, node text, worker_pid integer, created_at timestamp NOT NULL);
"""


def _seed(conn: psycopg.Connection) -> None:
    """A few days of history one scheduler wrote (the same invoice reminded on several days, the same account
    accrued every hour: legit repeats of a key's parts), legacy rows with NULL key parts written together."""
    conn.execute("INSERT INTO customers (name, email, created_at) SELECT 'Customer ' || g, "
                 "CASE WHEN g % 7 = 0 THEN NULL ELSE 'c' || g || '@example.com' END, "
                 "timestamptz '2026-06-01 00:00+00' + g * interval '1 day' FROM generate_series(1, 30) g")
    conn.execute("INSERT INTO invoices (customer_id, number, amount, status, created_at) SELECT 1 + g % 20, "
                 "'INV-' || g, 10 + g, CASE WHEN g % 5 = 0 THEN 'paid' ELSE 'open' END, "
                 "timestamptz '2026-10-01 00:00+00' + g * interval '1 hour' FROM generate_series(1, 30) g")
    conn.execute("INSERT INTO invoice_reminders (invoice_id, reminder_date, sent_to, node, worker_pid, created_at) "
                 "SELECT i.id, d::date, 'c@example.com', 'web-old', 4242, d + i.id * interval '40 ms' "
                 "FROM invoices i, generate_series(timestamptz '2026-11-20 02:00+00', '2026-11-23 02:00+00', "
                 "'1 day') d WHERE i.status = 'open'")
    conn.execute("INSERT INTO invoice_reminders (invoice_id, reminder_date, sent_to, created_at) "
                 "SELECT 1 + g % 10, NULL, NULL, timestamptz '2026-09-01 00:00+00' FROM generate_series(1, 20) g")
    # migrated by one statement: three rates, ten accounts each, one instant (not a key, not copies)
    conn.execute("INSERT INTO accounts (customer_id, balance, annual_rate, opened_at) SELECT g, 1000 * g, "
                 "(ARRAY[0.0125, 0.02, 0.035])[1 + g % 3], timestamptz '2026-01-01 00:00+00' "
                 "FROM generate_series(1, 30) g")
    conn.execute("INSERT INTO interest_accruals (account_id, accrual_hour, amount, node, worker_pid, created_at) "
                 "SELECT a.id, h, 0.5, 'web-old', 4242, h + interval '1 s' + a.id * interval '15 ms' FROM accounts a, "
                 "generate_series(timestamp '2026-11-22 00:00', '2026-11-23 23:00', '1 hour') h")
    conn.execute("INSERT INTO interest_accruals (account_id, accrual_hour, amount, created_at) "
                 "SELECT NULL, timestamp '2026-11-22 00:00', 0, timestamp '2026-11-22 00:00:01' "
                 "FROM generate_series(1, 4)")


@pytest.fixture(scope="module")
def incident(pg_server, tmp_path_factory):
    """The database after 4 gunicorn workers ran both jobs for about 10 s, and the pid-stamped write log."""
    name = f"s22_{os.getpid()}"
    admin = sa.create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_server.url(name)
    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq) as conn:
        conn.execute(SCHEMA)
        _seed(conn)
    work = tmp_path_factory.mktemp("s22")
    (work / "billing.py").write_text(textwrap.dedent(APP))
    writes = work / "writes.jsonl"
    env = {**os.environ, "BILLING_DB": libpq, "WRITES_LOG": str(writes), "SIM_EPOCH0": str(time.time())}
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "4", "-b", f"unix:{work / 'g.sock'}",
                                 "--chdir", str(work), "billing:app"], env=env, cwd=str(work),
                                stdout=open(work / "gunicorn.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # three nights of reminders (and several hours of interest)
            rows = [json.loads(line) for line in writes.read_text().splitlines()] if writes.exists() else []
            if len({r["key"][1] for r in rows if r["table"] == "invoice_reminders"}) >= 3:
                break
            time.sleep(0.5)
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(30)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
            gunicorn.wait()
    rows = [json.loads(line) for line in writes.read_text().splitlines()]
    truth: dict[tuple[str, tuple], list[dict]] = collections.defaultdict(list)
    for r in rows:
        truth[r["table"], tuple(r["key"])].append(r)
    yield url, truth, work
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _key(values) -> tuple[str, ...]:
    """A key as text, a timestamp's 'T' or space alike (the log writes isoformat, findings.json its own)."""
    return tuple(str(v).replace(" ", "T") for v in values)


def _copies(truth, table: str) -> collections.Counter:
    return collections.Counter(len(v) for (t, _), v in truth.items() if t == table)


def test_discover_proposes_the_keys_a_scheduler_per_worker_wrote(incident, tmp_path):
    """Each gunicorn worker wrote each reminder: four copies a key. Groups of four were not read as copies, and
    the accruals' hour (a timestamp column) was never a candidate: neither job table got a key, while discover
    proposed `customers (name)` beside them."""
    url, truth, _ = incident
    reminders = _copies(truth, "invoice_reminders")
    assert reminders[4] and reminders[4] >= 0.8 * sum(reminders.values()), f"not four writers a key: {reminders}"
    result = CliRunner().invoke(main, ["discover", url, "-o", str(tmp_path / "d.toml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    proposed = {t["table"]: t["keys"] for t in json.loads(result.output)["tables"]}
    assert proposed["invoice_reminders"] == ["invoice_id", "reminder_date"], proposed
    assert proposed["interest_accruals"] == ["account_id", "accrual_hour"], proposed
    assert proposed["accounts"] != ["annual_rate"], proposed  # ten rows a rate, one instant: no copies


def test_scan_finds_every_copy_and_says_how_to_stop_a_scheduler_per_worker(incident, tmp_path):
    """The clusters are exactly the keys the log shows written more than once, with exactly their rows; an
    incident named duplicate_run on a host that is no pod names the scheduler started in each web worker, not
    only crontab and flock."""
    url, truth, _ = incident
    out = tmp_path / "findings"
    tables = {"invoice_reminders": ["invoice_id", "reminder_date"], "interest_accruals": ["account_id", "accrual_hour"]}
    found: dict[tuple[str, tuple], list[int]] = {}
    named: list[dict] = []
    for table, keys in tables.items():
        args = ["scan", url, "--table", table, "--ts", "created_at", "--out", str(out / table)]
        for k in keys:
            args += ["--key", k]
        args += ["--writer", "host=node", "--writer", "process=worker_pid"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code in (0, 1), result.output
        doc = json.loads((out / table / "findings.json").read_text())
        for c in doc["tables"][0]["clusters"]:
            found[table, _key(c["key"][k] for k in keys)] = sorted(r["pk"]["id"] for r in c["rows"])
        named += [i for i in doc["tables"][0]["incidents"] if i["mechanism"] == "duplicate_run"]
    expected = {(t, _key(k)): sorted(r["id"] for r in v) for (t, k), v in truth.items() if len(v) > 1}
    assert found == expected
    assert named, "no incident named duplicate_run"
    for incident_ in named:
        advice = " ".join(incident_["recommendations"])
        assert "each worker process" in advice and "one process" in advice, advice
        assert "each worker process" in incident_["summary"], incident_["summary"]


def test_every_copy_of_a_scheduler_per_worker_is_a_duplicate_run(incident, tmp_path):
    """Ground truth: one host, four processes each running both jobs in full. With host and pid recorded every
    cluster is that host's processes running the job again (duplicate_run), never a race to make atomic.

    Failed before (attr16): four in-process schedulers fire the accrual job at the same second, and a worker whose
    check came after another's commit writes nothing that hour, so the hours hold 2 to 4 copies of each key. The
    model read that as a pool whose workers all take the oldest pending item ('copies = varying', +4.1, which
    also left 'every process wrote every key' unread) and named worker_race, 'make the claim atomic': in 9 of 10
    runs of this test some accrual clusters (1 to all 50). The counts vary from one firing to the next, each
    firing's keys every one written by the same processes, one copy each: timing.per_firing."""
    url, truth, _ = incident
    mechanisms = {}
    wrong = {}
    for table, keys in {"invoice_reminders": ["invoice_id", "reminder_date"],
                        "interest_accruals": ["account_id", "accrual_hour"]}.items():
        args = ["scan", url, "--table", table, "--ts", "created_at", "--format", "json",
                "--writer", "host=node", "--writer", "process=worker_pid"]
        for k in keys:
            args += ["--key", k]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        clusters = json.loads(result.stdout)["tables"][0]["clusters"]
        assert clusters, table
        mechanisms[table] = collections.Counter(c["mechanism"] for c in clusters)
        odd = [(c["explanation"], c["evidence"]["observations"]) for c in clusters if c["mechanism"] != "duplicate_run"]
        if odd:
            wrong[table] = odd[0]
    assert all(set(m) == {"duplicate_run"} for m in mechanisms.values()), (mechanisms, wrong)
