"""discover proposes the business keys of the sample data and writes a config scan accepts."""

from __future__ import annotations

import json
import tomllib

import hostile
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table, partitioned_by_month, run_statements
from hypothesis import HealthCheck, assume, given, settings

from dupfinder.cli import main
from dupfinder.config import load_config
from dupfinder.discover import MEASURE_WORDS, discover, starter_toml
from dupfinder.sample_data import build_demo_database, demo_specs


def test_discover_proposes_the_sample_data_keys(db_url):
    build_demo_database(db_url)
    proposals = {p.table: p for p in discover(db_url)}
    expected = {s.table: (s.keys, s.ts) for s in demo_specs()}
    assert {t: (p.keys, p.ts) for t, p in proposals.items()} == expected
    assert "within 5 s" in proposals["export_records"].evidence


def test_tables_already_constrained_or_without_a_timestamp_get_no_key_and_say_why(sqlite_url):
    """Left out, they were silently missing from the list (stranger9: 25 tables, 24 lines)."""
    make_table(sqlite_url, "constrained", [sa.Column("id", sa.Integer, primary_key=True),
                                           sa.Column("ref", sa.Integer), sa.Column("created_at", sa.DateTime),
                                           sa.UniqueConstraint("ref")], [])
    make_table(sqlite_url, "no_time", [sa.Column("id", sa.Integer, primary_key=True),
                                       sa.Column("ref", sa.Integer)], [])
    make_table(sqlite_url, "loose", [sa.Column("id", sa.Integer, primary_key=True),
                                     sa.Column("order_ref", sa.Integer), sa.Column("amount", sa.Integer),
                                     sa.Column("created_at", sa.DateTime)],
               [{"id": 1, "order_ref": 5, "amount": 1, "created_at": at(0)}])
    found = {p.table: p for p in discover(sqlite_url)}
    assert {t: p.keys for t, p in found.items()} == {"constrained": None, "loose": ("order_ref",), "no_time": None}
    assert found["constrained"].evidence.startswith("already unique on (ref)")
    assert found["no_time"].evidence.startswith("no creation-timestamp column")


def test_discover_command_writes_a_config_scan_accepts(pg_server, pg_url, tmp_path):
    build_demo_database(pg_url)
    with_password = pg_url.replace("postgres@", "postgres:s3cret@")
    config = tmp_path / "dupfinder.toml"
    result = CliRunner().invoke(main, ["discover", with_password, "-o", str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {t["table"] for t in report["tables"]} == {s.table for s in demo_specs()}
    text = config.read_text()
    assert "s3cret" not in text and "password removed" in text
    database, specs = load_config(config)
    assert database is None
    assert {(s.table, s.keys, s.ts) for s in specs} == {(s.table, s.keys, s.ts) for s in demo_specs()}
    scan = CliRunner().invoke(main, ["scan", pg_url, "--config", str(config), "--format", "json"])
    assert scan.exit_code == 1, scan.output  # the sample data holds duplicates
    again = CliRunner().invoke(main, ["discover", pg_url, "-o", str(config)])
    assert again.exit_code == 2 and "--force" in again.output


def test_bad_input_to_discover_and_migrate_is_a_clear_error(pg_url, tmp_path):
    build_demo_database(pg_url)
    result = CliRunner().invoke(main, ["discover", pg_url, "--schema", "nope", "-o", str(tmp_path / "d.toml")])
    assert result.exit_code == 2 and "schema 'nope' not found" in result.output
    assert not (tmp_path / "d.toml").exists()
    result = CliRunner().invoke(main, ["migrate", pg_url, "--table", "charges", "--key", "invoice_id",
                                       "--alembic", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "is not a folder" in result.output
    result = CliRunner().invoke(main, ["discover", "postgresql+psycopg://nobody@127.0.0.1:1/x",
                                       "-o", str(tmp_path / "d.toml")])
    assert result.exit_code == 3 and "cannot connect" in result.output


def test_big_tables_are_measured_on_their_latest_rows(db_url, monkeypatch):
    from dupfinder import discover as module

    build_demo_database(db_url)
    monkeypatch.setattr(module, "SLICE_ROWS", 2000)
    proposals = {p.table: p for p in discover(db_url)}
    assert proposals["recon_summary"].rows_read == "the latest 2,000 of 5,624 rows"
    assert proposals["payments_applied"].rows_read == "all 243 rows"
    # the slice holds the night export_records was written twice, both copies of each record
    assert proposals["export_records"].rows_read == "the latest 2,000 of 2,750 rows"
    assert proposals["export_records"].keys == ("record_id", "export_date")
    assert "250 written more than once" in proposals["export_records"].evidence


def test_discover_skips_an_unreadable_table_and_reads_around_a_point_column(pg_server, pg_url, tmp_path):
    """One table the role may not read and one with a geometric column do not stop the others."""
    build_demo_database(pg_url)
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE secret_ledger (id int PRIMARY KEY, ref int, created_at timestamp)")
        conn.exec_driver_sql("INSERT INTO secret_ledger VALUES (1, 1, now())")
        conn.exec_driver_sql("CREATE TABLE places (id int PRIMARY KEY, place_id int, spot point, "
                             "created_at timestamp)")
        conn.exec_driver_sql("INSERT INTO places SELECT g, g, point(g, g), now() FROM generate_series(1, 20) g")
        conn.exec_driver_sql("DROP ROLE IF EXISTS auditor_ro")
        conn.exec_driver_sql("CREATE ROLE auditor_ro LOGIN")
        conn.exec_driver_sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO auditor_ro")
        conn.exec_driver_sql("REVOKE SELECT ON secret_ledger FROM auditor_ro")
    engine.dispose()
    url = pg_url.replace("postgres@", "auditor_ro@")
    config = tmp_path / "d.toml"
    result = CliRunner().invoke(main, ["discover", url, "-o", str(config)])
    assert result.exit_code == 0, result.output
    assert "secret_ledger: skipped -- permission denied for table secret_ledger" in result.output
    assert "places: key (place_id)" in result.output  # the point column is left out of the candidates
    for spec in demo_specs():  # and every other table is still proposed
        assert f"{spec.table}: key ({', '.join(spec.keys)})" in result.output
    assert "# secret_ledger: skipped: permission denied" in config.read_text()
    database, specs = load_config(config)
    assert "secret_ledger" not in {s.table for s in specs}
    # a point column as the only candidate: the table is reported without a key, not an error
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE only_points (id int PRIMARY KEY, spot point, created_at timestamp)")
        conn.exec_driver_sql("GRANT SELECT ON only_points TO auditor_ro")
    engine.dispose()
    proposals = {p.table: p for p in discover(url)}
    assert proposals["only_points"].keys is None and proposals["secret_ledger"].skipped


def test_sqlite_times_kept_as_text_or_epoch_seconds_are_a_creation_timestamp(sqlite_url):
    """SQLite's usual way keeps times in TEXT (an export's created_at) or INTEGER epoch seconds (a client's
    settled_at); a scan takes them as --ts, and discover said no table had a creation-timestamp column. A
    column named like a time that holds no moments (a created_by name, a TEXT date) is still none."""
    run_statements(sqlite_url,
                   "CREATE TABLE invoice_lines (id INTEGER PRIMARY KEY, invoice_no TEXT, created_by TEXT,"
                   " created_at TEXT)",
                   "INSERT INTO invoice_lines VALUES (1, 'INV-1', 'ann', '2026-11-03 02:30:00.100'),"
                   " (2, 'INV-1', 'ann', '2026-11-03 02:30:00.400'), (3, 'INV-2', 'bob', '2026-11-03 02:31:00')",
                   "CREATE TABLE settlements (id INTEGER PRIMARY KEY, settlement_ref TEXT, settled_at INTEGER)",
                   "INSERT INTO settlements VALUES (1, 'S-1', 1762137000), (2, 'S-1', 1762137001),"
                   " (3, 'S-2', 1762137060)",
                   "CREATE TABLE holidays (id INTEGER PRIMARY KEY, region TEXT, observed_at TEXT)",
                   "INSERT INTO holidays VALUES (1, 'DE', '2026-12-25'), (2, 'FR', '2026-12-25')")
    proposals = {p.table: (p.keys, p.ts) for p in discover(sqlite_url)}
    assert proposals == {"invoice_lines": (("invoice_no",), "created_at"),
                         "settlements": (("settlement_ref",), "settled_at"), "holidays": (None, "")}


def test_discover_says_where_it_looked_when_it_found_nothing(sqlite_url, tmp_path):
    from click.testing import CliRunner

    from dupfinder.cli import main

    result = CliRunner().invoke(main, ["discover", sqlite_url, "-o", str(tmp_path / "d.toml")])
    assert result.exit_code == 0, result.output
    assert "no table in the default schema (--schema S looks in another)" in result.output


def test_discover_writes_no_file_when_it_proposes_no_key(sqlite_url, tmp_path):
    """Nothing to propose (no table; a table no column set keys): no file, said on stdout, exit 0."""
    config = tmp_path / "d.toml"
    result = CliRunner().invoke(main, ["discover", sqlite_url, "-o", str(config)])
    assert result.exit_code == 0, result.output
    assert f"no key to propose: nothing written to {config}" in result.output and not config.exists()
    make_table(sqlite_url, "readings", [sa.Column("id", sa.Integer, primary_key=True),
                                        sa.Column("amount", sa.Integer), sa.Column("created_at", sa.DateTime)],
               [{"id": n, "amount": 1, "created_at": at(n * 100)} for n in range(5)])
    result = CliRunner().invoke(main, ["discover", sqlite_url, "-o", str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"] is None and not config.exists()


def job_outputs(url: str) -> None:
    """Shaped like the README's tables: each job's output for a run date, written by a scheduler host and a
    worker; eight (job_id, run_date) pairs written twice 150 ms apart by a second host and worker."""
    rows, n = [], 0
    for job in range(1, 21):
        for day in range(1, 6):
            for copy in range(2 if job <= 8 and day == 3 else 1):
                n += 1
                rows.append({"id": n, "job_id": job, "run_date": f"2026-11-0{day}", "hostname": f"sched-{copy}",
                             "worker_name": f"w{(job + copy) % 4}", "rows_written": 10 * job,
                             "created_at": at(day * 86400 + job * 60 + copy * 0.15)})
    make_table(url, "job_outputs", [sa.Column("id", sa.Integer, primary_key=True),
                                    sa.Column("job_id", sa.Integer), sa.Column("run_date", sa.String(10)),
                                    sa.Column("hostname", sa.String(20)), sa.Column("worker_name", sa.String(20)),
                                    sa.Column("rows_written", sa.Integer), sa.Column("created_at", sa.DateTime)],
               rows)


def redeliveries(url: str) -> None:
    """Messages applied by consumers; eight redelivered 30 s later (a visibility timeout) to another consumer:
    (message_id, consumer_id) is unique, and would hide exactly those double writes."""
    rows = []
    for n in range(1, 41):
        rows.append({"id": n, "message_id": f"m-{n}", "account_id": n % 7, "consumer_id": f"c-{n % 3}",
                     "applied_at": at(n * 10)})
    for n in range(1, 9):
        rows.append({"id": 100 + n, "message_id": f"m-{n}", "account_id": n % 7, "consumer_id": f"c-{(n + 1) % 3}",
                     "applied_at": at(n * 10 + 30)})
    make_table(url, "payments_applied", [sa.Column("id", sa.Integer, primary_key=True),
                                         sa.Column("message_id", sa.String(10)), sa.Column("account_id", sa.Integer),
                                         sa.Column("consumer_id", sa.String(10)),
                                         sa.Column("applied_at", sa.DateTime)], rows)


def test_job_id_is_a_key_and_who_wrote_a_row_never_is(db_url):
    job_outputs(db_url)
    redeliveries(db_url)
    proposals = {p.table: p for p in discover(db_url)}
    assert proposals["job_outputs"].keys == ("job_id", "run_date")
    assert "8 written more than once, 8 of them within 5 s" in proposals["job_outputs"].evidence
    for p in proposals.values():
        text = " ".join([*(p.keys or ()), *p.alternatives])
        assert not any(c in text for c in ("hostname", "worker_name", "consumer_id")), (p.table, text)


def test_the_reason_no_key_is_proposed_is_true(db_url):
    """order_ref is unique but for 5 double writes 300 ms apart and one key written again hours later: the reason
    names the far duplicate (it said order_ref was not unique except for rows written moments apart); an empty
    table says it is empty."""
    columns = lambda: [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # noqa: E731
                       sa.Column("order_ref", sa.String(10)), sa.Column("created_at", sa.DateTime)]
    rows = [{"id": n, "order_ref": f"O{n}", "created_at": at(60 * n)} for n in range(1, 30)]
    rows += [{"id": 100 + n, "order_ref": f"O{n}", "created_at": at(60 * n + 0.3)} for n in range(1, 6)]
    rows += [{"id": 200, "order_ref": "O9", "created_at": at(60 * 9 + 7200)}]
    make_table(db_url, "orders", columns(), rows)
    make_table(db_url, "nothing_yet", columns(), [])
    proposals = {p.table: p for p in discover(db_url)}
    assert proposals["orders"].keys is None
    assert proposals["orders"].evidence == ("the closest, order_ref: 1 of its 6 repeated keys are written again more "
                                            "than 5 s apart (far duplicates; at most 10% may be)")
    assert proposals["nothing_yet"].evidence == "the table is empty: there is nothing to measure a key on"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=hostile.names("sqlite"), word=hostile.names("sqlite"))
def test_the_starter_config_of_any_names_reads_back_as_exactly_them(tmp_path_factory, table, word):
    """A line break in a table name once ended the TOML comment that quoted it, and the rest of the name was
    TOML (a [[table]] of its choosing); a control character in a string made the file unreadable."""
    from dupfinder.writers import name_words

    key = f"{word}_ref"  # a key word, so the column is a candidate whatever else the name holds
    assume(not {*name_words(key)} & MEASURE_WORDS and not table.startswith("dupfinder_backup_"))
    path = tmp_path_factory.mktemp("discover") / "d.db"
    url = f"sqlite:///{path}"
    hostile.ddl(url, f"CREATE TABLE {hostile.quote(url, table)} (id INTEGER PRIMARY KEY, "
                     f"{hostile.quote(url, key)} TEXT, created_at TIMESTAMP)",
                *(f"INSERT INTO {hostile.quote(url, table)} VALUES ({i}, 'k{min(i, 19)}', "
                  f"'2026-11-03 02:30:{i:02d}.{i}')" for i in range(1, 21)))
    proposals = discover(url)
    assert [(p.table, p.keys, p.ts) for p in proposals] == [(table, (key,), "created_at")]
    assert proposals[0].index and "CREATE INDEX" in proposals[0].index  # no index: a scan sorts every key
    config = tmp_path_factory.mktemp("toml") / "dupfinder.toml"
    config.write_text(starter_toml(url, proposals), encoding="utf-8")
    assert set(tomllib.loads(config.read_text(encoding="utf-8"))) == {"database", "window", "table"}
    database, specs = load_config(config)
    assert database == url and [(s.table, s.keys, s.ts) for s in specs] == [(table, (key,), "created_at")]


def test_discover_gives_the_index_a_scan_wants_only_when_there_is_none(pg_url, tmp_path):
    build_demo_database(pg_url)
    engine = sa.create_engine(pg_url)
    spec = next(s for s in demo_specs() if s.table == "export_records")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE INDEX ON export_records ({', '.join(spec.keys)}, {spec.ts})")
    engine.dispose()
    config = tmp_path / "d.toml"
    result = CliRunner().invoke(main, ["discover", pg_url, "-o", str(config)])
    assert result.exit_code == 0, result.output
    advised = [line for line in result.output.splitlines() if "every scan sorts" in line]
    others = {s.table for s in demo_specs()} - {"export_records"}
    assert len(advised) == len(others) and all("CREATE INDEX CONCURRENTLY" in line for line in advised)
    assert not any("export_records" in line for line in advised)
    assert config.read_text().count("every scan sorts the table's keys: CREATE INDEX") == len(others)


def test_a_table_partitioned_by_time_is_proposed_once(pg_url):
    """A range-partitioned table must hold its timestamp in its primary key: discover passed it over (no
    timestamp outside the primary key) and would then have proposed each partition apart, splitting the double
    write that straddles two of them."""
    partitioned_by_month(
        pg_url, "invoice_lines", "id int, account_id int, period date, created_at timestamp, "
        "PRIMARY KEY (id, created_at)", "created_at",
        "INSERT INTO invoice_lines SELECT a, a, '2026-10-01', TIMESTAMP '2026-10-31 23:59:50' "
        "+ a * interval '1 second' FROM generate_series(1, 20) AS a",
        "INSERT INTO invoice_lines SELECT 100 + account_id, account_id, period, created_at + interval '300 ms' "
        "FROM invoice_lines")  # a second run
    # period holds one value here: it joins the key (stranger20), so the next period's lines are not refused
    assert [(p.table, p.keys, p.ts) for p in discover(pg_url)] == [("invoice_lines", ("account_id", "period"),
                                                                      "created_at")]


def test_the_starter_config_gives_a_window_that_holds_the_copies_it_counted(sqlite_url, tmp_path):
    """A stranger's finding: kombu redelivered three invoices 2.3 s after the first attempt (a 2 s visibility
    timeout). discover counted them "3 written more than once, 3 of them within 5 s" and wrote `window = "2s"`,
    so the scan of its own config found no cluster and called them far duplicates."""
    rows = [{"id": n, "invoice_no": f"F-{n:04d}", "issued_at": at(n * 10)} for n in range(1, 41)]
    rows += [{"id": 100 + n, "invoice_no": f"F-{n:04d}", "issued_at": at(n * 10 + 2.3)} for n in (6, 24, 36)]
    make_table(sqlite_url, "invoices", [sa.Column("id", sa.Integer, primary_key=True),
                                        sa.Column("invoice_no", sa.String(10)), sa.Column("issued_at", sa.DateTime)],
               rows)
    config = tmp_path / "dupfinder.toml"
    result = CliRunner().invoke(main, ["discover", sqlite_url, "-o", str(config)])
    assert result.exit_code == 0, result.output
    (spec,) = load_config(config)[1]
    assert spec.keys == ("invoice_no",) and spec.window == 3.0, config.read_text()
    scan = CliRunner().invoke(main, ["scan", sqlite_url, "--config", str(config), "--format", "summary"])
    assert scan.exit_code == 1, scan.output
    summary = json.loads(scan.output)
    assert summary["totals"]["clusters"] == 3 and summary["totals"]["far"] == 0, summary


def _chdb(url: str, *statements: str) -> None:
    """Run statements on chDB (one embedded session per process: the engine is disposed at once)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def test_a_row_id_column_that_is_no_primary_key_does_not_hide_the_key(sqlite_url, chdb_url):
    """A table without a declared primary key (every ClickHouse table) whose rows carry a generated id: the id
    differs between any two rows, copies included, so it 'split' every repeated key and order_ref was refused
    as too coarse; discover proposed (order_ref, region) instead, or nothing."""
    columns = [sa.Column("event_id", sa.String(36)), sa.Column("order_ref", sa.String(10)),
               sa.Column("region", sa.String(10)), sa.Column("created_at", sa.DateTime)]
    rows = [{"event_id": f"e{n}", "order_ref": f"O{n}", "region": f"r{n % 3}", "created_at": at(60 * n)}
            for n in range(1, 30)]
    rows += [{"event_id": f"e{100 + n}", "order_ref": f"O{n}", "region": f"r{n % 3}", "created_at": at(60 * n + 0.3)}
             for n in range(1, 6)]
    make_table(sqlite_url, "orders", columns, rows)
    _chdb(chdb_url, "CREATE TABLE orders (event_id UUID, order_ref String, region String, created_at DateTime64(6)) "
                    "ENGINE = MergeTree ORDER BY created_at",
          "INSERT INTO orders SELECT generateUUIDv4(), concat('O', toString(number % 30)), "
          "concat('r', toString(number % 3)), toDateTime64('2026-11-02 02:00:00', 6) + "
          "toIntervalMillisecond(if(number < 30, number * 60000, (number - 30) * 60000 + 300)) FROM numbers(35)")
    for url in (sqlite_url, chdb_url):
        assert [p.keys for p in discover(url)] == [("order_ref",)], url


def test_a_redelivered_event_is_timed_by_when_it_landed_not_when_it_happened(chdb_url):
    """A stranger's finding: a lakehouse events table (event_id, occurred_at, ingested_at) was proposed with
    ts = occurred_at, the event's own time, which a redelivered message carries unchanged: the copies a consumer
    wrote seconds apart would read as written at the same microsecond. The time a row landed says when it was
    written."""
    _chdb(chdb_url, "CREATE TABLE events (ingest_id UUID, event_id String, occurred_at DateTime64(3, 'UTC'), "
                    "ingested_at DateTime64(6, 'Europe/Berlin')) ENGINE = MergeTree ORDER BY event_id",
          "INSERT INTO events SELECT generateUUIDv4(), concat('ev', toString(number % 40)), "
          "toDateTime64('2026-11-23 01:00:00', 3, 'UTC') + toIntervalSecond(number % 40), "
          "toDateTime64('2026-11-24 05:21:00', 6, 'Europe/Berlin') + toIntervalMillisecond(number * 50) "
          "FROM numbers(46)")
    (proposal,) = discover(chdb_url)
    assert (proposal.keys, proposal.ts) == (("event_id",), "ingested_at")
    assert proposal.identity.startswith("no primary key, and ClickHouse has no row id")  # it said "chdb"


TENANTS = [f"tenant_{i:04d}" for i in range(1, 25)] + ["Tenant-ACME", "acme.prod"]
TWICE = {"tenant_0003", "tenant_0017", "Tenant-ACME", "acme.prod"}  # the billing run wrote these twice


def _tenant_invoices(schema: str) -> list[str]:
    """One tenant's invoices: two clean monthly runs, and November's run once, or twice 5 ms apart."""
    name = '"' + schema.replace('"', '""') + '"'
    runs = 2 if schema in TWICE else 1
    return [f"CREATE SCHEMA {name}",
            f"CREATE TABLE {name}.invoices (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, "
            "billing_period date NOT NULL, amount_cents bigint NOT NULL, created_at timestamptz NOT NULL)",
            f"INSERT INTO {name}.invoices (customer_id, billing_period, amount_cents, created_at) "
            "SELECT c, p, 100 * c, p + c * interval '20 ms' + r * interval '5 ms' FROM generate_series(1, 30) c, "
            "unnest(ARRAY[date '2026-09-01', date '2026-10-01', date '2026-11-01']) p, generate_series(1, 2) r "
            f"WHERE r = 1 OR (p = date '2026-11-01' AND r <= {runs}) ORDER BY p, c, r"]


def test_discover_covers_a_schema_per_tenant_database_in_one_config(pg_url, tmp_path):
    """stranger14: 250 tenant schemas holding the same tables took one discover run per schema (250 files to
    merge by hand); --schema is now repeatable and takes a glob, so one run writes one config for them all."""
    run_statements(pg_url, *(s for t in TENANTS for s in _tenant_invoices(t)),
                   "CREATE TABLE public.invoices (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, "
                   "created_at timestamptz NOT NULL)")
    config = tmp_path / "tenants.toml"
    result = CliRunner().invoke(main, ["discover", pg_url, "--schema", "tenant_*", "--schema", "Tenant-ACME",
                                       "--schema", "acme.prod", "-o", str(config)])
    assert result.exit_code == 0, result.output
    _, specs = load_config(config)
    assert sorted(s.table for s in specs) == sorted(f"{t}.invoices" for t in TENANTS)  # public left out
    assert {s.keys for s in specs} == {("customer_id", "billing_period")}
    scan = CliRunner().invoke(main, ["scan", pg_url, "--config", str(config), "--format", "summary"])
    assert scan.exit_code == 1, scan.output
    hit = {t["table"] for t in json.loads(scan.output)["tables"] if t["failed"]}
    assert hit == {f"{t}.invoices" for t in TWICE}


def test_a_schema_not_found_names_the_closest_not_every_schema(pg_url, tmp_path):
    """stranger14: a typo among 250 tenant schemas printed all 250 names in its one error line."""
    run_statements(pg_url, *(f'CREATE SCHEMA "{t}"' for t in TENANTS))
    result = CliRunner().invoke(main, ["discover", pg_url, "--schema", "tenant_00017", "-o", str(tmp_path / "d.toml")])
    assert result.exit_code == 2
    assert result.output.startswith("Error: schema 'tenant_00017' not found; closest: tenant_0017")
    assert "(of 28)" in result.output and len(result.output.splitlines()) == 1 and len(result.output) < 200
    result = CliRunner().invoke(main, ["discover", pg_url, "--schema", "billing_*", "-o", str(tmp_path / "d.toml")])
    assert result.exit_code == 2 and "schema 'billing_*' not found" in result.output
    assert not (tmp_path / "d.toml").exists()


def test_an_empty_tenant_table_takes_the_key_its_namesakes_agree_on(pg_url, tmp_path):
    """stranger14: 14 of 250 tenants had no invoices yet; discover wrote no entry for them, so the nightly
    check never scanned those tenants, also after they started billing. Their tables take the key the same
    table got in most other schemas (a shared public table keyed otherwise is outvoted); a table without
    those columns stays out."""
    run_statements(pg_url, *(s for t in TENANTS[:4] for s in _tenant_invoices(t)),
                   'CREATE SCHEMA tenant_new', 'CREATE TABLE tenant_new.invoices (LIKE tenant_0001.invoices)',
                   'CREATE SCHEMA tenant_odd', 'CREATE TABLE tenant_odd.invoices (id bigserial PRIMARY KEY, '
                   'customer_id bigint, created_at timestamptz)',
                   "CREATE TABLE public.invoices (id bigserial PRIMARY KEY, tenant text, customer_id bigint, "
                   "created_at timestamptz)", "INSERT INTO public.invoices (tenant, customer_id, created_at) "
                   "SELECT 't' || g, g, now() FROM generate_series(1, 20) g")
    config = tmp_path / "tenants.toml"
    result = CliRunner().invoke(main, ["discover", pg_url, "--schema", "*", "-o", str(config)])
    assert result.exit_code == 0, result.output
    _, specs = load_config(config)
    keys = {s.table: s.keys for s in specs}
    assert keys["tenant_new.invoices"] == ("customer_id", "billing_period") and "tenant_odd.invoices" not in keys
    assert "tenant_odd.invoices: no key proposed -- the table is empty" in result.output
    assert "the key 4 of the 5 other invoices tables discovered got" in result.output
    run_statements(pg_url, "INSERT INTO tenant_new.invoices SELECT * FROM tenant_0003.invoices")  # billed twice
    scan = CliRunner().invoke(main, ["scan", pg_url, "--config", str(config), "--format", "summary"])
    assert scan.exit_code == 1, scan.output
    assert {t["table"] for t in json.loads(scan.output)["tables"] if t["failed"]} == {
        "tenant_0003.invoices", "tenant_new.invoices"}
