"""Spark SQL for real: one Spark Thrift server per session (tests/spark_server.py, pip's pyspark jars, local[2]),
tables created through it, the scan run through SQLAlchemy over PyHive (hive://)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, check_case, scan_one, spark_events_table, spark_table
from sqlrun import SQLFailed, apply_sql, scan_doc

from dupfinder.cli import main
from dupfinder.errors import UsageError
from dupfinder.remediate import cleanup_sql, migration_sql_for_findings, rollback_sql

CASES = sorted(Path(__file__).parent.joinpath("cases").glob("*.json"))
FILES = {"findings.json", "report.html", "cleanup.sql", "rollback.sql", "migration.sql", "verify.sql"}


def spark_rows(url: str, table: str = "events") -> list[tuple]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            quoted = "`" + table.replace("`", "``") + "`"
            return [tuple(map(str, r)) for r in conn.exec_driver_sql(f"SELECT * FROM {quoted} ORDER BY 1")]
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case_on_spark(case, spark_url):
    spec = json.loads(case.read_text())
    spark_events_table(spark_url, [tuple(r) for r in spec["rows"]])
    result = scan_one(spark_url, window=spec["window"], ids=["id"])
    check_case(result, spec)


def test_without_id_spark_tables_are_refused_with_the_way_out(spark_url):
    spark_events_table(spark_url, [(1, 7, 0.0), (2, 7, 0.3)])
    with pytest.raises(UsageError, match="--id COL") as refused:
        scan_one(spark_url)
    assert "Spark SQL has no row id" in str(refused.value)  # it said "hive has no row id", PyHive's dialect name


def test_out_writes_every_file_and_the_plan_runs_up_to_what_parquet_allows(spark_url, tmp_path):
    spark_events_table(spark_url, [(1, 7, 0.0, "a", "x"), (2, 7, 0.3, "b", "x"), (3, 8, 0.0, "a", "x"),
                                   (4, 8, 0.1, "b", "y")])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", spark_url, "--table", "events", "--key", "account", "--key", "day",
                                       "--ts", "ts", "--id", "id", "--writer", "host=host", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert {p.name for p in out.iterdir()} >= FILES
    doc = json.loads((out / "findings.json").read_text())
    assert doc["tables"][0]["storage"] == "parquet" and doc["tables"][0]["id_columns"] == ["id"]
    cleanup = (out / "cleanup.sql").read_text()
    assert "PLAN of separate statements" in cleanup and "cannot delete rows in place" in cleanup
    assert "\nDELETE FROM" not in cleanup  # parquet: the delete is the rewrite a person runs by hand
    assert "Spark SQL enforces no UNIQUE constraint" in (out / "migration.sql").read_text()
    before = spark_rows(spark_url)
    apply_sql(spark_url, cleanup)  # backup + guards + copy: everything Spark can do on a parquet table
    backup = next(json.loads(line.split("backup table: ")[1]) for line in cleanup.splitlines()
                  if "backup table: " in line)
    assert [r[0] for r in spark_rows(spark_url, backup)] == ["2"]  # the divergent pair (3, 4) is left alone
    apply_sql(spark_url, cleanup)  # a second run copies nothing twice
    assert [r[0] for r in spark_rows(spark_url, backup)] == ["2"]
    apply_sql(spark_url, rollback_sql(doc))  # nothing was deleted: nothing to put back
    assert spark_rows(spark_url) == before
    # the statement verify.sql holds runs on Spark too
    verify = (out / "verify.sql").read_text().split(";\n")[0].split("\n", 5)[-1]
    engine = sa.create_engine(spark_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql(verify.replace(":since", "TIMESTAMP '2026-11-01 00:00:00'"))]
    engine.dispose()
    assert sorted(ids) == [1, 2, 3, 4]


def test_guard_stops_the_plan_when_a_survivor_is_gone(spark_url):
    spark_events_table(spark_url, [(1, 7, 0.0), (2, 7, 0.3)])
    doc = scan_doc(spark_url, ids=["id"])
    gone = json.loads(json.dumps(doc))
    gone["tables"][0]["clusters"][0]["rows"][0]["pk"] = {"id": 99}  # a survivor the table does not hold
    with pytest.raises(SQLFailed, match="rows_changed_since_the_scan"):
        apply_sql(spark_url, cleanup_sql(gone))


def test_delta_tables_get_a_delete_in_the_plan(spark_url):
    spark_events_table(spark_url, [(1, 7, 0.0), (2, 7, 0.3)])
    doc = scan_doc(spark_url, ids=["id"], since="2026-11-01T00:00:00")
    assert any("Spark has no indexes" in n and "CLUSTER BY (`ts`)" in n for n in doc["tables"][0]["notes"])
    doc["tables"][0]["storage"] = "delta"  # pip's pyspark ships no Delta: the branch is rendered, not run
    assert "\nDELETE FROM `" + doc["tables"][0]["schema"] + "`.`events` WHERE (`id`) IN ((2));" in cleanup_sql(doc)
    assert "no UNIQUE" in migration_sql_for_findings(doc)


def test_hostile_names_on_spark(spark_url):
    # Spark's catalog takes only [A-Za-z0-9_] table names; column names may hold anything
    name, key = "Order_Lines", "gr`oup; drop"
    spark_table(spark_url, name, {"id": "INT", key: "STRING", "Created At": "TIMESTAMP"},
                [{"id": 1, key: "O'Brien \\ x", "Created At": at(0)},
                 {"id": 2, key: "O'Brien \\ x", "Created At": at(0.1)},
                 {"id": 3, key: "other", "Created At": at(0)}])
    doc = scan_doc(spark_url, table=name, keys=[key], ts="Created At", ids=["id"])
    assert [c["key"][key] for c in doc["tables"][0]["clusters"]] == ["O'Brien \\ x"]
    apply_sql(spark_url, cleanup_sql(doc))  # the guards match the hostile value through its literal


def test_statement_timeout_cancels_a_long_statement(spark_url):
    from dupfinder.connect import read_only
    from dupfinder.errors import QueryFailed

    with pytest.raises(QueryFailed, match="TIMEDOUT"), read_only(spark_url, statement_timeout=1) as conn:
        conn.exec_driver_sql("SELECT count(*) FROM range(100000000) AS a, range(1000) AS b").all()


def spark_run(url: str, *statements: str) -> list[tuple]:
    """Run statements in one Spark session, in order; the rows of the last one."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            for statement in statements:
                result = conn.exec_driver_sql(statement)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _rewrite_without(url: str, table: str, ids: list[int]) -> None:
    """Step 4 of a parquet plan, by hand: rewrite the table without the losing rows."""
    wanted = ", ".join(map(str, ids))
    spark_run(url, f"CREATE TABLE kept USING parquet AS SELECT * FROM {table} WHERE id IS NULL OR id NOT IN ({wanted})",
              f"DROP TABLE {table}", f"ALTER TABLE kept RENAME TO {table}")


def test_one_null_id_disables_neither_the_guard_nor_the_rollback(spark_url):
    """A stranger's finding: one row whose --id is NULL (a legacy row from before the column was filled) made
    `x NOT IN (SELECT id ...)` NULL for every x on Spark, so the guard passed with a survivor gone and
    rollback.sql put back nothing after the rewrite had removed the losing row."""
    spark_events_table(spark_url, [(1, 7, 0.0), (2, 7, 0.3), (None, 9, 50.0)])
    doc = scan_doc(spark_url, ids=["id"])
    gone = json.loads(json.dumps(doc))
    gone["tables"][0]["clusters"][0]["rows"][0]["pk"] = {"id": 99}  # a survivor the table does not hold
    with pytest.raises(SQLFailed, match="a survivor is gone"):
        apply_sql(spark_url, cleanup_sql(gone))
    before = spark_rows(spark_url)
    apply_sql(spark_url, cleanup_sql(doc))  # backs row 2 up
    _rewrite_without(spark_url, "events", [2])
    assert sorted(r[0] for r in spark_rows(spark_url)) == ["1", "None"]
    apply_sql(spark_url, rollback_sql(doc))
    assert sorted(spark_rows(spark_url)) == sorted(before)


def test_a_cluster_holding_a_null_id_is_left_out_and_the_other_one_cleaned(spark_url):
    """A NULL --id inside a cluster: cleanup_sql stopped with "a row's pk holds a null"; that cluster is now
    a NOT DELETED comment and the plan, the rewrite and the rollback run for the other one."""
    spark_events_table(spark_url, [(1, 7, 0.0, "a"), (None, 7, 0.3, "b"), (3, 8, 0.0, "a"), (4, 8, 0.1, "b")])
    doc = scan_doc(spark_url, ids=["id"], writers=["host=host"])
    cleanup = cleanup_sql(doc)
    assert 'NOT DELETED (a row\'s "--id id" is NULL' in cleanup and doc["tables"][0]["rows_to_delete"] == 1
    before = spark_rows(spark_url)
    apply_sql(spark_url, cleanup)  # backs row 4 up
    _rewrite_without(spark_url, "events", [4])
    assert sorted(r[0] for r in spark_rows(spark_url)) == ["1", "3", "None"]
    apply_sql(spark_url, rollback_sql(doc))
    assert sorted(spark_rows(spark_url)) == sorted(before)


def _in_default(url: str) -> str:
    """The same server's `default` database: where spark-sql -f and beeline start."""
    return url.rsplit("/", 1)[0] + "/default"


def test_the_files_run_from_default_and_the_rewrite_keeps_the_table_partitioned(spark_url, tmp_path):
    """A stranger's finding: with the URL naming a database (hive://.../lake), every file named the table
    unqualified, so `spark-sql -f cleanup.sql` (which starts in `default`) did not find it; step 4's
    rewrite, run by hand, made an unpartitioned Hive SerDe table of a partitioned parquet table, and dropped
    the rows whose id is NULL (NOT IN is NULL for them)."""
    spark_run(spark_url, "CREATE TABLE events (id STRING, account INT, ts TIMESTAMP_NTZ, dt DATE) "
                         "USING parquet PARTITIONED BY (dt)",
              "INSERT INTO events VALUES ('a', 7, TIMESTAMP_NTZ '2026-11-02 10:00:00', DATE '2026-11-02'), "
              "('b', 7, TIMESTAMP_NTZ '2026-11-02 10:00:01', DATE '2026-11-02'), "
              "(NULL, 8, TIMESTAMP_NTZ '2026-11-03 10:00:00', DATE '2026-11-03')")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", spark_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--id", "id", "--out", str(out), "-q"])
    assert result.exit_code == 1, result.output
    before = sorted(spark_rows(spark_url))
    default = _in_default(spark_url)
    cleanup = (out / "cleanup.sql").read_text()
    apply_sql(default, cleanup)
    by_hand = [line[5:] for line in cleanup.splitlines()
               if line.startswith(("--   CREATE TABLE", "--   INSERT INTO", "--   ALTER TABLE"))]
    assert len(by_hand) >= 3
    apply_sql(default, "\n".join(by_hand))
    assert sorted(spark_rows(spark_url)) == [r for r in before if r[0] != "b"]
    described = {r[0]: r[1] for r in spark_run(spark_url, "DESCRIBE TABLE EXTENDED events")}
    assert described.get("Provider") == "parquet" and "# Partition Information" in described
    apply_sql(default, (out / "rollback.sql").read_text())
    assert sorted(spark_rows(spark_url)) == before
    verify = (out / "verify.sql").read_text().split(";\n")[0].split("\n", 5)[-1]
    assert len(spark_run(default, verify.replace(":since", "TIMESTAMP_NTZ '2026-11-01 00:00:00'"))) == 2


def test_the_advice_for_a_parquet_table_runs_and_a_second_run_adds_nothing(spark_url):
    """A stranger's finding: a daily Spark job writing a parquet table twice was told only MERGE INTO on a Delta
    table (which parquet has not). The overwrite advised for parquet, filled in and run twice on a real table:
    the partition holds one run's rows, and the other partitions are untouched."""
    from dupfinder.recommend import recommendations

    text = recommendations("multi_host", [{"host": "a"}, {"host": "b"}], False, None, "hive")[-1]
    setting, overwrite = re.findall(r"`(SET [^`]+)`", text)[0], re.findall(r"`(INSERT OVERWRITE [^`]+)`", text)[0]
    job = (overwrite.replace("TABLE ...", "TABLE daily_revenue").replace("PARTITION (...)", "PARTITION (day)")
           .replace("SELECT ...", "SELECT 'eu' AS region, CAST(10.50 AS DECIMAL(18,2)) AS amount, "
                                  "DATE '2026-11-23' AS day"))
    rows = spark_run(spark_url, "CREATE TABLE daily_revenue (region STRING, amount DECIMAL(18,2), day DATE) "
                                "USING parquet PARTITIONED BY (day)",
                     "INSERT INTO daily_revenue VALUES ('eu', 7.00, DATE '2026-11-22')",
                     setting, job, job,  # two schedulers ran the job
                     "SELECT CAST(day AS STRING), CAST(amount AS STRING) FROM daily_revenue")
    assert sorted(rows) == [("2026-11-22", "7.00"), ("2026-11-23", "10.50")]


def test_discover_lists_the_tables_of_the_urls_database(spark_url):
    """A stranger's finding: `dupfinder discover hive://host:port/lake` stopped with "table 'lake' not found":
    the table list came from PyHive's reflection, which reads the database column of Spark's SHOW TABLES."""
    from dupfinder.discover import discover

    spark_events_table(spark_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    (proposal,) = discover(spark_url)
    assert proposal.table == "events" and proposal.ts == "ts" and proposal.keys


def test_cleanup_plan_rechecks_where_before_the_backup(spark_url):
    """After a scan with --where the Spark plan now checks the predicate again on each losing row and survivor
    before step 3 copies anything (PostgreSQL/MariaDB/SQLite/DuckDB cleanups did; this plan did not). A parquet
    table cannot be updated in place, so the findings' predicate is changed to one survivor 1 (host a) no longer
    matches: the plan stops at its guard and the backup stays empty; with the predicate as scanned it runs."""
    spark_events_table(spark_url, [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0, "c"), (4, 8, 0.3, "d"),
                                   (5, 9, 0.0, "retired"), (6, 9, 0.2, "retired")])
    doc = scan_doc(spark_url, ids=["id"], writers=["host=host"], where="host <> 'retired'")
    assert len(doc["tables"][0]["clusters"]) == 2
    moved = json.loads(json.dumps(doc))
    moved["tables"][0]["where"] = "host NOT IN ('retired', 'a')"
    with pytest.raises(SQLFailed, match="no longer matches --where"):
        apply_sql(spark_url, cleanup_sql(moved))
    backup = re.search(r"backup table: \"?([^\"\n]+)", cleanup_sql(doc)).group(1)
    assert spark_rows(spark_url, backup.split(".")[-1].strip("`")) == []
    apply_sql(spark_url, cleanup_sql(doc))
    assert sorted(int(r[0]) for r in spark_rows(spark_url, backup.split(".")[-1].strip("`"))) == [2, 4]
