"""A partitioned PostgreSQL table whose partition key is not in the business key (a ledger partitioned by month
on its creation time) takes no UNIQUE constraint on the key: PostgreSQL refuses it ("unique constraint on
partitioned table must include all partitioning columns"). migration.sql, `dupfinder migrate` and the report
told a person to attach per-partition unique indexes to one created ON ONLY the parent, or to run CREATE UNIQUE
INDEX without CONCURRENTLY, both refused on such a table, and to include the partition key in the key, which for
the creation time makes a constraint that no double run violates."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import partitioned_by_month, run_statements
from sqlrun import scan_doc

from dupfinder.cli import main
from dupfinder.remediate import migration_sql_for_findings

LEDGER = "id int, account int, day int, amount numeric(12,2), ts timestamptz, PRIMARY KEY (id, ts)"
DOUBLE_RUN = ("INSERT INTO ledger VALUES (1, 7, 1, 10.00, '2026-11-02 01:30:00+00'), "
              "(2, 7, 1, 10.00, '2026-11-02 01:30:00.004+00'), (3, 8, 1, 12.50, '2026-11-02 01:30:01+00'), "
              "(4, 8, 1, 12.50, '2026-11-02 01:30:01.003+00'), (5, 9, 1, 3.00, '2026-11-02 01:30:02+00')")


def _refused(url: str, statement: str) -> str:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError) as err:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    return str(err.value.orig)


def test_partitioned_by_its_timestamp_is_said_to_take_no_unique_constraint(pg_url):
    partitioned_by_month(pg_url, "ledger", LEDGER, "ts", DOUBLE_RUN)
    doc = scan_doc(pg_url, table="ledger", keys=["account", "day"], ts="ts")
    table = doc["tables"][0]
    assert table["partitioned"] is True and table["partition_key"] == ["ts"]
    assert len(table["clusters"]) == 2
    # what the advice used to send a person to run is refused by PostgreSQL on this table
    assert "must include all partitioning columns" in _refused(
        pg_url, "CREATE UNIQUE INDEX uq ON ONLY ledger (account, day)")
    assert "must include all partitioning columns" in _refused(
        pg_url, "CREATE UNIQUE INDEX uq ON ledger (account, day)")
    held = [line for line in migration_sql_for_findings(doc).splitlines() if "not migrated" in line]
    assert len(held) == 1, held
    advice = held[0]
    assert 'partitioned by ("ts")' in advice and "none on this key is possible" in advice
    assert "would stop no double run" in advice and "partition boundary" in advice
    assert "ON ONLY the parent" not in advice and "without CONCURRENTLY" not in advice
    steps = table["incidents"][0]["recommendations"]
    assert "takes no UNIQUE constraint" in steps[-1] and "Add the UNIQUE constraint" not in " ".join(steps)
    # what it advises instead works: a unique index on each partition, which refuses a copy in that partition
    run_statements(pg_url, "DELETE FROM ledger WHERE id IN (2, 4)",
                   "CREATE UNIQUE INDEX ledger_10_key ON ledger_10 (account, day)",
                   "CREATE UNIQUE INDEX ledger_11_key ON ledger_11 (account, day)")
    assert "duplicate key" in _refused(pg_url, "INSERT INTO ledger VALUES (6, 7, 1, 10.00, '2026-11-02 01:30:00.2+00')")


def test_migrate_refuses_a_partitioned_table_with_what_to_do(pg_url):
    partitioned_by_month(pg_url, "ledger", LEDGER, "ts")
    result = CliRunner().invoke(main, ["migrate", pg_url, "--table", "ledger", "--key", "account", "--key", "day"])
    assert result.exit_code == 2, result.output
    assert "partitioned by (ts)" in result.output and "none on this key is possible" in result.output
    assert "ON ONLY the parent" not in result.output


def _statement_kinds(sql: str) -> list[str]:
    """What pglast reads in a migration file: psql's \\gexec ends the statement before it as ';' would."""
    import json

    from pglast import parser

    tree = json.loads(parser.parse_sql_json(sql.replace("\\gexec", ";")))
    return [next(iter(s["stmt"])) for s in tree.get("stmts", [])]


def test_partition_key_inside_the_business_key_gets_the_unique_index_partition_by_partition(pg_url, pg_server,
                                                                                          tmp_path):
    """migration.sql gave a partitioned table whose partition key the business key holds only advice (create
    the index per partition, ON ONLY the parent, attach...), so the next double run still got in. It now builds
    the unique index: ON ONLY each partitioned table of the tree, CONCURRENTLY on each leaf (psql's \\gexec),
    attached bottom up; run twice, it changes nothing the second time; a partition created later gets it."""
    from sqlrun import SQLFailed, apply_sql

    run_statements(pg_url, "CREATE TABLE ledger (id int, account int, day int, ts timestamptz, "
                           "PRIMARY KEY (id, day, account)) PARTITION BY LIST (day)",
                   "CREATE TABLE ledger_1 PARTITION OF ledger FOR VALUES IN (1)",
                   # a sub-partitioned partition: its own partition key (account) is in the business key too
                   "CREATE TABLE ledger_2 PARTITION OF ledger FOR VALUES IN (2) PARTITION BY LIST (account)",
                   "CREATE TABLE ledger_2_7 PARTITION OF ledger_2 FOR VALUES IN (7)",
                   "CREATE TABLE ledger_2_8 PARTITION OF ledger_2 FOR VALUES IN (8)",
                   "INSERT INTO ledger VALUES (1, 7, 1, '2026-11-02 01:30:00+00'), "
                   "(2, 7, 1, '2026-11-02 01:30:00.1+00'), (3, 7, 2, '2026-11-03 01:30:00+00'), "
                   "(4, 7, 2, '2026-11-03 01:30:00.1+00'), (5, 8, 2, '2026-11-03 01:30:01+00')")
    doc = scan_doc(pg_url, table="ledger", keys=["account", "day"], ts="ts")
    assert doc["tables"][0]["partition_key"] == ["day"] and len(doc["tables"][0]["clusters"]) == 2
    migration = migration_sql_for_findings(doc)
    assert "not migrated" not in migration
    assert set(_statement_kinds(migration)) == {"VariableSetStmt", "DoStmt", "SelectStmt"}
    steps = doc["tables"][0]["incidents"][0]["recommendations"]
    assert steps[-1].startswith("Add the UNIQUE constraint")
    # its pre-flight stops it while the copies remain, with nothing created
    with pytest.raises(SQLFailed, match="still holds duplicate keys"):
        apply_sql(pg_url, migration, pg_server)
    run_statements(pg_url, "DELETE FROM ledger WHERE id IN (2, 4)")
    apply_sql(pg_url, migration, pg_server)
    apply_sql(pg_url, migration, pg_server)  # a second run changes nothing
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        indexes = conn.exec_driver_sql(
            "SELECT c.relname, i.indisvalid, i.indisunique FROM pg_index AS i JOIN pg_class AS c "
            "ON c.oid = i.indexrelid JOIN pg_class AS t ON t.oid = i.indrelid "
            "WHERE NOT i.indisprimary AND left(t.relname, 6) = 'ledger' ORDER BY t.relname").all()
    engine.dispose()
    # one unique index on each of the five tables of the tree, every one valid
    assert len(indexes) == 5 and all(valid and unique for _, valid, unique in indexes), indexes
    assert indexes[0][0] == "uq_ledger_account_day"
    # the next double run fails loudly, in a leaf and in a sub-partition's leaf
    assert "duplicate key" in _refused(pg_url, "INSERT INTO ledger VALUES (6, 7, 1, '2026-11-02 01:30:00.2+00')")
    assert "duplicate key" in _refused(pg_url, "INSERT INTO ledger VALUES (7, 8, 2, '2026-11-03 01:30:01.1+00')")
    # a partition created afterwards gets the index from PostgreSQL
    run_statements(pg_url, "CREATE TABLE ledger_3 PARTITION OF ledger FOR VALUES IN (3)",
                   "INSERT INTO ledger VALUES (8, 7, 3, '2026-11-04 01:30:00+00')")
    assert "duplicate key" in _refused(pg_url, "INSERT INTO ledger VALUES (9, 7, 3, '2026-11-04 01:30:00.1+00')")
    apply_sql(pg_url, migration, pg_server)  # and a run after it still passes
    # `dupfinder migrate` writes the same migration (it refused the table with the advice), not an Alembic one
    result = CliRunner().invoke(main, ["migrate", pg_url, "--table", "ledger", "--key", "account", "--key", "day"])
    assert result.exit_code == 0, result.output
    apply_sql(pg_url, result.output, pg_server)
    result = CliRunner().invoke(main, ["migrate", pg_url, "--table", "ledger", "--key", "account", "--key", "day",
                                       "--alembic", str(tmp_path)])
    assert result.exit_code == 2 and "run it with psql" in result.output, result.output


def test_cleanup_header_names_every_column_left_out_of_the_comparison(pg_url):
    """The header's list of columns "not compared with the survivor" left out the --ignore columns, which the
    guard does not compare (a reviewer reading it believed copies differing there were kept), and named a
    partitioned table's timestamp twice (once as a primary-key column, once as the timestamp)."""
    partitioned_by_month(pg_url, "ledger", LEDGER + ", inserted_at timestamp", "ts",
                         "INSERT INTO ledger VALUES (1, 7, 1, 10.00, '2026-11-02 01:30:00+00', '2026-11-02 02:30:00'), "
                         "(2, 7, 1, 10.00, '2026-11-02 01:30:00.004+00', '2026-11-02 02:30:00.004')")
    doc = scan_doc(pg_url, table="ledger", keys=["account", "day"], ts="ts", ignore=["inserted_at"])
    from dupfinder.remediate import cleanup_sql
    header = cleanup_sql(doc).split("BEGIN;", 1)[0]
    listed = header.split("not compared with the survivor", 1)[1]
    assert '"inserted_at": "ignored (--ignore)' in listed, listed
    assert listed.count('"ts":') == 1 and '"ts": "primary key; timestamp"' in listed, listed


def test_row_level_security_hiding_rows_from_the_audit_role_is_a_warning(pg_url):
    """A SELECT-only audit role under a row-level security policy read a part of the table and reported it as
    the whole: clean for the rows it saw, while migration.sql's pre-flight, run by the owner, stopped on the
    duplicates of the rows hidden from it. The scan now warns (stderr, findings and summary)."""
    import os

    from dupfinder import api
    from dupfinder.config import ScanOptions, table_spec

    role = f"rls_auditor_{os.getpid()}"
    partitioned_by_month(pg_url, "ledger", LEDGER + ", entity text", "ts",
                         "INSERT INTO ledger VALUES (1, 7, 1, 10.00, '2026-11-02 01:30:00+00', 'DE'), "
                         "(2, 7, 1, 10.00, '2026-11-02 01:30:00.004+00', 'DE'), "
                         "(3, 8, 1, 12.50, '2026-11-02 01:30:01+00', 'UK'), "
                         "(4, 8, 1, 12.50, '2026-11-02 01:30:01.003+00', 'UK')")
    run_statements(pg_url, f"DROP ROLE IF EXISTS {role}", f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'",
                   f"GRANT SELECT ON ledger TO {role}", "ALTER TABLE ledger ENABLE ROW LEVEL SECURITY",
                   f"CREATE POLICY de_only ON ledger FOR SELECT TO {role} USING (entity = 'DE')",
                   "CREATE VIEW ledger_bi WITH (security_invoker = true) AS SELECT * FROM ledger",
                   "CREATE VIEW ledger_owner_view AS SELECT * FROM ledger",
                   f"GRANT SELECT ON ledger_bi, ledger_owner_view TO {role}")
    reader = sa.make_url(pg_url).set(username=role, password=f"pw-{role}").render_as_string(hide_password=False)

    def scan(url, table, **extra):
        spec = table_spec(table=table, keys=["account", "day"], ts="ts", **extra)
        return api.scan(ScanOptions(url=url, tables=(spec,))).tables[0]

    try:
        hidden = scan(reader, "ledger")
        assert len(hidden.clusters) == 1  # the UK pair is hidden from the role
        assert any("row-level security is active for role " + role in w for w in hidden.warnings), hidden.warnings
        view = scan(reader, "ledger_bi", ids=["id"])
        assert len(view.clusters) == 1 and any("row-level security" in w for w in view.warnings)
        # the owner (and a view running as its owner) reads every row: nothing to warn about
        assert not any("row-level security" in w for w in scan(pg_url, "ledger").warnings)
        owner_view = scan(reader, "ledger_owner_view", ids=["id"])
        assert len(owner_view.clusters) == 2 and not any("row-level security" in w for w in owner_view.warnings)
        result = CliRunner().invoke(main, ["scan", reader, "--table", "ledger", "--key", "account", "--key", "day",
                                           "--ts", "ts", "--format", "summary"])
        assert result.exit_code == 1 and "warning: ledger: row-level security is active" in result.output
        # discover measures the keys on the rows the policies show, and says so
        from dupfinder.discover import discover

        proposal = next(p for p in discover(reader) if p.table == "ledger")
        assert proposal.rows_read == f"all 2 rows that row-level security shows role {role}", proposal
    finally:
        run_statements(pg_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_rows_with_a_null_key_in_another_partition_are_no_cluster(pg_url, pg_server):
    """A partitioned table repeats ctids across partitions, so fetching the clusters' rows by ctid also read the
    rows at those ctids in the other partitions. Two of them with a NULL in the key (distinct under UNIQUE, and
    counted in rows_null_key) were grouped as one key by the window: a cluster, and cleanup.sql deleted one of
    them; verify.sql returned them too."""
    from sqlrun import apply_sql

    from dupfinder import api
    from dupfinder.config import ScanOptions, table_spec
    from dupfinder.remediate import cleanup_sql

    run_statements(pg_url, "CREATE TABLE ev (id int, entity text, account int, day text, ts timestamptz, "
                           "PRIMARY KEY (id, entity)) PARTITION BY LIST (entity)",
                   "CREATE TABLE ev_a PARTITION OF ev FOR VALUES IN ('a')",
                   "CREATE TABLE ev_b PARTITION OF ev FOR VALUES IN ('b')",
                   "INSERT INTO ev VALUES (1, 'a', 7, 'd', '2026-11-02 01:00:00+00'), "
                   "(2, 'a', 7, 'd', '2026-11-02 01:00:00.3+00')",
                   "INSERT INTO ev VALUES (3, 'b', 9, NULL, '2026-11-02 01:00:00.1+00'), "
                   "(4, 'b', 9, NULL, '2026-11-02 01:00:00.2+00')")
    doc = scan_doc(pg_url, table="ev", keys=["account", "day"], ts="ts")
    table = doc["tables"][0]
    assert table["rows_null_key"] == 2
    assert [[r["pk"]["id"] for r in c["rows"]] for c in table["clusters"]] == [[1, 2]]
    apply_sql(pg_url, cleanup_sql(doc), pg_server)
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM ev ORDER BY id").scalars().all() == [1, 3, 4]
    run_statements(pg_url, "INSERT INTO ev VALUES (5, 'a', 8, 'd', '2026-11-02 02:00:00+00'), "
                           "(6, 'a', 8, 'd', '2026-11-02 02:00:00.1+00')")
    verify = api.scan(ScanOptions(url=pg_url, tables=(table_spec(table="ev", keys=["account", "day"], ts="ts"),))
                      ).tables[0].verify_sql
    with engine.connect() as conn:
        found = conn.execute(sa.text(verify), {"since": "2026-11-01T00:00:00+00:00"}).mappings().all()
    engine.dispose()
    assert sorted(r["id"] for r in found) == [5, 6]


def test_migrate_on_a_view_says_the_constraint_belongs_on_its_table(pg_url):
    """`dupfinder migrate URL --table A_VIEW` said to 'name the columns that identify a row with --id COL', an
    option migrate does not have ('No such option'); a view takes no constraint whatever identifies its rows."""
    partitioned_by_month(pg_url, "ledger", LEDGER, "ts")
    run_statements(pg_url, "CREATE VIEW ledger_bi AS SELECT * FROM ledger")
    result = CliRunner().invoke(main, ["migrate", pg_url, "--table", "ledger_bi", "--key", "account", "--key", "day"])
    assert result.exit_code == 2, result.output
    assert "--id" not in result.output and "is a view" in result.output
    assert "a UNIQUE constraint belongs on that table" in result.output


def test_scanning_one_partition_says_what_it_cannot_see(pg_url):
    """A partition scanned on its own (an owner or a role granted one month) reported the month as the whole
    story: the pair a double run wrote either side of the month's bound was missed without a word."""
    partitioned_by_month(pg_url, "ledger", LEDGER, "ts",
                         "INSERT INTO ledger VALUES (1, 7, 1, 10.00, '2026-10-31 23:59:59.8+00'), "
                         "(2, 7, 1, 10.00, '2026-11-01 00:00:00.1+00')")
    whole = scan_doc(pg_url, table="ledger", keys=["account", "day"], ts="ts")["tables"][0]
    assert len(whole["clusters"]) == 1 and not any("a partition of" in n for n in whole["notes"])
    month = scan_doc(pg_url, table="ledger_11", keys=["account", "day"], ts="ts")["tables"][0]
    assert month["clusters"] == []
    assert any(n.startswith("a partition of ledger: ") and "scan ledger to read them all" in n
               for n in month["notes"]), month["notes"]


def test_migrate_on_one_partition_warns_that_it_covers_that_partition_alone(pg_url):
    partitioned_by_month(pg_url, "ledger", LEDGER, "ts")
    result = CliRunner().invoke(main, ["migrate", pg_url, "--table", "ledger_11", "--key", "account", "--key", "day"])
    assert result.exit_code == 0, result.output
    assert "ledger_11 is a partition of ledger: its unique index covers this partition alone" in result.output
    assert "CREATE UNIQUE INDEX CONCURRENTLY" in result.output
