"""A scan of a PostgreSQL hot standby (a streaming replica), the way an audit that must never touch the primary
runs: a read-only role on the standby while the primary keeps writing and vacuuming.

One primary and one standby (pg_basebackup -R) for the module; each test writes its own database on the
primary and reads it on the standby once replayed.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import psycopg
import pytest
from click.testing import CliRunner
from pg_server import PostgresServer
from sqlrun import SQLFailed, apply_sql

from dupfinder import api
from dupfinder.cli import main
from dupfinder.config import ScanOptions, TableSpec
from dupfinder.errors import QueryFailed
from dupfinder.findings import findings_dict

LEDGER = """
CREATE TABLE payments (
    id bigserial PRIMARY KEY,
    payment_ref text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE ROLE auditor LOGIN;
GRANT SELECT ON payments TO auditor;
"""


@pytest.fixture(scope="module")
def replica():
    """(primary, standby): the standby cancels a query that holds replay back for more than 100 ms, and sends
    no feedback, as a standby left at its defaults would after max_standby_streaming_delay (30 s). The primary
    keeps commit timestamps and the standby's own track_commit_timestamp is off: it has them all the same
    (replayed from the primary; the standby's setting does nothing)."""
    primary = PostgresServer().start()
    try:
        standby = primary.standby(max_standby_streaming_delay="100ms", hot_standby_feedback="off",
                                  track_commit_timestamp="off")
    except BaseException:
        primary.stop()
        raise
    yield primary, standby
    standby.stop()
    primary.stop()


def _connect(server: PostgresServer, database: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname=database, autocommit=True)


@pytest.fixture
def ledger(replica, request):
    """A database on the primary holding the payments table (auditor may read it), replayed on the standby."""
    primary, standby = replica
    name = request.node.name.split("[")[0][:40].lower()
    with _connect(primary) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with _connect(primary, name) as conn:
        conn.execute(LEDGER)
    standby.wait_for_replay(primary)
    yield name
    with _connect(primary) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute("DROP ROLE auditor")


def job_ran_twice(primary: PostgresServer, database: str, batch: str, rows: int = 12) -> None:
    """The settlement job's run and its second run 150 ms later (a standby's forgotten cron entry): each
    inserts the whole batch, one payment per transaction, as the job's loop does."""
    def run(delay: float) -> None:
        time.sleep(delay)
        with _connect(primary, database) as conn:
            for n in range(rows):
                conn.execute("INSERT INTO payments (payment_ref, amount) VALUES (%s, %s)",
                             (f"{batch}-{n:03d}", 10 + n))
                time.sleep(0.005)

    runs = [threading.Thread(target=run, args=(delay,)) for delay in (0, 0.15)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()


def _url(server: PostgresServer, database: str) -> str:
    return server.url(database, user="auditor")


def _refs(doc: dict) -> set[str]:
    return {c["key"]["payment_ref"] for t in doc["tables"] for c in t["clusters"]}


def test_standby_scan_says_how_far_it_had_replayed(replica, ledger, tmp_path):
    """A lagging standby holds none of the rows the primary committed after its replay point: the findings, the
    summary and the report say when that point was, and the SQL files that they must run on the primary (the
    standby refuses them). Before, nothing said the scan read a standby: a scan while replay was paused found
    one batch of two, silently, and cleanup.sql named no server to run on."""
    primary, standby = replica
    job_ran_twice(primary, ledger, "PAY-A")
    standby.wait_for_replay(primary)
    with _connect(standby) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        job_ran_twice(primary, ledger, "PAY-B")  # committed on the primary, not replayed
        out = tmp_path / "out"
        scan = ["scan", _url(standby, ledger), "--table", "payments", "--key", "payment_ref", "--ts", "created_at"]
        result = CliRunner().invoke(main, [*scan, "--out", str(out)])
        summary = CliRunner().invoke(main, [*scan, "--since", "1h", "--format", "summary"])
    finally:
        with _connect(standby) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    assert result.exit_code == 1, result.output
    doc = json.loads((out / "findings.json").read_text())
    assert _refs(doc) == {f"PAY-A-{n:03d}" for n in range(12)}
    seen = doc["standby"]
    assert seen["replay_paused"] is True
    with _connect(primary, ledger) as conn:
        first_unseen = conn.execute("SELECT min(created_at) FROM payments WHERE payment_ref LIKE 'PAY-B%'"
                                    ).fetchone()[0]
    assert datetime.fromisoformat(seen["last_replayed_commit"]) < first_unseen
    assert seen["seconds_since_last_replayed_commit"] > 0
    said = f"committed up to {seen['last_replayed_commit']}"
    assert said in result.output and "Run cleanup.sql and migration.sql on the primary" in result.output
    assert said.replace("'", "&#39;") in (out / "report.html").read_text()
    assert json.loads(summary.stdout)["standby"]["replay_paused"] is True  # a CI check's verdict says it too
    assert "warning: read on a hot standby" in summary.stderr and "(replay paused)" in summary.stderr
    for name in ("cleanup.sql", "rollback.sql", "migration.sql"):
        header = (out / name).read_text().split("\n\n")[0]
        assert said in header and "on the primary" in header, name

    cleanup = (out / "cleanup.sql").read_text()
    with pytest.raises(SQLFailed, match="read-only transaction"):
        apply_sql(standby.url(ledger), cleanup, standby)
    apply_sql(primary.url(ledger), cleanup, primary)
    standby.wait_for_replay(primary)
    again = api.scan(ScanOptions(url=_url(standby, ledger), tables=(
        TableSpec(table="payments", keys=("payment_ref",), ts="created_at"),)))
    doc = findings_dict(again)
    assert _refs(doc) == {f"PAY-B-{n:03d}" for n in range(12)}  # A cleaned up on the primary, B replayed since
    assert doc["standby"]["replay_paused"] is False


def test_primary_findings_have_no_standby(replica, ledger):
    """Only a standby's scan carries the standby fields and sentences."""
    primary, _ = replica
    job_ran_twice(primary, ledger, "PAY-P", rows=3)
    result = CliRunner().invoke(main, ["scan", _url(primary, ledger), "--table", "payments",
                                       "--key", "payment_ref", "--ts", "created_at", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert "standby" not in json.loads(result.stdout) and "hot standby" not in result.output


def test_recovery_conflict_says_which_standby_settings_to_change(replica, ledger):
    """The primary vacuums away rows the scan's snapshot still sees; the standby cancels the scan after
    max_standby_streaming_delay. The error is one line that says so and what to change (hot_standby_feedback,
    max_standby_streaming_delay, --since), exit 3; it was the server's bare "canceling statement due to conflict
    with recovery". The progress callback, called between the scan's statements, is where the primary's VACUUM
    runs: after the clusters are read, while the scan still has statements to run in its snapshot."""
    primary, standby = replica
    job_ran_twice(primary, ledger, "PAY-C", rows=3)
    standby.wait_for_replay(primary)

    def vacuum_under_the_scan(table: str, phase: str, *_: object) -> None:
        if phase != "attributing writers":  # clusters read: rows vacuumed away now are rows its snapshot sees
            return
        with _connect(primary, ledger) as conn:
            conn.execute("DELETE FROM payments WHERE payment_ref = 'PAY-C-000'")
            conn.execute("VACUUM payments")
        standby.wait_for_replay(primary)  # replay waits 100 ms for the scan, then cancels it

    options = ScanOptions(url=_url(standby, ledger), tables=(
        TableSpec(table="payments", keys=("payment_ref",), ts="created_at"),))
    with pytest.raises(QueryFailed) as failed:
        api.scan(options, vacuum_under_the_scan)
    message = str(failed.value)
    assert failed.value.exit_code == 3
    assert "\n" not in message and "conflict with recovery" in message
    assert "hot_standby_feedback = on" in message and "max_standby_streaming_delay" in message, message


def test_standby_finds_what_the_primary_finds(replica, ledger):
    """The same rows, replayed: the same clusters, survivors, mechanisms, explanations and incidents on both (the
    heap, the transaction ids and commit timestamps are the primary's, replayed). The standby's commit
    timestamps were reported "off (track_commit_timestamp = off on the server)" by its own setting, which does
    not decide it: they were there, unread, and the explanations asked for them."""
    primary, standby = replica
    job_ran_twice(primary, ledger, "PAY-S")
    standby.wait_for_replay(primary)
    spec = TableSpec(table="payments", keys=("payment_ref",), ts="created_at")

    def answer(server: PostgresServer) -> list:
        doc = findings_dict(api.scan(ScanOptions(url=_url(server, ledger), tables=(spec,))))
        table = doc["tables"][0]
        return [table["signals"], [(c["key"], [r["pk"] for r in c["rows"]], c["mechanism"], c["confidence"],
                                    c["explanation"]) for c in table["clusters"]],
                [(i["mechanism"], i["confidence"], i["clusters"]) for i in table["incidents"]]]

    on_primary = answer(primary)
    assert len(on_primary[1]) == 12
    assert answer(standby) == on_primary


def test_xmin_share_sample_is_the_same_on_primary_and_standby(replica, ledger):
    """A big table's xmin share is read from a block sample; the sample was drawn afresh on every scan, so the
    same table read 0.49 on one scan and 0.51 on the next (xmin trusted below 0.5, not above: the evidence and
    mechanisms changed with it), and the standby disagreed with its primary. Half of this table is one bulk
    load, half 500 small transactions: now every read of the same blocks gives the same share."""
    from dupfinder.connect import introspect, read_only
    from dupfinder.detect import _xmin_top_share

    primary, standby = replica
    with _connect(primary, ledger) as conn:
        fill = "INSERT INTO payments (payment_ref, amount) SELECT %s || g, 1 FROM generate_series(1, %s) g"
        conn.execute(fill, ("BULK-", 100_000))
        for batch in range(500):
            conn.execute(fill, (f"JOB-{batch}-", 200))
        conn.execute("ANALYZE payments")
    standby.wait_for_replay(primary)

    def share(server: PostgresServer) -> float:
        with read_only(_url(server, ledger)) as conn:
            return _xmin_top_share(conn, introspect(conn, "payments", {}), 0)

    shares = [share(server) for server in (primary, standby, primary, standby)]
    assert 0.3 < shares[0] < 0.7 and len(set(shares)) == 1, shares


def test_discover_stops_with_the_standby_advice_on_a_recovery_conflict(replica, ledger, monkeypatch, tmp_path):
    """discover reads table after table in one snapshot; when the standby cancels it to replay the primary's
    VACUUM, it stops with the scan's one-line error and advice (exit 3). It skipped the next table as one it
    "cannot read" and then failed with "unexpected PendingRollbackError ... report it" on the connection the
    standby had closed."""
    from dupfinder import discover

    primary, standby = replica
    with _connect(primary, ledger) as conn:
        for name in ("refunds", "settlements"):
            conn.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, ref text, created_at timestamptz)")
            conn.execute(f"GRANT SELECT ON {name} TO auditor")
    job_ran_twice(primary, ledger, "PAY-D", rows=3)
    standby.wait_for_replay(primary)
    read_one = discover._discover_table

    def vacuum_after_the_first_table(conn, qualified, *rest):
        proposal = read_one(conn, qualified, *rest)
        if qualified == "payments":  # the first, in name order; the snapshot is taken
            with _connect(primary, ledger) as admin:
                admin.execute("DELETE FROM payments WHERE payment_ref = 'PAY-D-000'")
                admin.execute("VACUUM payments")
            standby.wait_for_replay(primary)  # replay waits 100 ms for discover, then ends its read
        return proposal

    monkeypatch.setattr(discover, "_discover_table", vacuum_after_the_first_table)
    result = CliRunner().invoke(main, ["discover", _url(standby, ledger), "-o", str(tmp_path / "d.toml")])
    assert result.exit_code == 3, result.output
    line = result.output.strip()
    assert line.startswith("Error: ") and "\n" not in line and "conflict with recovery" in line, line
    assert "hot_standby_feedback = on" in line and "unexpected" not in line, line
    assert not (tmp_path / "d.toml").exists()


def test_the_index_advice_and_migrate_on_a_standby_say_to_run_them_on_the_primary(replica, ledger, tmp_path):
    """discover's and the scan's CREATE INDEX, and `dupfinder migrate`'s file, read on a standby: none said it
    must run on the primary, and each fails on the standby. Each now says so where it is read, and runs there."""
    import re

    primary, standby = replica
    job_ran_twice(primary, ledger, "PAY-I", rows=3)
    standby.wait_for_replay(primary)
    url = _url(standby, ledger)
    toml = tmp_path / "dupfinder.toml"
    found = CliRunner().invoke(main, ["discover", url, "-o", str(toml)])
    scanned = CliRunner().invoke(main, ["scan", url, "--table", "payments", "--key", "payment_ref",
                                        "--ts", "created_at"])
    assert found.exit_code == 0 and scanned.exit_code == 1, found.output + scanned.output
    on_primary = "run it on the primary: this server is a hot standby, which refuses CREATE INDEX"
    for text in (found.output, toml.read_text(), scanned.output):
        line = next(line for line in text.splitlines() if "CREATE INDEX" in line)
        assert on_primary in line, line
    index = re.search(r"CREATE INDEX CONCURRENTLY \S+ ON \S+ \([^)]*\)", scanned.output).group()
    with pytest.raises(SQLFailed, match="read-only transaction"):
        apply_sql(standby.url(ledger), index, standby)
    apply_sql(primary.url(ledger), index, primary)

    with _connect(primary, ledger) as conn:  # cleaned up, so the migration's pre-flight passes
        conn.execute("DELETE FROM payments WHERE id NOT IN (SELECT min(id) FROM payments GROUP BY payment_ref)")
    standby.wait_for_replay(primary)
    migrated = CliRunner().invoke(main, ["migrate", url, "--table", "payments", "--key", "payment_ref"])
    assert migrated.exit_code == 0, migrated.output
    assert migrated.stdout.splitlines()[0].startswith("-- read on a hot standby: run this migration on the primary")
    with pytest.raises(SQLFailed, match="read-only transaction"):
        apply_sql(standby.url(ledger), migrated.stdout, standby)
    apply_sql(primary.url(ledger), migrated.stdout, primary)
    with _connect(primary, ledger) as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'u' AND conrelid = "
                            "'payments'::regclass").fetchone()[0] == 1
    on_the_primary = CliRunner().invoke(main, ["migrate", _url(primary, ledger), "--table", "payments",
                                               "--key", "payment_ref"])
    assert "hot standby" not in on_the_primary.stdout


def test_an_alembic_revision_written_from_a_standby_says_to_upgrade_the_primary(replica, ledger, tmp_path):
    """`migrate --alembic` read on a standby: the revision's docstring now says where to upgrade; upgraded
    there for real, the constraint is on the primary's table (and the standby refuses it)."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    primary, standby = replica
    folder = tmp_path / "migrations"
    config = Config(str(tmp_path / "alembic.ini"))
    command.init(config, str(folder))
    config.set_main_option("script_location", str(folder))
    written = CliRunner().invoke(main, ["migrate", _url(standby, ledger), "--table", "payments", "--key",
                                        "payment_ref", "--alembic", str(folder)])
    assert written.exit_code == 0, written.output
    (revision,) = (folder / "versions").glob("*_dupfinder_*.py")
    assert "Read on a hot standby: upgrade the primary with it" in revision.read_text().split('"""')[1]
    config.set_main_option("sqlalchemy.url", standby.url(ledger))
    with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
        command.upgrade(config, "head")
    config.set_main_option("sqlalchemy.url", primary.url(ledger))
    command.upgrade(config, "head")
    with _connect(primary, ledger) as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'u' AND conrelid = "
                            "'payments'::regclass").fetchone()[0] == 1
