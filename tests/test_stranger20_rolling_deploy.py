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
import time

import sqlalchemy as sa
from click.testing import CliRunner

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
"""

# one pod: poll the oldest pending job under its release's lock, check, insert, render, mark done
POD = r"""
import json, random, sys, time, zlib, psycopg
dsn, pod, version, start, stop = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
lock = zlib.crc32(("invoice-run" if version == "1.4.2" else "invoicer.billing.run").encode())
rnd = random.Random(pod)
time.sleep(max(0.0, start - time.time()))
with psycopg.connect(dsn) as conn:
    while time.time() < stop:
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
                print(json.dumps({"key": job[1], "version": version, "id": str(cur.fetchone()[0])}), flush=True)
            time.sleep(rnd.uniform(0.02, 0.05))  # render the PDF, send it
            cur.execute("UPDATE jobs SET status = 'done' WHERE id = %s", (job[0],))
"""


def _libpq(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _rolling_deploy(url: str, jobs: int = 90) -> dict[str, set[str]]:
    """Two old pods from t=0 to t=1.6 s, two new pods from t=0.6 s until the queue is empty: about a second of
    overlap, real processes, real timing. Returns each key's versions as the writers logged them."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(SCHEMA)
        for n in range(jobs):
            conn.exec_driver_sql("INSERT INTO jobs (customer_id, billing_period, amount) VALUES (%s, '2026-11', %s)",
                                 (f"C-{n:05d}", f"{10 + n}.50"))
    engine.dispose()
    t0 = time.time() + 1.0
    pods = [("invoicer-7d9f8c6b5-kq2xz", "1.4.2", 0.0, 1.6), ("invoicer-7d9f8c6b5-p8m4t", "1.4.2", 0.0, 1.6),
            ("invoicer-6b4f5d7c9-wx9rn", "1.5.0", 0.6, 30.0), ("invoicer-6b4f5d7c9-zl5vh", "1.5.0", 0.6, 30.0)]
    procs = [subprocess.Popen([sys.executable, "-c", POD, _libpq(url), pod, version, str(t0 + a), str(t0 + b)],
                              stdout=subprocess.PIPE, text=True) for pod, version, a, b in pods]
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
