"""PostgreSQL inheritance: a parent table's scan and cleanup are about its own rows, not an heir's (a stranger's
scan of ev counted ev_archive's rows, and cleanup then aborted on every run); a partitioned table keeps reading
its partitions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlrun import rows_of, scan_doc

from dupfinder.remediate import cleanup_sql, rollback_sql


def run(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


def only(url: str, table: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = [tuple(map(str, r)) for r in conn.exec_driver_sql(f"SELECT * FROM ONLY {table} ORDER BY 1")]
    engine.dispose()
    return found


def test_a_parent_is_read_and_cleaned_without_its_heirs_rows(pg_url, runner_pg):
    run(pg_url, """
        CREATE TABLE ev (id integer PRIMARY KEY, k text, ts timestamp, note text);
        CREATE TABLE ev_archive () INHERITS (ev);
        INSERT INTO ev VALUES (1, 'a', '2026-11-23 10:00:00', 'x'), (2, 'a', '2026-11-23 10:00:00.3', 'x'),
                              (3, 'b', '2026-11-23 11:00:00', 'y');
        -- the archive holds a copy of key b (same id as a parent row: inheritance keeps no key across tables)
        -- and a row with the id of the parent's loser
        INSERT INTO ev_archive VALUES (2, 'old', '2026-01-01 00:00:00', 'z'), (4, 'b', '2026-11-23 11:00:00.2', 'y');
    """)
    doc = scan_doc(pg_url, table="ev", keys=["k"], ts="ts")
    table = doc["tables"][0]
    assert table["rows_scanned"] == 3 and [c["key"] for c in table["clusters"]] == [{"k": "a"}]
    assert table["inherited_by"] == ["ev_archive"]
    assert any("FROM ONLY" in n and "ev_archive" in n for n in table["notes"]), table["notes"]
    archive = rows_of(pg_url, "ev_archive")
    runner_pg(cleanup_sql(doc))
    assert [r[0] for r in only(pg_url, "ev")] == ["1", "3"]
    assert rows_of(pg_url, "ev_archive") == archive
    runner_pg(rollback_sql(doc))
    assert [r[0] for r in only(pg_url, "ev")] == ["1", "2", "3"]
    assert rows_of(pg_url, "ev_archive") == archive


def test_a_partitioned_table_still_reads_its_partitions(pg_url):
    run(pg_url, """
        CREATE TABLE pv (id integer, k text, ts timestamp NOT NULL, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);
        CREATE TABLE pv_2026 PARTITION OF pv FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        INSERT INTO pv VALUES (1, 'a', '2026-11-23 10:00:00'), (2, 'a', '2026-11-23 10:00:00.3');
    """)
    table = scan_doc(pg_url, table="pv", keys=["k"], ts="ts")["tables"][0]
    assert table["rows_scanned"] == 2 and len(table["clusters"]) == 1 and "inherited_by" not in table
