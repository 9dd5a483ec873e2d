"""The scan's statements on PostgreSQL: the coverage counts read the detection's duplicated-key rows by id
and agree with the full sort; a --since scan reads no more than its window (issue 13)."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from helpers import T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupfinder.attribution import written
from dupfinder.config import table_spec
from dupfinder.connect import introspect, read_only, timestamp_awareness
from dupfinder.detect import detect
from dupfinder.sqltemplates import quote_table, render_sql
from dupfinder.writers import resolve_writers


@contextmanager
def statements():
    """The statements every engine sends meanwhile, as (its DBAPI connection's id, the statement's text)."""
    seen: list[tuple[int, str]] = []

    def record(conn, cursor, statement, *rest):
        seen.append((id(conn.connection.dbapi_connection), statement))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)

EPOCH_US = int(T0.replace(tzinfo=UTC).timestamp() * 1_000_000)


def _load(url: str, rows: list[tuple[int, int, str]]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS ev")
        conn.exec_driver_sql("CREATE TABLE ev (id int PRIMARY KEY, k int, ts timestamp, host text)")
        if rows:
            conn.execute(sa.text("INSERT INTO ev VALUES (:id, :k, :ts, :host)"),
                         [{"id": i, "k": k, "ts": T0 + timedelta(seconds=s), "host": h}
                          for i, (k, s, h) in enumerate(rows)])
        if url.startswith("postgresql"):
            conn.exec_driver_sql("ANALYZE ev")
    engine.dispose()


ROWS = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 600), st.sampled_from(["a", "b", "c"])),
                max_size=40)
SPANS = st.lists(st.tuples(st.integers(-50, 650), st.integers(0, 300)), min_size=1, max_size=4)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, spans=SPANS, with_writers=st.booleans(), since=st.none() | st.integers(0, 600))
def test_coverage_by_member_ids_equals_the_full_sort(any_url, rows, spans, with_writers, since):
    """Rows per writer per bucket and the rows another writer also wrote: the same whether the statement sorts
    every span row by key or reads the detection's rows by ctid (and it falls back where --since left rows
    out of the detection)."""
    _load(any_url, rows)
    spans_us = [(EPOCH_US + lo * 1_000_000, EPOCH_US + (lo + length) * 1_000_000) for lo, length in spans]
    since_at = None if since is None else (T0 + timedelta(seconds=since)).replace(tzinfo=UTC)
    spec = table_spec(table="ev", keys=["k"], ts="ts", writers=["host=host"] if with_writers else [],
                      window="2s")
    if since_at is not None:
        spec = dataclasses.replace(spec, since=since_at)
    with read_only(any_url) as conn:
        info = introspect(conn, "ev", {})
        aware = timestamp_awareness(info, "ts")
        writers = resolve_writers(spec.writers, False, info.columns, exclude={"k", "ts", "id"})
        found = detect(conn, info, spec, aware)
        read = [k for k, s, _ in rows if since is None or s >= since - 2]  # the bound moves back one window
        assert (found.members is not None) == (len(read) != len(set(read)))
        if found.members is not None:  # a tid[] in text, a DuckDB list or a JSON array of rowids
            listed = found.members.ids.count("(") or found.members.ids.count(",") + 1
            assert listed == sum(1 for k in read if read.count(k) > 1)
        xids = sorted({r["_xmin"] for r in found.rows or []}) if info.dialect == "postgresql" else []
        full = written.count(conn, info, spec, aware, writers, spans_us, xids)
        by_id = written.count(conn, info, spec, aware, writers, spans_us, xids, found.members)
    assert (by_id.per_writer, by_id.total) == (full.per_writer, full.total)


def test_coverage_reads_member_rows_by_ctid_and_sorts_no_span_row(pg_url):
    rows = [(k, s, "a") for k, s in zip(range(300), range(300), strict=True)] + [(7, 7.4, "b"), (9, 500, "b")]
    _load(pg_url, [(k, int(s), h) for k, s, h in rows])
    spec = table_spec(table="ev", keys=["k"], ts="ts", writers=["host=host"])
    with read_only(pg_url) as conn:
        info = introspect(conn, "ev", {})
        found = detect(conn, info, spec, False)
        assert found.members is not None and found.members.ids.count("(") == 4  # keys 7 and 9, two rows each
        sql = render_sql("writer_counts.sql.j2", conn.dialect, table=quote_table(conn.dialect, "ev"), keys=["k"],
                         ts="ts", spans=1, groups=["host"], shared_by=["w0"], members=True)
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a 300-row table: make the planner show its hand
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + sql), {
            "bucket_us": 1_000_000, "lo0": T0, "hi0": T0 + timedelta(seconds=600),
            "members": found.members.ids}).scalars())
    assert "date_bin" in plan, plan
    lines = plan.splitlines()
    windows = [i for i, line in enumerate(lines) if "WindowAgg" in line]
    assert len(windows) == 1, plan
    depth = len(lines[windows[0]]) - len(lines[windows[0]].lstrip())
    below = [line for line in lines[windows[0] + 1:]]
    below = below[:next((n for n, line in enumerate(below) if len(line) - len(line.lstrip()) <= depth), None)]
    # the per-key window reads the member rows by ctid, never the span's rows from a scan of the table
    assert any("Tid Scan" in line for line in below) and not any("Seq Scan" in line for line in below), plan


def test_members_cover_only_spans_the_detection_read():
    from dupfinder.detect import Members

    since_us = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp() * 1_000_000)
    members = Members("{}", since_us)
    assert members.covers([(since_us, since_us + 5)])
    assert not members.covers([(since_us + 10, since_us + 20), (since_us - 1, since_us + 5)])
    assert Members("{}").covers([(0, 1)])


def test_since_samples_the_xmin_share_of_a_big_table_instead_of_grouping_it(pg_url):
    """A --since scan reads a few rows, but the xmin share is of the table: sampled when the table is big."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE ev (id int PRIMARY KEY, k int, ts timestamp, host text)")
        conn.exec_driver_sql("INSERT INTO ev SELECT g, g, timestamp '2026-11-01' + g * interval '1 s', 'a' "
                             "FROM generate_series(1, 150000) g")
        conn.exec_driver_sql("INSERT INTO ev VALUES (0, 150000, timestamp '2026-11-01' + 150000.3 * interval '1 s', "
                             "'b')")
        conn.exec_driver_sql("ANALYZE ev")
    engine.dispose()
    spec = table_spec(table="ev", keys=["k"], ts="ts", since="2026-11-02T17:39:00")
    with statements() as seen, read_only(pg_url) as conn:
        found = detect(conn, introspect(conn, "ev", {}), spec, False)
    assert found.stats.rows_scanned < 100 and found.rows is not None
    xmin = [s for _, s in seen if "AS xid," in s]
    assert xmin and all("TABLESAMPLE SYSTEM" in s for s in xmin), xmin


def test_the_narrow_pass_runs_in_one_backend(pg_url):
    """A Gather Merge would funnel every key back through the leader (nearly every key is distinct): the
    detection statement runs without parallel workers, whatever the planner's costs say."""
    from dupfinder.detect import _sorted_aggregation, detect_sql

    _load(pg_url, [(k, k, "a") for k in range(2000)] + [(7, 7, "b")])
    spec = table_spec(table="ev", keys=["k"], ts="ts")
    with read_only(pg_url) as conn:
        info = introspect(conn, "ev", {})
        sql = detect_sql(conn, info, spec)["detect_clusters"]
        for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                        "max_parallel_workers_per_gather = 2"):
            conn.exec_driver_sql(f"SET LOCAL {setting}")
        params = {"window_us": 2_000_000, "offset_us": 0}
        free = "\n".join(conn.execute(sa.text("EXPLAIN " + sql), params).scalars())
        with _sorted_aggregation(conn):
            pinned = "\n".join(conn.execute(sa.text("EXPLAIN " + sql), params).scalars())
    assert "Gather" in free  # the costs above make the planner go parallel when it may
    assert "Gather" not in pinned, pinned


def _every_dollar_text(value) -> list[str]:
    """The plain walk over every key and value (what remediate._dollar_texts must agree with)."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_every_dollar_text(k), *_every_dollar_text(v))]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _every_dollar_text(v)]
    return [value] if isinstance(value, str) and "$" in value else []


TEXT = st.text(st.sampled_from("a$b\\\"\n\u202e\U0001f600 "), max_size=6)
LEAF = TEXT | st.integers() | st.none() | st.booleans() | st.floats(allow_nan=False)
FINDINGS = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4)
                        | st.builds(lambda rows, key: {"key": key, "rows": rows},
                                    st.lists(st.dictionaries(TEXT, LEAF, max_size=3), max_size=130), TEXT),
                        max_leaves=60)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(FINDINGS)
def test_dollar_texts_finds_every_text_holding_a_dollar(value):
    """The dollar-quote tag must avoid every text of a table's findings: checking clusters and rows by their JSON
    text first finds the same texts as walking everything (rows past 100 are walked one by one)."""
    from dupfinder.remediate import _dollar_texts

    assert sorted(_dollar_texts({"clusters": [value]})) == sorted(_every_dollar_text(value))
    assert sorted(_dollar_texts({(1, 2): ["a$"], "x": [{(3,): "$b"}]})) == ["$b", "a$"]


def test_statistics_alongside_read_the_scans_snapshot_on_a_second_connection(pg_url, monkeypatch):
    """On a big table the statistics run on a second connection while the detection sorts: in the scan's
    snapshot (rows committed meanwhile are not counted), with the same answer as on the scan's connection."""
    import dupfinder.detect as detect_module

    _load(pg_url, [(k, k, "a") for k in range(50)] + [(7, 7.4, "b")])
    spec = table_spec(table="ev", keys=["k"], ts="ts")
    monkeypatch.setattr(detect_module, "ALONGSIDE_ROWS", 0)  # a 51-row table: make it count as big
    writer = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with statements() as seen, read_only(pg_url) as conn:
            conn.exec_driver_sql("SELECT 1")  # the snapshot is taken here
            with writer.connect() as other:
                other.exec_driver_sql("INSERT INTO ev VALUES (1000, 7, timestamp '2026-11-03 02:30:07.2', 'c')")
            info = introspect(conn, "ev", {})
            alongside = detect(conn, info, spec, False)
            monkeypatch.setattr(detect_module, "ALONGSIDE_ROWS", 10**12)
            own = detect(conn, info, spec, False)
    finally:
        writer.dispose()
    assert alongside.stats == own.stats and alongside.stats.rows_scanned == 51
    assert [len(c) for c in [alongside.rows]] == [len(own.rows)] and len(own.rows) == 2  # not the third row
    connections = {who for who, sql in seen if "rows_scanned" in sql}
    assert len(connections) == 2, seen  # once on a second connection, once on the scan's own



def test_a_since_scan_counts_its_statistics_on_its_own_connection(pg_url, monkeypatch):
    """Under --since the statistics read the window through the timestamp index: no second connection, no
    exported snapshot, however big the table (a backend started and nine settings copied for a few ms' read)."""
    import dupfinder.detect as detect_module

    _load(pg_url, [(k, k, "a") for k in range(50)] + [(7, 7.4, "b")])
    monkeypatch.setattr(detect_module, "ALONGSIDE_ROWS", 0)  # a 51-row table: make it count as big
    spec = table_spec(table="ev", keys=["k"], ts="ts", since="2026-11-03T02:30:05+00:00")
    with statements() as seen, read_only(pg_url) as conn:
        found = detect(conn, introspect(conn, "ev", {}), spec, False)
    assert found.stats.rows_scanned == 48 and [r["k"] for r in found.rows] == [7, 7]  # seconds 3 to 49, and 7.4
    assert not any("pg_export_snapshot" in sql for _, sql in seen), seen
    assert len({who for who, _ in seen}) == 1

STATS_ROWS = [  # (k1, k2, ts): NULL keys in either column, NULL and infinite times, one row per case
    (1, 1, "2026-11-03 02:30:00+00"), (1, 1, "2026-11-03 02:30:00.4+00"), (None, 1, "2026-11-03 01:00:00+00"),
    (2, None, None), (3, 3, "infinity"), (4, 4, "-infinity"), (5, 5, "2026-11-04 00:00:00+00"), (6, 6, None),
]


@pytest.mark.parametrize("engine", ["postgresql", "duckdb"])
@pytest.mark.parametrize("since", [None, "2026-11-03T02:00:00+00:00"])
def test_the_statistics_are_counted_by_filters_with_the_same_answer(engine, since, request):
    """On PostgreSQL the statistics statement counts with FILTER and count(column), not a CASE per aggregate (a
    quarter less backend CPU at 5M rows): the same rows scanned, NULL keys, NULL and infinite times and first
    and last finite time as the rows say, with and without --since, as DuckDB's CASE form counts them."""
    from dupfinder.detect import detect_sql, since_bind

    url = request.getfixturevalue("pg_url" if engine == "postgresql" else "duckdb_url")
    writer = sa.create_engine(url)
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE ev (id int PRIMARY KEY, k1 int, k2 int, ts timestamptz)")
        conn.execute(sa.text("INSERT INTO ev VALUES (:id, :k1, :k2, CAST(:ts AS timestamptz))"),
                     [{"id": i, "k1": a, "k2": b, "ts": t} for i, (a, b, t) in enumerate(STATS_ROWS)])
    writer.dispose()
    spec = table_spec(table="ev", keys=["k1", "k2"], ts="ts", **({"since": since} if since else {}))
    with read_only(url) as conn:
        info = introspect(conn, "ev", {})
        sql = detect_sql(conn, info, spec)["table_stats"]
        params = {"since": since_bind(info, spec, True)} if since else {}
        row = conn.execute(sa.text(sql), params).mappings().one()
    assert ("FILTER (WHERE" in sql and "CASE" not in sql) == (engine == "postgresql"), sql
    bound = "2026-11-03 01:59:58+00"  # the bound less one window (2 s)
    kept = [r for r in STATS_ROWS if since is None or (r[2] is not None and r[2] != "-infinity" and
                                                      (r[2] == "infinity" or r[2] >= bound))]
    finite = sorted(t for _, _, t in kept if t not in (None, "infinity", "-infinity"))
    assert (row["rows_scanned"], row["rows_null_key"], row["rows_null_ts"], row["rows_infinite_ts"]) == (
        len(kept), sum(1 for a, b, _ in kept if a is None or b is None), sum(1 for *_, t in kept if t is None),
        sum(1 for *_, t in kept if t in ("infinity", "-infinity")))
    assert (row["first_ts"], row["last_ts"]) == (datetime.fromisoformat(finite[0]), datetime.fromisoformat(finite[-1]))


def test_the_key_collations_are_read_once_with_the_tables_shape(pg_url):
    """The key pass groups text keys by their bytes where their collation allows (detect._bytewise_keys): which
    columns may be is read with the table's shape, in its one catalog statement, not by a statement of its own at
    every rendering of the detection (the detection, the clock-change pairs of --timezone, verify.sql)."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE ev (id int PRIMARY KEY, k text, n int, ts timestamptz, host text)")
        conn.exec_driver_sql("INSERT INTO ev SELECT g, 'k' || g, g, timestamptz '2026-11-03 02:00:00+00' "
                             "+ g * interval '1 s', 'a' FROM generate_series(1, 50) g")
        conn.exec_driver_sql("INSERT INTO ev VALUES (100, 'k7', 7, timestamptz '2026-11-03 02:00:07.4+00', 'b')")
    engine.dispose()
    from dupfinder import api
    from dupfinder.config import ScanOptions

    spec = table_spec(table="ev", keys=["k", "n"], ts="ts", writers=["host=host"], timezone="Europe/Berlin")
    with statements() as seen:
        result = api.scan(ScanOptions(url=pg_url, tables=(spec,)))
    table = result.tables[0]
    assert [len(c.rows) for c in table.clusters] == [2]
    collations = [s for _, s in seen if "collisdeterministic" in s]
    assert len(collations) == 1 and "pg_constraint" in collations[0], collations
    detection = [s for _, s in seen if "key_groups AS" in s]
    assert len(detection) == 2 and all('GROUP BY t.k COLLATE "C", t.n' in s for s in detection), detection
    assert table.info.bytewise_columns == ("k", "host")


CATALOG = {"postgresql": r"\bpg_(catalog|class|attribute|constraint|index|namespace)\b",
           "sqlite": r"\bPRAGMA\b|\bsqlite_(master|schema)\b", "duckdb": r"\binformation_schema\b|\bduckdb_\w+\("}


def test_a_filtered_scan_reads_each_tables_shape_once(any_url):
    """--where was checked on the table before any table was read, on a shape read for the check, and the
    scan's loop read the same shape again: 14 catalog statements on PostgreSQL where an unfiltered scan sends 9
    (the shape statement, the inspector's columns and indexes twice), 23 for 14 on SQLite, 8 for 4 on DuckDB. The
    check now uses the shape the loop reads: a filtered scan sends the catalog statements an unfiltered one does,
    and PostgreSQL's shape statement once."""
    import re

    from dupfinder import api
    from dupfinder.config import ScanOptions

    engine = sa.create_engine(any_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS ev")
        conn.exec_driver_sql("CREATE TABLE ev (id int PRIMARY KEY, k int, ts timestamp, deleted_at timestamp)")
        conn.exec_driver_sql("INSERT INTO ev VALUES (1, 1, '2026-11-03 02:00:00', NULL), "
                             "(2, 1, '2026-11-03 02:00:00.3', NULL), (3, 2, '2026-11-03 02:00:09', NULL)")
    engine.dispose()
    dialect = sa.make_url(any_url).get_backend_name()
    read = {}
    for where in (None, "deleted_at IS NULL"):
        spec = table_spec(table="ev", keys=["k"], ts="ts", where=where)
        with statements() as seen:
            result = api.scan(ScanOptions(url=any_url, tables=(spec,)))
        assert [len(c.rows) for c in result.tables[0].clusters] == [2]
        read[where] = [s for _, s in seen if re.search(CATALOG[dialect], s)]
    assert len(read["deleted_at IS NULL"]) == len(read[None]) > 0, (read["deleted_at IS NULL"], read[None])
    if dialect == "postgresql":
        assert sum("collisdeterministic" in s for s in read["deleted_at IS NULL"]) == 1
