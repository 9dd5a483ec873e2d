"""Benchmark: a DBA's payments table, unlike the peers' (stranger21): does a scan keep the README's ratios there?

The peers' table (benchmarks/peers.py) is narrow (six columns), keyed by integers, its copies are pairs and the
scan is given `--writer host=host`. This one is what a payments database holds: a text business key
(`merchant_ref text, attempt_date date`), a bigint identity, wide rows (jsonb metadata, text notes, a uuid-like
idempotency key, about 480 bytes a row), host and pid columns, a timestamptz with an index and a naive timestamp
beside it; 0.0375% of the keys written again by a second writer 50-800 ms later (10% of them with another
status), 0.005% written 3 to 5 times, 100 keys written again an hour later, NULL keys (1 in 2,000) and NULL
times (1 in 3,001), some of them written again. The scans run as a non-superuser role granted SELECT only.

Each variant runs as its own process under /usr/bin/time, interleaved with a bare GROUP BY in psql round after
round; the script prints the medians, their ratio to the GROUP BY of the same run (without the (key, ts)
index), the peak RSS, and whether the clusters are exactly those a window query over the table finds
(superuser, independent of dupfinder). Then `--since 30m` after a deploy batch of 20,000 rows holding 16 keys
written twice. Variants: `default` (writers inferred from names and data), `host` (`--writer host=host`, as
the peers' table), `host_pid` (`--writer host=host --writer process=pid`, as the README's example), `none`
(`--no-infer-writers`).

    python benchmarks/payments_wide.py [--rows 8000000] [--runs 2] [--variants default,host,host_pid,none]

8M rows take about 4 minutes to build (3.8 GB) and a round about 4 minutes on 2 cores; `--rows 200000` checks
the script in a minute. Figures from one run are in docs/benchmarks.md ("A wide payments table").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from pg_server import PostgresServer  # noqa: E402

KEY = ["--table", "payments", "--key", "merchant_ref", "--key", "attempt_date", "--ts", "created_at"]
VARIANTS = {"default": [], "host": ["--writer", "host=host"],
            "host_pid": ["--writer", "host=host", "--writer", "process=pid"], "none": ["--no-infer-writers"]}
GROUP_BY = ("SELECT count(*) FROM (SELECT merchant_ref, attempt_date FROM payments "
            "GROUP BY merchant_ref, attempt_date HAVING count(*) > 1) s")
COLUMNS = ("merchant_ref, attempt_date, idempotency_key, amount, currency, status, metadata, notes, host, pid, "
           "created_at, created_naive")

BUILD = f"""
CREATE TABLE payments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, merchant_ref text, attempt_date date,
  idempotency_key text, amount numeric(12,2) NOT NULL, currency text NOT NULL, status text NOT NULL, metadata jsonb,
  notes text, host text, pid integer, created_at timestamptz, created_naive timestamp);
INSERT INTO payments ({COLUMNS})
SELECT CASE WHEN mod(i, 2000) = 3 THEN NULL ELSE format('mch%s-ord-%s', lpad(mod(i, 20000)::text, 5, '0'), i) END,
       (ts AT TIME ZONE 'UTC')::date,
       substr(md5(i::text), 1, 8) || '-' || substr(md5(i::text), 9, 4) || '-4' || substr(md5(i::text), 14, 3)
         || '-a' || substr(md5(i::text), 18, 3) || '-' || substr(md5(i::text), 21, 12),
       mod(i * 7919, 100000) / 100.0 + 1, (ARRAY['EUR','USD','GBP'])[1 + mod(i, 3)], 'captured',
       jsonb_build_object('card_bin', lpad(mod(i * 31, 999999)::text, 6, '0'),
                          'country', (ARRAY['DE','FR','US','GB','NL'])[1 + mod(i, 5)],
                          'risk', jsonb_build_object('score', mod(i * 13, 100), 'rules',
                                                     jsonb_build_array('velocity', 'geo', 'bin')),
                          'ua', 'Mozilla/5.0 (X11; Linux x86_64) checkout-sdk/4.' || mod(i, 17)),
       'payment for order ' || i || ' via ' || (ARRAY['web','ios','android','api'])[1 + mod(i, 4)] || ' '
         || repeat(md5((i + 1)::text), 2),
       CASE WHEN mod(extract(hour from ts)::int, 2) = 0 THEN 'pay-01' ELSE 'pay-03' END, 1000 + mod(i, 50),
       CASE WHEN mod(i, 3001) = 5 THEN NULL ELSE ts END,
       CASE WHEN mod(i, 3001) = 5 THEN NULL ELSE ts AT TIME ZONE 'UTC' END
FROM (SELECT i, now() - interval '30 days' + i * interval '30 days' / :rows AS ts
      FROM generate_series(1::bigint, :rows) i) g;
INSERT INTO payments ({COLUMNS})  -- a second writer 50-800 ms later, 10% with another status
SELECT merchant_ref, attempt_date, idempotency_key, amount, currency,
       CASE WHEN mod(id, 10) = 0 THEN 'authorized' ELSE status END, metadata, notes, 'pay-02', 2000 + mod(id, 50),
       created_at + (50 + mod(id * 7919, 751)) * interval '1 ms',
       created_naive + (50 + mod(id * 7919, 751)) * interval '1 ms'
FROM payments WHERE mod(id, 2667) = 7;
INSERT INTO payments ({COLUMNS})  -- keys written 3-5 times
SELECT merchant_ref, attempt_date, idempotency_key, amount, currency, status, metadata, notes,
       CASE WHEN mod(k, 2) = 1 THEN 'pay-02' ELSE 'pay-04' END, 3000 + k,
       created_at + k * (50 + mod(id * 7919, 751)) * interval '1 ms',
       created_naive + k * (50 + mod(id * 7919, 751)) * interval '1 ms'
FROM payments, generate_series(1, 2 + mod(id, 3)::int) k WHERE mod(id, 20011) = 13 AND id <= :rows;
INSERT INTO payments ({COLUMNS})  -- far duplicates, an hour later
SELECT merchant_ref, attempt_date, idempotency_key, amount, currency, status, metadata, notes, 'pay-02', 4000,
       created_at + interval '1 hour', created_naive + interval '1 hour'
FROM payments WHERE mod(id, 80021) = 17 AND id <= :rows AND created_at < now() - interval '2 hours';
INSERT INTO payments ({COLUMNS})  -- a NULL-time row written again with a time: no cluster
SELECT merchant_ref, attempt_date, idempotency_key, amount, currency, status, metadata, notes, 'pay-02', 5000,
       now() - interval '30 days' + id * interval '30 days' / :rows,
       (now() - interval '30 days' + id * interval '30 days' / :rows) AT TIME ZONE 'UTC'
FROM payments WHERE created_at IS NULL AND mod(id, 7) = 0 AND id <= :rows;
CREATE INDEX payments_created_at ON payments (created_at);
VACUUM ANALYZE payments;
CREATE ROLE auditor LOGIN;
GRANT SELECT ON payments TO auditor;
"""
DEPLOY = f"""
INSERT INTO payments ({COLUMNS})
SELECT 'deploy-' || i, current_date, md5('d' || i), 10 + mod(i, 500), 'EUR', 'captured', '{{"card_bin": "411111"}}',
       'post-deploy order ' || i, 'pay-01', 1000 + mod(i, 50), now() - interval '20 minutes' + i * interval '60 ms',
       (now() - interval '20 minutes' + i * interval '60 ms') AT TIME ZONE 'UTC'
FROM generate_series(1, 20000) i;
INSERT INTO payments ({COLUMNS})
SELECT merchant_ref, attempt_date, idempotency_key, amount, currency, status, metadata, notes, 'pay-02', 2000,
       created_at + (50 + mod(id * 7919, 751)) * interval '1 ms',
       created_naive + (50 + mod(id * 7919, 751)) * interval '1 ms'
FROM payments WHERE merchant_ref LIKE 'deploy-%' AND mod(substr(merchant_ref, 8)::int, 1300) = 11;
ANALYZE payments;
"""
TRUTH = """SELECT id FROM (
  SELECT id, created_at - lag(created_at) OVER w AS gp, lead(created_at) OVER w - created_at AS gn
  FROM payments WHERE merchant_ref IS NOT NULL AND created_at IS NOT NULL {since}
  WINDOW w AS (PARTITION BY merchant_ref, attempt_date ORDER BY created_at, id)) s
WHERE gp <= interval '2 s' OR gn <= interval '2 s' ORDER BY id"""


def psql(server: PostgresServer, sql: str, user: str = "postgres", **variables: str) -> str:
    cmd = [server.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(server.port),
           "-U", user, "-d", "postgres", *(f"-v{k}={v}" for k, v in variables.items())]
    return subprocess.run(cmd, input=sql, capture_output=True, text=True, check=True).stdout


def timed(cmd: list[str]) -> tuple[float, int, int]:
    """Wall time, peak RSS (MB) and exit code of one process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *cmd], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    last = done.stderr.strip().splitlines()[-1]
    if not last.startswith("maxrss_kb=") or done.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:4]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, int(last.split("=")[1]) // 1024, done.returncode


def found_ids(out: Path) -> list[int]:
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    return sorted(r["pk"]["id"] for c in table["clusters"] for r in c["rows"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--variants", default="default,host,host_pid,none")
    args = parser.parse_args()
    variants = args.variants.split(",")
    server = PostgresServer(commit_timestamps=False).start()
    work = Path(tempfile.mkdtemp(prefix="dupfinder-payments-"))
    url = server.url(user="auditor")
    scan = [sys.executable, "-m", "dupfinder", "scan", url, *KEY]
    try:
        started = time.perf_counter()
        psql(server, BUILD, rows=str(args.rows))
        print(f"built {args.rows:,} rows in {time.perf_counter() - started:.0f} s; load {os.getloadavg()}")
        truth = [int(x) for x in psql(server, TRUTH.format(since="")).split()]
        rows: list[tuple[str, float, int, str]] = []
        base = None
        for index in (False, True):
            if index:
                psql(server, "CREATE INDEX payments_key_ts ON payments (merchant_ref, attempt_date, created_at);"
                             "ANALYZE payments;")
            times: dict[str, list[tuple[float, int, int]]] = {"gb": [], **{v: [] for v in variants}}
            exact = {}
            for _ in range(args.runs):
                times["gb"].append(timed([server.psql, "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p",
                                          str(server.port), "-U", "auditor", "-d", "postgres", "-c", GROUP_BY]))
                for v in variants:
                    out = work / f"{v}_{index}"
                    times[v].append(timed([*scan, *VARIANTS[v], "--out", str(out)]))
                    exact[v] = "exact" if found_ids(out) == truth else "NOT exact"
            gb = statistics.median(t[0] for t in times["gb"])
            base = base or gb
            label = ", (key, ts) index" if index else ""
            rows.append((f"bare GROUP BY{label}", gb, max(t[1] for t in times["gb"]), ""))
            rows += [(f"scan --out {v}{label}", statistics.median(t[0] for t in times[v]),
                      max(t[1] for t in times[v]), exact[v]) for v in variants]
        psql(server, DEPLOY)
        since = [timed([*scan, "--since", "30m", "--out", str(work / "since")]) for _ in range(args.runs)]
        recent = [int(x) for x in psql(server, TRUTH.format(since="AND created_at >= now() - interval '40 minutes'")
                                       ).split()]
        rows.append(("scan --out --since 30m (after a deploy, default writers)",
                     statistics.median(t[0] for t in since), max(t[1] for t in since),
                     "exact" if set(found_ids(work / "since")) <= set(recent) and len(found_ids(work / "since"))
                     else "NOT exact"))
        print(f"{args.rows:,} rows, {args.runs} runs each, interleaved; load {os.getloadavg()}\n")
        print("| case | median | ÷ bare GROUP BY (no index) | peak RSS | clusters |\n|---|---|---|---|---|")
        for name, s, rss, note in rows:
            print(f"| {name} | {s:.2f} s | {s / base:.2f} | {rss} MB | {note} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
