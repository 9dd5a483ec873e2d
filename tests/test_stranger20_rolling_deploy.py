"""stranger20: a Kubernetes rolling deploy of an invoicing worker on PostgreSQL, written by real processes.

Old pods (release 1.4.2) and new pods (1.5.0) overlap; each pod polls `jobs` and does check-then-insert into
`invoices`, a table RANGE-partitioned by month on its creation time (so its uuid primary key holds created_at),
stamped with `pod_name` and `app_version`. Each release serialises its own pods with an advisory lock whose name
the new release changed, so only pods of different releases race: the truth is every copy pair has two versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlrun import apply_sql

from dupfinder.cli import main

SCHEMA = """
CREATE TABLE jobs (id bigserial PRIMARY KEY, customer_id text NOT NULL, billing_period text NOT NULL,
                   amount numeric(12,2) NOT NULL, status text NOT NULL DEFAULT 'pending');
CREATE TABLE invoices (id uuid NOT NULL DEFAULT gen_random_uuid(), customer_id text NOT NULL,
                       billing_period text NOT NULL, amount numeric(12,2) NOT NULL, job_id bigint,
                       pod_name text NOT NULL, app_version text NOT NULL,
                       created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                       PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at);
CREATE TABLE invoices_past PARTITION OF invoices FOR VALUES FROM ('2000-01-01') TO ('2026-11-01');
CREATE TABLE invoices_2026_11 PARTITION OF invoices FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE invoices_later PARTITION OF invoices FOR VALUES FROM ('2026-12-01') TO ('2100-01-01');
CREATE TABLE invoice_lines (id bigserial PRIMARY KEY, invoice_id uuid NOT NULL, invoice_created_at timestamptz NOT NULL,
                            description text NOT NULL, amount numeric(12,2) NOT NULL,
                            FOREIGN KEY (invoice_id, invoice_created_at) REFERENCES invoices (id, created_at));
"""

# one pod: poll the oldest pending job under its release's lock, check, insert, render, mark done. The rollout
# is paced by what the database shows, as Kubernetes paces it by readiness, so a loaded machine changes the
# timing but not the overlap: new pods start once the old ones wrote 10 invoices, old pods stop (SIGTERM) once
# the new ones wrote 15
POD = r"""
import json, random, sys, time, zlib, psycopg
dsn, pod, version = sys.argv[1], sys.argv[2], sys.argv[3]
old = version == "1.4.2"
lock = zlib.crc32(("invoice-run" if old else "invoicer.billing.run").encode())
rnd = random.Random(pod)

def written(conn, release):
    return conn.execute("SELECT count(*) FROM invoices WHERE app_version = %s", (release,)).fetchone()[0]

with psycopg.connect(dsn, autocommit=True) as watch, psycopg.connect(dsn) as conn:
    while not old and written(watch, "1.4.2") < 10:
        time.sleep(0.02)
    while not (old and written(watch, "1.5.0") >= 15):
        with conn.transaction():
            cur = conn.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            cur.execute("SELECT id, customer_id, billing_period, amount FROM jobs WHERE status = 'pending' "
                        "ORDER BY id LIMIT 1")
            job = cur.fetchone()
            if job is None:
                break
            cur.execute("SELECT 1 FROM invoices WHERE customer_id = %s AND billing_period = %s", job[1:3])
            if cur.fetchone() is None:
                cur.execute("INSERT INTO invoices (customer_id, billing_period, amount, job_id, pod_name, "
                            "app_version) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                            (job[1], job[2], job[3], job[0], pod, version))
                invoice = cur.fetchone()[0]
                cur.execute("INSERT INTO invoice_lines (invoice_id, invoice_created_at, description, amount) "
                            "SELECT id, created_at, d, amount / 2 FROM invoices, (VALUES ('plan'), ('usage')) AS v(d) "
                            "WHERE id = %s", (invoice,))
                print(json.dumps({"key": job[1], "version": version, "id": str(invoice)}), flush=True)
            time.sleep(rnd.uniform(0.02, 0.05))  # render the PDF, send it
            cur.execute("UPDATE jobs SET status = 'done' WHERE id = %s", (job[0],))
"""


def _libpq(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _rolling_deploy(url: str, jobs: int = 90) -> dict[str, set[str]]:
    """Two old pods, then two new pods, overlapping until the new ones wrote 15 invoices; the new pods drain the
    queue. Real processes, real timing. Returns the versions of each key the pods logged writing twice."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(SCHEMA)
        for n in range(jobs):
            conn.exec_driver_sql("INSERT INTO jobs (customer_id, billing_period, amount) VALUES (%s, '2026-11', %s)",
                                 (f"C-{n:05d}", f"{10 + n}.50"))
    engine.dispose()
    pods = [("invoicer-7d9f8c6b5-kq2xz", "1.4.2"), ("invoicer-7d9f8c6b5-p8m4t", "1.4.2"),
            ("invoicer-6b4f5d7c9-wx9rn", "1.5.0"), ("invoicer-6b4f5d7c9-zl5vh", "1.5.0")]
    procs = [subprocess.Popen([sys.executable, "-c", POD, _libpq(url), pod, version], stdout=subprocess.PIPE,
                              text=True) for pod, version in pods]
    written: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        for line in out.splitlines():
            rec = json.loads(line)
            written.setdefault(rec["key"], set()).add(rec["version"])
            counts[rec["key"]] = counts.get(rec["key"], 0) + 1
    assert len(written) == jobs
    return {k: v for k, v in written.items() if counts[k] > 1}


def test_discover_leaves_the_release_column_out_of_the_proposed_key(pg_url, tmp_path):
    """`app_version` says which release wrote a row, as `pod_name` says which pod did: during the overlap the two
    copies of an invoice carry two versions. discover kept version columns as candidates (a document's version
    keys it) and proposed (customer_id, app_version), which holds the copies apart: scanned with it, every
    deploy-overlap copy went unseen (measured on a 40 s overlap: 3 of 255 clusters found, the 3 client retries,
    which one release wrote twice). It now proposes the customer's key and the scan with it finds exactly the
    keys the pods logged writing twice."""
    doubled = _rolling_deploy(pg_url)
    assert doubled and all(v == {"1.4.2", "1.5.0"} for v in doubled.values()), doubled
    config = tmp_path / "dupfinder.toml"
    out = CliRunner().invoke(main, ["discover", pg_url, "-o", str(config), "--format", "json"])
    assert out.exit_code == 0, out.output
    proposed = {t["table"]: t for t in json.loads(out.stdout)["tables"]}["invoices"]
    assert proposed["keys"] and "app_version" not in proposed["keys"], proposed
    scan = CliRunner().invoke(main, ["scan", "--config", str(config), "--format", "json"],
                              env={**os.environ, "DUPFINDER_URL": pg_url})
    assert scan.exit_code == 1, scan.output
    table = {t["table"]: t for t in json.loads(scan.stdout)["tables"]}["invoices"]
    assert {c["key"]["customer_id"] for c in table["clusters"]} == set(doubled)



def _scan_with_writers(url: str) -> dict:
    out = CliRunner().invoke(main, ["scan", url, "--table", "invoices", "--key", "customer_id", "--key",
                                    "billing_period", "--ts", "created_at", "--writer", "host=pod_name",
                                    "--writer", "version=app_version", "--format", "json"])
    assert out.exit_code == 1, out.output
    return json.loads(out.stdout)["tables"][0]


def test_one_rolling_deploy_is_one_incident_whatever_pods_it_churned_through(pg_url):
    """Incidents group clusters by their hosts, versions and apps. A rolling deploy's overlap pairs every old pod
    with every new one: two and two pods made four incidents with the same sentence ("Releases 1.4.2 and 1.5.0
    both ran the job during a deploy", 63, 61, 68 and 60 keys on a 40 s overlap), each with the same fixes,
    where a person reads one deploy. A deploy overlap's incident is now its releases; the pods are its writers."""
    doubled = _rolling_deploy(pg_url)
    table = _scan_with_writers(pg_url)
    assert {c["key"]["customer_id"] for c in table["clusters"]} == set(doubled)
    assert {c["mechanism"] for c in table["clusters"]} == {"deploy_overlap"}
    pods = {c["rows"][i]["writer"]["host"] for c in table["clusters"] for i in (0, 1)}
    assert len(pods) >= 3, pods  # the race went through more than one pair of pods
    [incident] = table["incidents"]
    assert incident["clusters"] == len(doubled)
    assert {w["host"] for w in incident["writers"]} == pods


def test_the_deploy_fix_names_a_strategy_that_stops_the_overlap(pg_url):
    """The fix said "`maxSurge: 0` for the scheduler's Deployment". With more than one replica a rolling update
    under maxSurge 0 still runs old and new pods side by side (it replaces maxUnavailable pods at a time, and
    Kubernetes refuses maxSurge and maxUnavailable both 0): here, two old and two new pods. `strategy: Recreate`
    stops every old pod before a new one starts. And these pods held an advisory lock, one per release (the new
    release renamed it): a lock is a singleton only when every release takes the same one."""
    _rolling_deploy(pg_url)
    incident = _scan_with_writers(pg_url)["incidents"][0]
    assert incident["mechanism"] == "deploy_overlap", incident
    first, singleton = incident["recommendations"][:2]
    assert "Recreate" in first, first
    assert "maxSurge: 0` for" not in first, first
    assert "every release" in singleton, singleton


def _tables(url: str) -> tuple[list[tuple], list[tuple]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        invoices = [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM invoices ORDER BY id")]
        lines = [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM invoice_lines ORDER BY id")]
    engine.dispose()
    return invoices, lines


def test_cleanup_re_points_the_lines_of_a_partitioned_table_and_rollback_restores_them(pg_url, pg_server, tmp_path):
    """A partitioned table's primary key must hold its partition key, so a foreign key to it has two columns at
    least ((invoice_id, invoice_created_at) -> (id, created_at)); cleanup.sql re-pointed only one-column
    references and stopped on every such child ("510 row(s) of invoice_lines point at rows to delete and cannot be
    re-pointed"): no partitioned table with child rows could be cleaned. PostgreSQL's cleanup now re-points a
    reference to the whole primary key column by column; run for real: the copies go, every line sits under a
    survivor, running it again deletes nothing, and rollback.sql restores both tables exactly."""
    doubled = _rolling_deploy(pg_url)
    out = CliRunner().invoke(main, ["scan", pg_url, "--table", "invoices", "--key", "customer_id", "--key",
                                    "billing_period", "--ts", "created_at", "--writer", "host=pod_name",
                                    "--writer", "version=app_version", "--out", str(tmp_path), "-q"])
    assert out.exit_code == 1, out.output
    invoices, lines = _tables(pg_url)
    apply_sql(pg_url, (tmp_path / "cleanup.sql").read_text(), pg_server)
    after, lines_after = _tables(pg_url)
    assert len(after) == len(invoices) - len(doubled)
    assert len({(r[1], r[2]) for r in after}) == len(after)  # one invoice per (customer_id, billing_period)
    kept = {(r[0], r[7]) for r in after}  # (id, created_at)
    assert len(lines_after) == len(lines) and all((r[1], r[2]) in kept for r in lines_after)
    moved = sum(a != b for a, b in zip(lines, lines_after, strict=True))
    assert moved == 2 * len(doubled)  # each deleted copy's two lines, now under its survivor
    assert "nothing to delete" in apply_sql(pg_url, (tmp_path / "cleanup.sql").read_text(), pg_server)
    apply_sql(pg_url, (tmp_path / "rollback.sql").read_text(), pg_server)
    assert _tables(pg_url) == (invoices, lines)


# a client posting manual invoices to one pod with a 1 s timeout, retrying after a backoff; the pod's first
# attempt waits on a slow PDF service before it commits, so the retry's check finds nothing and both commit
CLIENT = r"""
import multiprocessing as mp, random, sys, time, psycopg
dsn, pod = sys.argv[1], sys.argv[2]

def attempt(customer, amount, slow):
    with psycopg.connect(dsn) as conn, conn.transaction():
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM invoices WHERE customer_id = %s AND billing_period = '2026-11'", (customer,))
        if cur.fetchone() is None:
            cur.execute("INSERT INTO invoices (customer_id, billing_period, amount, pod_name, app_version) "
                        "VALUES (%s, '2026-11', %s, %s, '1.5.0')", (customer, amount, pod))
            time.sleep(slow)

if __name__ == "__main__":
    rnd = random.Random(11)
    for i in range(6):
        slow = rnd.uniform(1.3, 2.0) if i % 3 else 0.05
        first = mp.Process(target=attempt, args=(f"M-{i:03d}", 20 + i, slow))
        first.start()
        first.join(1.0)                       # the client's timeout
        if first.is_alive():
            time.sleep(rnd.uniform(0.1, 0.4))  # backoff, then the same request again
            attempt(f"M-{i:03d}", 20 + i, 0.0)
            print(f"M-{i:03d}", flush=True)
        first.join()
        time.sleep(rnd.uniform(0.2, 0.8))
"""


def test_a_clients_retries_against_one_pod_are_not_a_second_scheduler(pg_url):
    """Measured on the 40 s rolling deploy: 3 invoices a client posted twice (1 s timeout, the pod's first attempt
    committing 1.2-1.8 s later) were one incident `duplicate_run` at 99.6%, "invoicer-... ran the job twice ...
    find the second scheduler entry and remove it", from "79% of the rows written then have a key written more
    than once (+2.7)" and "a constant offset (median 1.7 s, spread 31 ms, 3 clusters) (+1.3)" although the gaps
    ran 1.2-1.8 s (three offsets: the spread was the smaller distance of two, timing.scatter). Host and version
    alone cannot tell a retried request from a second run of a batch; the answer should be retry, or unknown with
    retry on its shortlist, not a confident second scheduler. Each retry was written and committed inside its
    first attempt's still-open transaction (commit "overtaken"): a second attempt made while the first still
    held, which a second run of a check-then-act job makes too where the first run stalled on the key; the two
    are pooled there, the signal a process or run column (model.POOLED_OVERTAKEN). Failed before: every cluster
    duplicate_run at 0.99 (4 of 6 requests retried, 2026-11-24)."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(SCHEMA)
    engine.dispose()
    done = subprocess.run([sys.executable, "-c", CLIENT, _libpq(pg_url), "invoicer-6b4f5d7c9-wx9rn"],
                          capture_output=True, text=True, timeout=120, check=True)
    retried = set(done.stdout.split())
    assert len(retried) == 4, done
    table = _scan_with_writers(pg_url)
    assert {c["key"]["customer_id"] for c in table["clusters"]} == retried
    for c in table["clusters"]:
        named = c["evidence"].get("candidates_names") or [c["mechanism"]]
        assert c["mechanism"] == "retry" or (c["mechanism"] == "unknown" and "retry" in named), c
        assert c["evidence"]["observations"]["commit"] == "overtaken", c
    assert "duplicate_run" not in {i["mechanism"] for i in table["incidents"]}, table["incidents"]


def test_the_overlap_stays_a_deploy_when_writer_columns_are_inferred(pg_url):
    """The README's path, discover then `scan --config`, infers the writer columns: pod_name (host), app_version
    (version) and job_id (run: 'job' is a run word). job_id is the job both pods claimed, so both copies carry
    it; the data does not confirm it as a writer column (467 distinct values in 731 rows), yet "one run (15)
    wrote every copy (+6.3)" outweighs "versions 1.4.2 and 1.5.0 wrote the copies (-5.1)": on the 40 s overlap
    all 252 deploy-overlap clusters were `retry` at 99.9% ("make the handler idempotent"), and app_version, not
    confirmed either (two releases alternating faster than a shuffle; the lockstep exception covers host,
    process and run only), made all 252 divergent, so cleanup.sql deleted 3 of 255 copies. A run column the
    data does not confirm should not outweigh the versions, or a value shared by copies on two hosts at once
    should not read as one run."""
    doubled = _rolling_deploy(pg_url)
    out = CliRunner().invoke(main, ["scan", pg_url, "--table", "invoices", "--key", "customer_id", "--key",
                                    "billing_period", "--ts", "created_at", "--format", "json"])
    table = json.loads(out.stdout)["tables"][0]
    assert {c["key"]["customer_id"] for c in table["clusters"]} == set(doubled)
    assert {c["mechanism"] for c in table["clusters"]} == {"deploy_overlap"}


def test_discover_keeps_a_one_value_period_in_the_key(pg_url, tmp_path):
    """The pods billed one period, 2026-11, so billing_period tells no invoice apart in the data and discover
    proposed (customer_id) alone: a UNIQUE constraint on it, as migration.sql writes for the key, refuses every
    customer's December invoice. A period column holding one value in every row read now joins the key; the
    scan with it finds the same copies, and the constraint the proposal implies takes a second period (checked
    on a copy of the table: a December invoice per customer is accepted, a second November one refused)."""
    doubled = _rolling_deploy(pg_url)
    out = CliRunner().invoke(main, ["discover", pg_url, "-o", str(tmp_path / "d.toml"), "--format", "json"])
    proposed = {t["table"]: t for t in json.loads(out.stdout)["tables"]}["invoices"]
    assert proposed["keys"] == ["customer_id", "billing_period"], proposed
    scan = CliRunner().invoke(main, ["scan", "--config", str(tmp_path / "d.toml"), "--format", "json"],
                              env={**os.environ, "DUPFINDER_URL": pg_url})
    table = {t["table"]: t for t in json.loads(scan.stdout)["tables"]}["invoices"]
    assert {c["key"]["customer_id"] for c in table["clusters"]} == set(doubled)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE proposed AS SELECT DISTINCT customer_id, billing_period FROM invoices")
        conn.exec_driver_sql(f"ALTER TABLE proposed ADD UNIQUE ({', '.join(proposed['keys'])})")
        december = conn.exec_driver_sql("INSERT INTO proposed SELECT customer_id, '2026-12' FROM invoices "
                                        "GROUP BY customer_id").rowcount
    assert december == 90  # every customer of the 90 jobs gets its next period's invoice
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.exec_driver_sql("INSERT INTO proposed SELECT customer_id, '2026-11' FROM invoices LIMIT 1")
    engine.dispose()
