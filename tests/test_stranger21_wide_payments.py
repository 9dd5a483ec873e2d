"""stranger21: a DBA's payments table (text business key, wide rows, a uuid-like idempotency key every copy
repeats, keys written 3-5 times, NULL keys and times) scanned on PostgreSQL with the writers left to inference.

Measured on 8M such rows (2 cores, load 3-5): the writer-profile statement, a window over every row around the
clusters, was half of a 120-135 s scan; profiling columns no role can come from (the copies never differ in them)
cost it a count(DISTINCT) each (44 -> 25 s with the idempotency key and the currency left out)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import run_statements
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlrun import apply_sql, rows_of

from dupfinder.attribution import roles
from dupfinder.cli import main
from dupfinder.cluster import Cluster, ClusterRow

NEAR, MULTI, BASE = 40, 8, 1_500


def build(url: str) -> None:
    """BASE payments on one writer (pay-01, pids 1000-1009); NEAR keys written again by a second writer
    (pay-02) 50-800 ms later, MULTI keys written 3-5 times; the copies repeat the idempotency key, the currency
    and the metadata; a NULL-key pair and a NULL-time pair that are no clusters."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE payments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, merchant_ref text, "
            "attempt_date date, idempotency_key text, amount numeric(12,2) NOT NULL, currency text NOT NULL, "
            "status text NOT NULL, metadata jsonb, notes text, host text, pid integer, created_at timestamptz)")
        conn.exec_driver_sql(
            "INSERT INTO payments (merchant_ref, attempt_date, idempotency_key, amount, currency, status, metadata, "
            "notes, host, pid, created_at) "
            "SELECT CASE WHEN i = 5 THEN NULL ELSE 'mch' || mod(i, 97) || '-ord-' || i END, date '2026-11-01', "
            "md5(i::text), mod(i, 1000) + 0.5, (ARRAY['EUR','USD','GBP'])[1 + mod(i, 3)], 'captured', "
            "jsonb_build_object('bin', mod(i, 999), 'risk', mod(i, 100)), repeat('note ', 20) || i, 'pay-01', "
            "1000 + mod(i, 10), "
            "CASE WHEN i = 9 THEN NULL ELSE timestamptz '2026-11-01 00:00:00+00' + i * interval '3 s' END "
            f"FROM generate_series(1, {BASE}) i")
        copy = ("INSERT INTO payments (merchant_ref, attempt_date, idempotency_key, amount, currency, status, "
                "metadata, notes, host, pid, created_at) SELECT merchant_ref, attempt_date, idempotency_key, amount, "
                "currency, status, metadata, notes, 'pay-02', 2000 + mod(id, 10), created_at + {gap} * interval '1 ms' "
                "FROM payments, generate_series(1, {copies}) k WHERE {which}")
        conn.exec_driver_sql(copy.format(gap="(50 + mod(id * 7919, 751))", copies=1,
                                         which=f"id IN (5, 9) OR (mod(id, 31) = 3 AND id <= {31 * NEAR})"))
        conn.exec_driver_sql(copy.format(gap="k * (50 + mod(id * 7919, 251))", copies="2 + mod(id, 3)",
                                         which=f"mod(id, 31) = 20 AND id <= {31 * MULTI}"))
        conn.exec_driver_sql("ANALYZE payments")
    engine.dispose()


@contextmanager
def statements():
    seen: list[str] = []

    def record(conn, cursor, statement, *rest):
        seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def test_columns_every_copy_repeats_are_not_profiled_for_writer_roles(pg_url):
    """Inferred writers (the default): the clusters are exact, host/pid are the writer columns, and the profile
    statement reads the columns a role can come from (the name-found host and pid, a status) but not the
    idempotency key or the currency, which every copy repeats: ``assign`` gives them no role whatever they
    count, and each cost the statement a count(DISTINCT) over every row around the clusters."""
    build(pg_url)
    with statements() as seen:
        result = CliRunner().invoke(main, ["scan", pg_url, "--table", "payments", "--key", "merchant_ref",
                                           "--key", "attempt_date", "--ts", "created_at", "--format", "json"])
    assert result.exit_code == 1, result.output
    table = json.loads(result.stdout)["tables"][0]
    sizes = sorted(len(c["rows"]) for c in table["clusters"])
    assert sizes.count(2) == NEAR and len(sizes) == NEAR + MULTI, sizes  # the NULL-key and NULL-time pairs: none
    assert sorted(sizes[NEAR:]) == sorted(3 + i % 3 for i in range(20, 31 * MULTI + 1, 31)), sizes
    assert table["rows_null_key"] == 2 and table["rows_null_ts"] == 2, table
    assert {w["role"]: w["column"] for w in table["writer_columns"]} == {"host": "host", "process": "pid"}
    profile = [s for s in seen if "count(DISTINCT" in s and "lag(" in s]
    assert len(profile) == 1, profile
    assert '"pid"' in profile[0] or " pid " in profile[0] or "pid AS" in profile[0], profile[0]
    for column in ("idempotency_key", "currency"):
        assert column not in profile[0], profile[0]


def test_a_role_granted_some_columns_is_told_which_it_may_not_read(pg_url):
    """A payments DBA keeps PII from the auditor with column privileges (GRANT SELECT (id, merchant_ref, ...)).
    The scan reads every column, so it cannot run; it failed with "permission denied for table payments" and no
    word of which columns. Now one Error: line naming the columns, exit 3, before any row is read; with SELECT
    on the whole table the same role scans (the read-only role suffices)."""
    build(pg_url)
    role = f"s21_cols_{os.getpid()}"
    readable = "id, merchant_ref, attempt_date, amount, currency, status, host, pid, created_at"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD 'cols-pw'")
        conn.exec_driver_sql(f"GRANT SELECT ({readable}) ON payments TO {role}")
    url = sa.make_url(pg_url).set(username=role, password="cols-pw").render_as_string(hide_password=False)
    args = ["scan", url, "--table", "payments", "--key", "merchant_ref", "--key", "attempt_date",
            "--ts", "created_at", "--format", "summary"]
    try:
        refused = CliRunner().invoke(main, args)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"GRANT SELECT ON payments TO {role}")
        granted = CliRunner().invoke(main, args)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        engine.dispose()
    assert refused.exit_code == 3, refused.output
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), refused.stderr
    assert "idempotency_key, metadata, notes" in lines[0] and role in lines[0], lines[0]
    assert "cols-pw" not in refused.output
    assert granted.exit_code == 1, granted.output
    assert json.loads(granted.stdout)["totals"]["clusters"] == NEAR + MULTI


COLUMNS = ("srv", "status", "ver", "lauf", "currency")
VALUES = st.one_of(st.none(), st.integers(0, 3), st.sampled_from(["a", "b", "pay-01", "pay-02", "1.2.0", "1.3.0"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.fixed_dictionaries({c: VALUES for c in COLUMNS}), min_size=2, max_size=4),
                min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 400), st.integers(0, 12), st.integers(0, 120)),
                min_size=len(COLUMNS), max_size=len(COLUMNS)),
       st.sets(st.sampled_from(["host", "process", "run", "version"]), min_size=1), st.booleans())
def test_the_columns_left_unprofiled_change_no_role(clusters_values, counts, missing, derived):
    """roles.assignable drops the candidates assign can give no role; assign over the profiles of every
    candidate and over those kept answers alike, whatever the statement counted (rows, distinct values,
    changes: generated), with the shares computed from the clusters as roles.profile computes them. With
    ``derived`` each cluster has one 'srv' and each copy its own 'lauf' (runs on one host): a column the copies
    do not differ in, determined by one they differ in, which assign may still name."""
    if derived:  # each cluster on one host, each copy by its own run
        clusters_values = [[{**v, "srv": rows[0]["srv"], "lauf": f"{rows[0]['srv']}/{i}"} for i, v in enumerate(rows)]
                           for rows in clusters_values]
    clusters = [Cluster({"k": n}, tuple(ClusterRow({"id": 10 * n + i}, "", 1_000_000 * n + i, {}, False, v)
                                        for i, v in enumerate(rows)), 0.001, "divergent", (), ())
                for n, rows in enumerate(clusters_values)]
    profiles = []
    for column, (rows, distinct, changes) in zip(COLUMNS, counts, strict=True):
        values = [[str(r.values.get(column)) for r in c.rows] for c in clusters]
        profiles.append(roles.Profile(column, rows, distinct, changes,
                                      sum(1 for v in values if len(set(v)) > 1) / len(clusters),
                                      sum(1 for v in values if len(set(v)) == len(v)) / len(clusters),
                                      len(clusters)))
    kept = roles.assignable(clusters, list(COLUMNS))
    assert roles.assign([p for p in profiles if p.column in kept], clusters, set(missing)) == \
        roles.assign(profiles, clusters, set(missing))


WRITERS = ("--writer", "host=host", "--writer", "process=pid")


def test_a_view_s_cleanup_sql_does_not_announce_deletes(pg_url, pg_server, tmp_path):
    """A view of the columns a restricted role may read scans with --id (docs/scanning.md); cleanup.sql deletes
    nothing from a view, yet its header said "deletes 40 rows that duplicate an earlier row exactly" and
    "40 rows to delete" above the view's "nothing deleted". Run as psql would, it changes no row."""
    build(pg_url)
    run_statements(pg_url, "CREATE VIEW payments_ro AS SELECT id, merchant_ref, attempt_date, amount, currency, "
                           "status, host, pid, created_at FROM payments")
    before = rows_of(pg_url, "payments")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", pg_url, "--table", "payments_ro", "--key", "merchant_ref",
                                       "--key", "attempt_date", "--ts", "created_at", "--id", "id", *WRITERS,
                                       "--out", str(out)])
    assert result.exit_code == 1, result.output
    cleanup = (out / "cleanup.sql").read_text()
    header = cleanup[:cleanup.index("\n\n")]
    assert "-- deletes 0 rows" in header and "none deleted" in header and "to delete" not in header, header
    assert "nothing deleted (a view" in cleanup
    apply_sql(pg_url, cleanup, pg_server)
    assert rows_of(pg_url, "payments") == before
    assert json.loads((out / "findings.json").read_text())["tables"][0]["rows_to_delete"] == 0
    summary = CliRunner().invoke(main, ["scan", pg_url, "--table", "payments_ro", "--key", "merchant_ref", "--key",
                                        "attempt_date", "--ts", "created_at", "--id", "id", *WRITERS,
                                        "--format", "summary", "--fail-on", "delete>0"])
    assert summary.exit_code == 0, summary.output  # the gate on rows cleanup.sql would delete does not trip
    verdict = json.loads(summary.stdout)
    assert verdict["totals"]["delete"] == 0 and verdict["tables"][0]["delete"] == 0, verdict
    assert verdict["totals"]["divergent"] < NEAR + MULTI, verdict  # identical copies a table's cleanup deletes
