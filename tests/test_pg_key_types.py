"""PostgreSQL key columns of odd types, as a stranger's undocumented database has them (stranger9)."""

from __future__ import annotations

import json
import warnings

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table, partitioned_by_month, run_statements, ts_type
from sqlrun import apply_duckdb, rows_of, scan_doc

from dupfinder.api import scan
from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec
from dupfinder.discover import discover
from dupfinder.findings import findings_dict
from dupfinder.remediate import cleanup_sql, migration_sql_for_findings, rollback_sql

TABLE = ("CREATE TABLE docs (id serial PRIMARY KEY, doc json, spot point, ref text, "
         "created_at timestamptz NOT NULL)",
         "INSERT INTO docs (doc, spot, ref, created_at) VALUES "
         "('{\"a\": 1}', '(1,2)', 'r1', '2026-11-03 02:30:00+00'), "
         "('{\"a\": 1}', '(1,2)', 'r1', '2026-11-03 02:30:00.2+00')")


@pytest.mark.parametrize("key,kind", [("doc", "json"), ("spot", "point")])
def test_a_key_without_equality_is_bad_input_not_a_failed_query(pg_url, key, kind):
    """json and point have no = operator: the detection's GROUP BY failed with exit 3 ("query failed"), as if
    the database were at fault; it is the key chosen, refused in one line naming the column, exit 2."""
    run_statements(pg_url, *TABLE)
    result = CliRunner().invoke(main, ["scan", pg_url, "--table", "docs", "--key", key, "--ts", "created_at"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: key column ")
    assert repr(key) in lines[0] and f"equality operator for type {kind}" in lines[0]


def test_a_column_of_an_unrecognised_type_warns_nothing(pg_url):
    """SQLAlchemy does not know point: reading the table's columns printed an SAWarning with a source line on
    stderr of every scan of such a table, two lines that are neither an error nor a note."""
    run_statements(pg_url, *TABLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = CliRunner().invoke(main, ["scan", pg_url, "--table", "docs", "--key", "ref", "--ts", "created_at",
                                           "--format", "summary"])
    assert result.exit_code == 1, result.output
    assert "SAWarning" not in result.output and '"verdict"' in result.output


def test_discover_measures_a_parent_table_on_its_own_rows(pg_url):
    """A scan reads a parent table that others INHERIT from with ONLY; discover measured it with its heirs'
    rows, so an archive heir holding old copies of the keys (far duplicates) hid the parent's double writes and
    no key was proposed for it."""
    rows = ", ".join(f"({k}, '2026-11-03 02:30:00+00'::timestamptz + {k} * interval '1 min' + {d} * interval '0.1 s')"
                     for k in range(20) for d in ((0, 1) if k < 5 else (0,)))
    archive = ", ".join(f"({k}, '2026-10-01 00:00:00+00'::timestamptz + {k} * interval '1 min')" for k in range(20))
    run_statements(pg_url, "CREATE TABLE orders (id serial PRIMARY KEY, order_ref int, created_at timestamptz)",
                   "CREATE TABLE orders_archive () INHERITS (orders)",
                   f"INSERT INTO orders (order_ref, created_at) VALUES {rows}",
                   f"INSERT INTO orders_archive (order_ref, created_at) VALUES {archive}")
    proposals = {p.table: p for p in discover(pg_url)}
    assert proposals["orders"].keys == ("order_ref",), proposals["orders"]
    assert "20 keys; 5 written more than once" in proposals["orders"].evidence


def test_discover_config_runs_unedited_beside_a_table_scan_cannot_identify_rows(mariadb_url, tmp_path):
    """MariaDB has no row id: discover proposed a key for a table without a primary key and wrote it as a live
    [[table]], so `scan --config` on the unedited starter config stopped at it (exit 2) and scanned nothing.
    The entry is now a comment saying to add ids; the other tables are scanned."""
    make_table(mariadb_url, "a_no_pk", [sa.Column("ref", sa.Integer), sa.Column("created_at", ts_type())],
               [{"ref": 1, "created_at": at(0)}, {"ref": 1, "created_at": at(0.2)}, {"ref": 2, "created_at": at(0)}])
    make_table(mariadb_url, "b_orders", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                                         sa.Column("order_ref", sa.Integer), sa.Column("created_at", ts_type())],
               [{"id": i, "order_ref": i // 2 if i < 4 else i, "created_at": at(i * 0.1)} for i in range(20)])
    config = tmp_path / "dupfinder.toml"
    found = CliRunner().invoke(main, ["discover", mariadb_url, "-o", str(config)])
    assert found.exit_code == 0, found.output
    assert "a_no_pk" in found.output and "add ids = [...]" in found.output
    assert '# name = "a_no_pk"' in config.read_text()
    scan = CliRunner().invoke(main, ["scan", mariadb_url, "--config", str(config), "--format", "summary"])
    assert scan.exit_code == 1, scan.output
    assert [t["table"] for t in json.loads(scan.output)["tables"]] == ["b_orders"]


def test_a_parents_migration_counts_its_own_rows_after_cleanup(pg_url, runner_pg):
    """The scan and cleanup.sql of a table others INHERIT from are about its own rows (ONLY), and its UNIQUE
    index covers only those; migration.sql's pre-flight counted the heirs' rows too, so an archive heir holding
    old copies of its keys stopped the migration after every cleanup ("still holds duplicate keys")."""
    run_statements(pg_url, "CREATE TABLE ev (id integer PRIMARY KEY, k text, ts timestamp)",
                   "CREATE TABLE ev_archive () INHERITS (ev)",
                   "INSERT INTO ev VALUES (1, 'a', '2026-11-23 10:00:00'), (2, 'a', '2026-11-23 10:00:00.3'), "
                   "(3, 'b', '2026-11-23 11:00:00')",
                   "INSERT INTO ev_archive VALUES (7, 'a', '2026-01-01 00:00:00'), (8, 'b', '2026-01-01 00:00:00')")
    doc = scan_doc(pg_url, table="ev", keys=["k"], ts="ts")
    runner_pg(cleanup_sql(doc))
    runner_pg(migration_sql_for_findings(doc))
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        constraints = conn.exec_driver_sql("SELECT conname FROM pg_constraint WHERE conrelid = 'ev'::regclass "
                                           "AND contype = 'u'").scalars().all()
    engine.dispose()
    assert constraints == ["uq_ev_k"]
    migrate = CliRunner().invoke(main, ["migrate", pg_url, "--table", "ev", "--key", "k"])
    assert migrate.exit_code == 0 and "SELECT 1 FROM ONLY " in migrate.output, migrate.output


def test_list_values_with_a_null_are_cleaned_and_restored_on_duckdb(duckdb_url):
    """A DuckDB list went into findings.json as Python's text ``['x', None]``, which DuckDB casts back as the
    string 'None': cleanup.sql's guard saw every such losing row as changed since the scan and deleted nothing,
    however often it ran. Values are JSON text now (``["x", null]``)."""
    import duckdb

    conn = duckdb.connect(sa.make_url(duckdb_url).database)
    conn.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, k VARCHAR, tags VARCHAR[], ts TIMESTAMP)")
    conn.execute("INSERT INTO ev VALUES (1, 'a', ['x', NULL], '2026-11-23 10:00:00'), "
                 "(2, 'a', ['x', NULL], '2026-11-23 10:00:00.3'), (3, 'b', ['y'], '2026-11-23 11:00:00')")
    conn.close()
    before = rows_of(duckdb_url, "ev")
    doc = scan_doc(duckdb_url, table="ev", keys=["k"], ts="ts")
    apply_duckdb(duckdb_url, cleanup_sql(doc))
    assert doc["tables"][0]["clusters"][0]["rows"][0]["values"]["tags"] == '["x", null]'
    assert [r[0] for r in rows_of(duckdb_url, "ev")] == ["1", "3"]
    apply_duckdb(duckdb_url, rollback_sql(doc))
    assert rows_of(duckdb_url, "ev") == before


def test_json_and_array_keys_read_as_json_text(pg_url, runner_pg):
    """A jsonb or array key read as Python's repr (``{'a': None}``, ``['x', None]``), text neither JSON nor SQL;
    it is the JSON text of the value, and the cleanup of such keys still runs and rolls back exactly."""
    run_statements(pg_url, "CREATE TABLE ev (id serial PRIMARY KEY, doc jsonb, tags text[], ts timestamptz)",
                   "INSERT INTO ev (doc, tags, ts) VALUES ('{\"a\": null, \"b\": [1, 2.5]}', '{x,NULL}', "
                   "'2026-11-23 10:00:00+00'), "
                   "('{\"b\": [1, 2.50], \"a\": null}', '{x,NULL}', '2026-11-23 10:00:00.3+00')")
    doc = scan_doc(pg_url, table="ev", keys=["doc", "tags"], ts="ts")
    [cluster] = doc["tables"][0]["clusters"]
    assert {k: json.loads(v) for k, v in cluster["key"].items()} == {"doc": {"a": None, "b": [1, 2.5]},
                                                                      "tags": ["x", None]}
    before = rows_of(pg_url, "ev")
    runner_pg(cleanup_sql(doc))
    assert len(rows_of(pg_url, "ev")) == 1
    runner_pg(rollback_sql(doc))
    assert rows_of(pg_url, "ev") == before


def test_a_column_null_in_most_rows_does_not_hide_the_key(db_url):
    """An undocumented table has columns nobody fills. Checking whether another column splits a key's
    repeated groups (an order's two SKUs), discover left out the rows where that column is NULL, so a column
    NULL in every copy 'split' every group: order_id was rejected and legacy_ref, NULL in 25 of 26 rows, was
    proposed as "unique today over 1 keys"."""
    rows = [{"id": n, "order_id": n % 20, "legacy_ref": None, "created_at": at((n % 20) * 60 + (n // 20) * 0.01)}
            for n in range(25)] + [{"id": 25, "order_id": 100, "legacy_ref": "x", "created_at": at(3000)}]
    make_table(db_url, "sparse", [sa.Column("id", sa.Integer, primary_key=True), sa.Column("order_id", sa.Integer),
                                  sa.Column("legacy_ref", sa.Text), sa.Column("created_at", ts_type())], rows)
    [proposal] = discover(db_url)
    assert proposal.keys == ("order_id",), proposal
    assert proposal.evidence.startswith("21 keys; 5 written more than once")


def test_why_a_jsonb_table_gets_no_key_names_json(pg_url):
    """jsonb has equality, yet discover leaves JSON columns out of the candidates; it said the table had only
    "measures or types without equality", which sent a reader looking for a type problem that is not there."""
    run_statements(pg_url, "CREATE TABLE docs (id serial PRIMARY KEY, ref_doc jsonb, created_at timestamptz)",
                   "INSERT INTO docs (ref_doc, created_at) VALUES ('{\"a\": 1}', now()), ('{\"a\": 1}', now())")
    [proposal] = discover(pg_url)
    assert proposal.keys is None and "JSON documents" in proposal.evidence, proposal.evidence


def test_a_clean_table_gets_the_key_that_keys_its_rows(db_url):
    """Of two columns unique today, discover proposed the first by position, here legacy_ref, NULL in 40 of
    41 rows ("unique today over 1 keys"), over order_id, unique over all 41."""
    rows = [{"id": n, "legacy_ref": None, "order_id": n, "created_at": at(n * 60)} for n in range(40)]
    rows.append({"id": 40, "legacy_ref": "x", "order_id": 1000, "created_at": at(4000)})
    make_table(db_url, "clean", [sa.Column("id", sa.Integer, primary_key=True), sa.Column("legacy_ref", sa.Text),
                                 sa.Column("order_id", sa.Integer), sa.Column("created_at", ts_type())], rows)
    [proposal] = discover(db_url)
    assert proposal.keys == ("order_id",) and proposal.evidence.startswith("unique today over 41 keys"), proposal


def test_migration_sql_applies_past_a_partitioned_table(pg_url, runner_pg):
    """A partitioned table's pre-flight raised inside migration.sql, so psql -v ON_ERROR_STOP=1 stopped there
    and every table after it went without its constraint; it is now a comment saying what to do instead."""
    partitioned_by_month(pg_url, "a_parted", "id int, k int, ts timestamp NOT NULL, PRIMARY KEY (id, ts)", "ts",
                         "INSERT INTO a_parted VALUES (1, 1, '2026-11-03 02:30:00'), (2, 1, '2026-11-03 02:30:00.2')")
    run_statements(pg_url, "CREATE TABLE b_plain (id int PRIMARY KEY, k int, ts timestamp)",
                   "INSERT INTO b_plain VALUES (1, 1, '2026-11-03 02:30:00'), (2, 1, '2026-11-03 02:30:00.2')")
    doc = findings_dict(scan(ScanOptions(url=pg_url, tables=tuple(table_spec(table=t, keys=["k"], ts="ts")
                                                                for t in ("a_parted", "b_plain")))))
    runner_pg(cleanup_sql(doc))
    migration = migration_sql_for_findings(doc)
    runner_pg(migration)
    assert '-- table "a_parted": not migrated: partitioned' in migration
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        constraints = conn.exec_driver_sql("SELECT conrelid::regclass::text, conname FROM pg_constraint "
                                           "WHERE contype = 'u' AND connamespace = 'public'::regnamespace").all()
    engine.dispose()
    assert constraints == [("b_plain", "uq_b_plain_k")]


@pytest.mark.parametrize(("field", "message"), [
    ('keys = []', "keys must be a column name or an array of column names, e.g. [\"a\", \"b\"], "
                  "not an empty array"),
    ('keys = ["a", 3]', "not an array holding an integer"),
    ('keys = "a"\nwriters = { host = 5 }',
     "writers must be a table of role = \"column\", e.g. { host = \"hostname\" }, not a table holding an integer"),
])
def test_a_config_value_of_the_wrong_shape_is_named_as_it_is(sqlite_url, tmp_path, field, message):
    """keys = [] was refused with "must be ... an array of column names ..., not an array", and
    writers = { host = 5 } with "must be a table ..., not a table": the message contradicted itself."""
    config = tmp_path / "dupfinder.toml"
    config.write_text(f'[[table]]\nname = "events"\nts = "ts"\n{field}\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--config", str(config)])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and message in result.output, result.output


def _keyed(url: str, collation: str) -> dict:
    """Table refs (ref text under ``collation``, code varchar, box char(3)): pairs 200 ms apart, a minute from
    the next, of keys that differ in case, accent or char padding, and one key written three times."""
    rows = [("a", "x", "b"), ("A", "x", "b"), ("é", "x", "b"), ("e", "x", "b"), ("a", "x", "b  "), ("z", "y", "q")]
    values = ", ".join(f"('{ref}', '{code}', '{box}', '2026-11-03 02:30:00+00'::timestamptz + {n} * interval '1 min' "
                       f"+ {copy} * interval '0.2 s')"
                       for n, (ref, code, box) in enumerate(rows) for copy in range(3 if ref == "z" else 2))
    run_statements(url, f"CREATE TABLE refs (id serial PRIMARY KEY, ref text COLLATE {collation}, code varchar(5), "
                        "box char(3), ts timestamptz)",
                   f"INSERT INTO refs (ref, code, box, ts) VALUES {values}", "ANALYZE refs")
    return scan_doc(url, table="refs", keys=["ref", "code", "box"])


def _key_pass(url: str) -> tuple[str, str]:
    """The detection statement of refs and its plan's key-pass sort."""
    from dupfinder.connect import introspect, read_only
    from dupfinder.detect import _sorted_aggregation, detect_sql

    spec = table_spec(table="refs", keys=["ref", "code", "box"], ts="ts")
    with read_only(url) as conn:
        sql = detect_sql(conn, introspect(conn, "refs", {}), spec)["detect_clusters"]
        with _sorted_aggregation(conn):
            plan = conn.execute(sa.text(f"EXPLAIN {sql}"), {"window_us": 2_000_000, "offset_us": 0}).scalars().all()
    return sql, next(line.strip() for line in plan if "Sort Key" in line)


def _has_collation(url: str, name: str) -> bool:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT count(*) FROM pg_collation WHERE collname = %s", (name,)).scalar()
    engine.dispose()
    return bool(found)


def test_text_keys_under_a_linguistic_collation_are_grouped_by_their_bytes(pg_url):
    """Text under a deterministic collation is equal only when its bytes are: the key pass groups it under
    "C" (the same groups, a cheaper sort than ICU's comparisons), and keys differing in case or accent stay
    apart while char(3) padding stays equal, as the column's own equality says."""
    if not _has_collation(pg_url, "en-x-icu"):
        pytest.skip("this PostgreSQL was built without ICU: no en-x-icu collation")
    doc = _keyed(pg_url, '"en-x-icu"')
    sql, sort = _key_pass(pg_url)
    assert 'GROUP BY t.ref COLLATE "C", t.code COLLATE "C", t.box COLLATE "C"' in sql
    assert sort.startswith("Sort Key:") and sort.count('COLLATE "C"') == 3, sort
    clusters = sorted((c["key"]["ref"], c["key"]["box"].strip(), len(c["rows"])) for c in doc["tables"][0]["clusters"])
    # 'a' and 'a' padded to char(3) are one key written twice a minute apart: two clusters, one far key
    assert clusters == [("A", "b", 2), ("a", "b", 2), ("a", "b", 2), ("e", "b", 2), ("z", "q", 3), ("é", "b", 2)]
    assert doc["tables"][0]["far_duplicates"] == 1


def test_a_nondeterministic_collation_keeps_its_own_equality(pg_url):
    """Under a case-insensitive collation 'a' and 'A' are one key: grouping it by bytes would split them, so
    its key pass keeps the column's collation."""
    if not _has_collation(pg_url, "und-x-icu"):
        pytest.skip("this PostgreSQL was built without ICU: no nondeterministic collation to create")
    run_statements(pg_url, "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
    doc = _keyed(pg_url, "ci")
    sql, sort = _key_pass(pg_url)
    assert "t.ref COLLATE" not in sql and 't.code COLLATE "C"' in sql and "ref COLLATE ci" in sort, sort
    clusters = sorted((c["key"]["ref"].lower(), c["key"]["box"].strip(), len(c["rows"]))
                      for c in doc["tables"][0]["clusters"])
    assert clusters == [("a", "b", 2)] * 3 + [("e", "b", 2), ("z", "q", 3), ("é", "b", 2)]
    assert doc["tables"][0]["far_duplicates"] == 1  # 'a', 'A' and 'a' padded: one key of six rows
