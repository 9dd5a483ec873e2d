"""Shapes that once stopped a scan or a cleanup (issue 10's dead ends on the scan side): columns named like the
detection statement's own aliases, and infinite timestamps. Each is scanned, cleaned and rolled back for real."""

from __future__ import annotations

import sqlalchemy as sa
from sqlrun import rows_of, scan_doc

from dupfinder.remediate import cleanup_sql, rollback_sql

ALIASES = ["_near", "_xmin", "_ctid", "_ts_us", "_cluster_no", "_key_no", "_gap_prev_us", "_row_md5", "c0", "r0"]


def test_columns_named_like_internal_aliases(db_url, runner):
    quote = sa.create_engine(db_url).dialect.identifier_preparer.quote
    extra = ", ".join(f"{quote(a)} integer" for a in ALIASES)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE events (id integer PRIMARY KEY, account integer, day varchar(10), "
                             f"ts timestamp, {extra})")
        values = ", ".join("7" for _ in ALIASES)
        conn.exec_driver_sql(f"INSERT INTO events VALUES (1, 7, 'd', '2026-11-03 02:30:00', {values}), "
                             f"(2, 7, 'd', '2026-11-03 02:30:00.4', {values}), "
                             f"(3, 8, 'd', '2026-11-03 02:30:00', {values})")
    engine.dispose()
    doc = scan_doc(db_url)
    table = doc["tables"][0]
    assert [[r["pk"]["id"] for r in c["rows"]] for c in table["clusters"]] == [[1, 2]]
    assert table["clusters"][0]["payload"] == "identical"
    assert all(r["values"]["_near"] == 7 and r["values"]["c0"] == 7 for r in table["clusters"][0]["rows"])
    before = rows_of(db_url)
    runner(cleanup_sql(doc))
    assert [r[0] for r in rows_of(db_url)] == ["1", "3"]
    runner(rollback_sql(doc))
    assert rows_of(db_url) == before


def test_infinite_timestamps_are_scanned_and_cleaned(pg_url, runner_pg):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE events (id integer PRIMARY KEY, account integer, day text, ts timestamptz, "
                             "valid_until timestamp, since date)")
        conn.exec_driver_sql(
            "INSERT INTO events VALUES "
            "(1, 7, 'd', '2026-11-03 02:30:00+00', 'infinity', '-infinity'), "
            "(2, 7, 'd', '2026-11-03 02:30:00.4+00', 'infinity', '-infinity'), "
            "(3, 8, 'd', 'infinity', NULL, NULL), (4, 8, 'd', 'infinity', NULL, NULL), "
            "(5, 9, 'd', '-infinity', NULL, NULL), (6, 9, 'd', '2026-11-03 02:30:00+00', NULL, NULL)")
    engine.dispose()
    doc = scan_doc(pg_url)
    table = doc["tables"][0]
    assert [[r["pk"]["id"] for r in c["rows"]] for c in table["clusters"]] == [[1, 2]]
    assert table["rows_infinite_ts"] == 3 and table["clusters"][0]["payload"] == "identical"
    assert table["clusters"][0]["rows"][0]["values"]["valid_until"] == "infinity"
    before = _as_text(pg_url)
    runner_pg(cleanup_sql(doc))
    assert [r.split(",")[0] for r in _as_text(pg_url)] == ["(1", "(3", "(4", "(5", "(6"]
    runner_pg(rollback_sql(doc))
    assert _as_text(pg_url) == before


def _as_text(url: str) -> list[str]:
    """Every row as PostgreSQL prints it (Python's datetime cannot hold 'infinity')."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [r[0] for r in conn.exec_driver_sql("SELECT CAST(e AS text) FROM events AS e ORDER BY id")]
    engine.dispose()
    return rows
