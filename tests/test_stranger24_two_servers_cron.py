"""A stranger's incident on MariaDB: an order-export cron job left running on the old app server after a migration.

Two real processes ("web-new-01" and "web-old-01", the old one firing 1.2 s late, as its cron did) run the same
export for every slot of the crontab: an hourly run at 01:00 that exports a single order (a quiet night hour), the
nightly bulk run at 02:30 and the noon run, on four days, time compressed (each slot's rows are stamped with the
slot's time plus the real seconds since the slot fired). The stranger's own build (three weeks, 525 slots, 8,472
keys written twice by the two hosts, 56k rows) found every cluster exactly; these tests keep what it got wrong.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlrun import apply_sql, rows_of

from dupfinder.cli import main

WRITER = textwrap.dedent("""
    import json, sys, time
    import pymysql
    host, port, user, password, database, go, lag, slots = sys.argv[1:9]
    go, lag, period = float(go), float(lag), 0.3
    conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=database,
                           autocommit=True)
    cur = conn.cursor()
    for k, (slot, refs) in enumerate(json.loads(slots)):
        planned = go + k * period
        time.sleep(max(0.0, planned + lag - time.time()))
        for ref in refs:
            time.sleep(0.01)  # the carrier label call
            cur.execute("INSERT INTO shipments (order_ref, carrier, amount, host, created_at) VALUES"
                        " (%s, 'dhl', 12.50, %s, TIMESTAMPADD(MICROSECOND, %s, %s))",
                        (ref, sys.argv[9], int((time.time() - planned) * 1e6), slot))
    conn.close()
""")


def _slots() -> list[tuple[str, list[str]]]:
    """Four days of the crontab: 01:00 (one order: a quiet hour), 02:30 (nightly bulk), 13:00."""
    out, n = [], 0
    for day in range(2, 6):
        for clock, size in (("01:00", 1), ("02:30", 8), ("13:00", 6)):
            out.append((f"2026-11-0{day} {clock}:00", [f"so-{n + i:05d}" for i in range(size)]))
            n += size
    return out


@pytest.fixture(scope="module")
def incident(mariadb_server, tmp_path_factory):
    database = "stranger24_cron"
    mariadb_server.admin(f"DROP DATABASE IF EXISTS `{database}`", f"CREATE DATABASE `{database}`")
    mariadb_server.admin(
        "CREATE TABLE shipments (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_ref VARCHAR(32) NOT NULL, "
        "carrier VARCHAR(20) NOT NULL, amount DECIMAL(10,2) NOT NULL, host VARCHAR(64) NOT NULL, "
        "created_at DATETIME(6) NOT NULL, KEY (created_at))", database=database)
    url = mariadb_server.url(database)
    u = sa.make_url(url)
    slots = json.dumps(_slots())
    go = time.time() + 1.0
    servers = [subprocess.Popen([sys.executable, "-c", WRITER, u.host, str(u.port), u.username, u.password, database,
                                 repr(go), lag, slots, host])
               for host, lag in (("web-new-01", "0.0"), ("web-old-01", "1.2"))]
    for server in servers:
        assert server.wait(timeout=60) == 0
    out = tmp_path_factory.mktemp("stranger24") / "out"
    result = CliRunner().invoke(main, ["scan", url, "--table", "shipments", "--key", "order_ref",
                                       "--ts", "created_at", "--writer", "host=host", "--window", "5s",
                                       "--out", str(out)])
    assert result.exit_code == 1, result.output
    yield json.loads((out / "findings.json").read_text())["tables"][0]
    mariadb_server.admin(f"DROP DATABASE IF EXISTS `{database}`")


def test_every_key_written_by_both_servers_is_one_cluster(incident):
    assert len(incident["clusters"]) == sum(len(refs) for _, refs in _slots())
    assert all({r["writer"]["host"] for r in c["rows"]} == {"web-new-01", "web-old-01"}
               for c in incident["clusters"])
    assert incident["far_duplicates"] == 0


@pytest.mark.xfail(strict=True, reason=(
    "attribution (attr16): a run that exported a single key, written by both hosts 1.2 s apart, is named `retry` "
    "at 100% ('the same two writers share 1 cluster(s) (+7.4)', 'make the handler idempotent') although the same "
    "host pair wrote every key of every other run twice; in the stranger's three-week build all 15 single-order "
    "hourly runs were retry incidents, every run of 2 keys or more multi_host"))
def test_a_single_key_run_of_the_two_servers_is_multi_host(incident):
    named = {c["key"]["order_ref"]: (c["mechanism"], c["confidence"]) for c in incident["clusters"]}
    single = [refs[0] for slot, refs in _slots() if len(refs) == 1]
    assert all(named[ref][0] in ("multi_host", "unknown") for ref in single), {ref: named[ref] for ref in single}


@pytest.mark.xfail(strict=True, reason=(
    "incidents (attribution/incidents.py _recurrence): incidents of one mechanism and writer pair are marked "
    "recurring only within 45 minutes of the median time of day of all of them, so a job that double-writes at "
    "several times of day (02:30 and 13:00 here; every hour in the stranger's build, where only the 21 noon "
    "incidents of 506 were marked 'every day ~12:00' and the nightly 02:30 bulk runs were not) gets none or one "
    "of its daily schedules"))
def test_each_daily_schedule_is_recurring(incident):
    multi = [i for i in incident["incidents"] if i["mechanism"] == "multi_host"]
    by_clock: dict[str, list] = {}
    for i in multi:
        by_clock.setdefault(i["start"][11:16], []).append(i["recurring"])
    assert {clock[:2] for clock in by_clock} >= {"02", "13"}
    assert all(r is not None for i in multi for r in [i["recurring"]]), by_clock


def test_far_window_hint_holds_for_keys_beyond_the_listed_thousand(mariadb_server, mariadb_url):
    """1,100 keys written twice: the first 1,000 (by time, the ones findings.json lists) 2.5 s apart, the last
    100 4.5 s apart. The text said "--window 3s or more makes each listed key one cluster"; in the stranger's
    build, following it left 42 of 5,680 far keys still far (the listed ones were 2.0-3.4 s apart, the others up
    to 4.4 s): a hint read as the window to use has to say it covers only the listed keys."""
    database = sa.make_url(mariadb_url).database
    mariadb_server.admin(
        "CREATE TABLE shipments (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_ref VARCHAR(32) NOT NULL, "
        "host VARCHAR(20) NOT NULL, created_at DATETIME(6) NOT NULL)", database=database)
    values = []
    for n in range(1100):
        gap = 2.5 if n < 1000 else 4.5
        at = f"TIMESTAMPADD(SECOND, {n * 60}, '2026-11-02 00:00:00')"
        values += [f"('so-{n:05d}', 'a', {at})",
                   f"('so-{n:05d}', 'b', TIMESTAMPADD(MICROSECOND, {int(gap * 1e6)}, {at}))"]
    mariadb_server.admin("INSERT INTO shipments (order_ref, host, created_at) VALUES " + ", ".join(values),
                         database=database)
    args = ["scan", mariadb_url, "--table", "shipments", "--key", "order_ref", "--ts", "created_at"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    hint = re.search(r"--window (\d+)s or more makes (.*?) one cluster", first.output)
    assert hint, first.output
    again = CliRunner().invoke(main, [*args, "--window", f"{hint.group(1)}s", "--format", "json"])
    still_far = json.loads(again.output)["tables"][0]["far_duplicates"]
    # either the hinted window clusters every far key, or the hint says which keys it is about
    assert still_far == 0 or "1,000 listed" in hint.group(2), (still_far, hint.group(0))


def test_divergence_only_in_on_update_column_is_named(mariadb_server, mariadb_url, tmp_path):
    """`updated_at TIMESTAMP ON UPDATE CURRENT_TIMESTAMP`: copies written in the same second carry the same value,
    copies straddling a second differ in it alone, and a status sync run since gave both copies of older pairs one
    value again. In the stranger's build 751 of 8,472 clusters differed in updated_at alone: cleanup.sql listed
    751 "NOT DELETED (divergent)" comments, migration.sql held the table back, and nothing named --ignore
    updated_at (the note needed 90% of all clusters). Rescanned with it, cleanup.sql deletes every copy and the
    survivors keep their updated_at."""
    database = sa.make_url(mariadb_url).database
    mariadb_server.admin(
        "CREATE TABLE shipments (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_ref VARCHAR(32) NOT NULL, "
        "host VARCHAR(20) NOT NULL, created_at DATETIME(6) NOT NULL, updated_at TIMESTAMP NOT NULL DEFAULT "
        "CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)", database=database)
    values = []
    for n in range(40):
        at = f"TIMESTAMPADD(MINUTE, {n}, '2026-11-02 10:00:00')"
        second = "'2026-11-02 10:00:01'" if n < 6 else "'2026-11-02 10:00:00'"  # 6 pairs straddle a second
        values += [f"('so-{n:03d}', 'a', {at}, '2026-11-02 10:00:00')",
                   f"('so-{n:03d}', 'b', TIMESTAMPADD(MICROSECOND, 800000, {at}), {second})"]
    mariadb_server.admin("INSERT INTO shipments (order_ref, host, created_at, updated_at) VALUES "
                         + ", ".join(values), database=database)
    args = ["scan", mariadb_url, "--table", "shipments", "--key", "order_ref", "--ts", "created_at",
            "--writer", "host=host"]
    first = CliRunner().invoke(main, args)
    assert "6 divergent" in first.output, first.output
    assert "--ignore updated_at" in first.output, first.output

    out = tmp_path / "out"
    again = CliRunner().invoke(main, [*args, "--ignore", "updated_at", "--out", str(out)])
    assert "40 to delete, 0 divergent" in again.output, again.output
    before = {r[0]: r for r in rows_of(mariadb_url, "shipments")}
    apply_sql(mariadb_url, (out / "cleanup.sql").read_text())
    after = rows_of(mariadb_url, "shipments")
    assert len(after) == 40
    assert all(before[r[0]] == r for r in after)  # survivors untouched, updated_at included


def test_cleanup_with_delete_trigger_fk_and_case_insensitive_key(mariadb_server, tmp_path):
    """The stranger's schema in small: `order_ref` in utf8mb4_unicode_ci (the old server's unpatched export writes
    marketplace refs upper-case, the new one lower-case: one key to MariaDB), a child table with ON DELETE RESTRICT,
    and an AFTER DELETE trigger writing an audit row. The two real writer processes double-write every key; the
    scan (SELECT only) pairs 'SO-..' with 'so-..'; cleanup.sql, run with the client under
    --default-character-set=utf8mb4 (utf8mb4_general_ci), stopped on "Illegal mix of collations" against the
    utf8mb4_unicode_ci column before its guard compared text byte for byte; now it re-points the items, fires
    the trigger once per deleted row, which its header now says (it said it deleted only the rows of its plan, and
    a SELECT-only scan cannot see triggers), rollback.sql restores the shipments exactly and leaves the audit rows,
    and after cleanup and migration a third run of the export fails on the unique key, upper-case ref or not."""
    database = "stranger24_trigger"
    mariadb_server.admin(f"DROP DATABASE IF EXISTS `{database}`",
                         f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    mariadb_server.admin(
        "CREATE TABLE shipments (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_ref VARCHAR(32) COLLATE "
        "utf8mb4_unicode_ci NOT NULL, carrier VARCHAR(20) NOT NULL, amount DECIMAL(10,2) NOT NULL, "
        "host VARCHAR(64) NOT NULL, created_at DATETIME(6) NOT NULL, KEY (created_at)) "
        "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE shipment_items (id BIGINT AUTO_INCREMENT PRIMARY KEY, shipment_id BIGINT NOT NULL, "
        "sku VARCHAR(20) NOT NULL, CONSTRAINT fk_items FOREIGN KEY (shipment_id) REFERENCES shipments (id) "
        "ON DELETE RESTRICT)",
        "CREATE TABLE shipments_audit (id BIGINT AUTO_INCREMENT PRIMARY KEY, shipment_id BIGINT NOT NULL, "
        "action VARCHAR(10) NOT NULL)",
        "CREATE TRIGGER shipments_ad AFTER DELETE ON shipments FOR EACH ROW "
        "INSERT INTO shipments_audit (shipment_id, action) VALUES (OLD.id, 'delete')",
        f"CREATE USER IF NOT EXISTS 'ro_{database}'@'%' IDENTIFIED BY 'ro'",
        f"GRANT SELECT ON `{database}`.* TO 'ro_{database}'@'%'", database=database)
    url = mariadb_server.url(database)
    u = sa.make_url(url)
    slots = [("2026-11-02 01:00:00", [f"so-{n:03d}" for n in range(6)]),
             ("2026-11-02 02:00:00", [f"so-{n:03d}" for n in range(6, 14)])]
    legacy = [(slot, [ref.upper() if n % 3 == 0 else ref for n, ref in enumerate(refs)]) for slot, refs in slots]
    go = time.time() + 1.0
    servers = [subprocess.Popen([sys.executable, "-c", WRITER, u.host, str(u.port), u.username, u.password, database,
                                 repr(go), lag, json.dumps(written), host])
               for host, lag, written in (("web-new-01", "0.0", slots), ("web-old-01", "1.2", legacy))]
    for server in servers:
        assert server.wait(timeout=60) == 0
    mariadb_server.admin("INSERT INTO shipment_items (shipment_id, sku) SELECT id, 'SKU-1' FROM shipments",
                         database=database)
    shipments = rows_of(url, "shipments")
    assert len(shipments) == 28

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", mariadb_server.url(database, f"ro_{database}", "ro"),
                                       "--table", "shipments", "--key", "order_ref", "--ts", "created_at",
                                       "--writer", "host=host", "--window", "5s", "--out", str(out)])
    assert "14 near-duplicate clusters" in result.output and "14 to delete" in result.output, result.output
    cleanup = (out / "cleanup.sql").read_text()
    header = cleanup[:cleanup.index("CREATE TABLE")]
    assert "DELETE triggers" in header and "SHOW TRIGGERS" in header, header

    apply_sql(url, cleanup)
    kept = {r[0] for r in rows_of(url, "shipments")}
    assert len(kept) == 14 and {r[1] for r in rows_of(url, "shipment_items")} <= kept
    assert len(rows_of(url, "shipments_audit")) == 14  # the trigger fired once per deleted row
    apply_sql(url, (out / "rollback.sql").read_text())
    assert rows_of(url, "shipments") == shipments
    assert len(rows_of(url, "shipments_audit")) == 14  # what the trigger did stays, as the header says

    apply_sql(url, cleanup)
    apply_sql(url, (out / "migration.sql").read_text())
    again = subprocess.run([sys.executable, "-c", WRITER, u.host, str(u.port), u.username, u.password, database,
                            repr(time.time()), "0.0", json.dumps(legacy[:1]), "web-old-01"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "Duplicate entry 'SO-000" in again.stderr, again.stderr
    assert len(rows_of(url, "shipments")) == 14
    mariadb_server.admin(f"DROP DATABASE IF EXISTS `{database}`")


def test_cleanup_run_with_the_plain_client_keeps_four_byte_characters(mariadb_server, mariadb_url, tmp_path):
    """The header says `mysql (or mariadb) DATABASE < cleanup.sql`. Debian's client, given no character set,
    talks utf8mb3 to the server: a gift note holding an emoji (four bytes in UTF-8) in the plan then no longer
    equalled the row, and every batch stopped as "changed since the scan", though nothing had changed."""
    import os
    import shutil

    database = sa.make_url(mariadb_url).database
    mariadb_server.admin(
        "CREATE TABLE shipments (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_ref VARCHAR(32) NOT NULL, "
        "gift_note VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL, host VARCHAR(20) NOT NULL, "
        "created_at DATETIME(6) NOT NULL) DEFAULT CHARSET=utf8mb4", database=database)
    mariadb_server.admin(
        "INSERT INTO shipments (order_ref, gift_note, host, created_at) VALUES "
        "('so-1', 'Alles Gute \U0001F381', 'a', '2026-11-02 01:00:00.1'),"
        "('so-1', 'Alles Gute \U0001F381', 'b', '2026-11-02 01:00:01.5'),"
        "('so-2', 'für dich', 'a', '2026-11-02 01:00:00.2'), ('so-2', 'für dich', 'b', '2026-11-02 01:00:01.6')",
        database=database)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", mariadb_url, "--table", "shipments", "--key", "order_ref",
                                       "--ts", "created_at", "--writer", "host=host", "--out", str(out)])
    assert "2 to delete" in result.output, result.output
    u = sa.make_url(mariadb_url)
    client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
    done = subprocess.run([client, "--no-defaults", "-h", u.host, "-P", str(u.port), "-u", u.username, database],
                          input=(out / "cleanup.sql").read_text(), capture_output=True, text=True,
                          env={**os.environ, "MYSQL_PWD": u.password})
    assert done.returncode == 0, done.stderr[-600:]
    assert sorted(r[2] for r in rows_of(mariadb_url, "shipments")) == ["Alles Gute \U0001F381", "für dich"]
