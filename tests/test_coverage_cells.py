"""The coverage counts from time cells (issue 13): on PostgreSQL the statistics statement counts rows per writer
per fixed time cell in its one scan, beside the detection; the coverage adds up whole cells and reads the parts
of cells a bucket or span bound cuts through the timestamp index, instead of reading every row of the spans a
second time. Checked against the statement that reads the spans on generated tables, against
table_stats.sql.j2 for the statistics, and on whole scans by the server's own counters of table reads."""

from __future__ import annotations

import math
import time
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa
from helpers import T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dupfinder.detect as detect_module
from dupfinder import api
from dupfinder.attribution import written
from dupfinder.config import ScanOptions, table_spec
from dupfinder.connect import introspect, read_only, timestamp_awareness
from dupfinder.detect import cells_sql, count_cells, detect, key_index
from dupfinder.findings import findings_dict
from dupfinder.writers import resolve_writers


def _load(url: str, rows: list[tuple], aware: bool, extra: tuple[str, ...] = ()) -> None:
    """Table ev (id, k, ts, host) with an index on ts; rows (key, microseconds after T0 or a text, host)."""
    engine = sa.create_engine(url)
    kind = "timestamptz" if aware else "timestamp"
    start = T0.replace(tzinfo=UTC) if aware else T0
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS ev")
        conn.exec_driver_sql(f"CREATE TABLE ev (id int PRIMARY KEY, k int, ts {kind}, host text)")
        conn.exec_driver_sql("CREATE INDEX ev_ts ON ev (ts)")
        if rows:
            conn.execute(sa.text(f"INSERT INTO ev VALUES (:id, :k, CAST(:ts AS {kind}), :host)"),
                         [{"id": i, "k": k, "host": h,
                           "ts": us if isinstance(us, str) or us is None else start + timedelta(microseconds=us)}
                          for i, (k, us, h) in enumerate(rows)])
        for sql in extra:
            conn.exec_driver_sql(sql)
        conn.exec_driver_sql("ANALYZE ev")
    engine.dispose()


@st.composite
def tables(draw):
    """Rows (key, microseconds after T0, host), the cell length and spans (start, end) in microseconds after T0:
    rows dense beside cells and buckets (cells shorter and longer than the 0.1 s to 0.25 s buckets), many
    timestamps on the bounds of cells and of spans, NULL and infinite times, and at least one key written
    twice."""
    cell = draw(st.sampled_from([7_000, 33_333, 1, 250_000, 1_300_000, 60_000_000]))
    seconds = draw(st.sampled_from([20, 1000]))
    on_cell = st.integers(0, seconds * 1_000_000 // cell).map(lambda n: n * cell)
    anywhere = st.integers(0, seconds * 1000).map(lambda ms: ms * 1000)
    stamps = draw(st.lists(on_cell | anywhere, min_size=2, max_size=150))
    stamps += [us + cell for us in stamps[:5]]  # rows a cell apart
    bound = st.sampled_from(stamps) | anywhere | on_cell
    spans = [sorted(pair) for pair in draw(st.lists(st.tuples(bound, bound), min_size=1, max_size=4))]
    odd = draw(st.lists(st.sampled_from([None, "infinity", "-infinity"]), max_size=3))
    rows = [(draw(st.none() | st.integers(0, 3)), us, draw(st.none() | st.sampled_from(["a", "b", " "])))
            for us in [*stamps, *odd]] + [(9, stamps[0], "a"), (9, stamps[1], "b")]
    # a span starts on a row or a cell, or a microsecond after; it ends on one, or a microsecond before
    return rows, cell, [(lo + draw(st.sampled_from([0, 1])), hi - draw(st.sampled_from([0, 1]))) for lo, hi in spans]


def _statements(seen: list[str]):
    def record(conn, cursor, statement, *rest):
        seen.append(statement)
    return record


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=tables(), aware=st.booleans(), with_writers=st.booleans())
def test_coverage_from_cells_equals_reading_the_spans(pg_url, monkeypatch, table, aware, with_writers):
    """The rows per writer per bucket and the shared counts added up from cells equal what the statement reading
    every row of the spans counts, with no read of the spans; the statistics added up from the cells equal
    table_stats.sql.j2's."""
    rows, cell, spans = table
    _load(pg_url, rows, aware)
    base = int(T0.replace(tzinfo=UTC).timestamp() * 1_000_000)
    spans_us = [(base + lo, base + hi) for lo, hi in spans]
    spec = table_spec(table="ev", keys=["k"], ts="ts", writers=["host=host"] if with_writers else [], window="2s")
    monkeypatch.setattr(written, "EDGE_SHARE", math.inf)  # the cells are always used, however coarse
    seen: list[str] = []
    with read_only(pg_url) as conn:
        info = introspect(conn, "ev", {})
        aware_read = timestamp_awareness(info, "ts")
        writers = resolve_writers(spec.writers, False, info.columns, exclude={"k", "ts", "id"})
        found = detect(conn, info, spec, aware_read)
        statements = cells_sql(conn, info, spec, tuple(w.column for w in writers))
        assert statements is not None
        totals, cells = count_cells(conn, statements, cell, {})
        spanned = written.count(conn, info, spec, aware_read, writers, spans_us, (), found.members)
        sa.event.listen(conn, "before_cursor_execute", _statements(seen))
        by_cells = written.count(conn, info, spec, aware_read, writers, spans_us, (), found.members, cells)
    assert (by_cells.per_writer, by_cells.total) == (spanned.per_writer, spanned.total)
    assert found.members is not None and seen and not [s for s in seen if "spanned AS" in s], seen
    stats = found.stats
    assert totals == {"rows_scanned": stats.rows_scanned, "rows_null_key": stats.rows_null_key,
                      "rows_null_ts": stats.rows_null_ts, "rows_infinite_ts": stats.rows_infinite_ts}


def _reads(url: str) -> tuple[int, int]:
    """Sequential scans of ev and the rows they read, by the server's counters, once every other backend of
    the database has ended (a backend reports its counters when it ends at the latest)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for _ in range(100):
                others = conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                              "current_database() AND pid <> pg_backend_pid()").scalar()
                if not others:
                    break
                time.sleep(0.1)
            time.sleep(0.6)
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            return tuple(conn.exec_driver_sql(
                "SELECT seq_scan, seq_tup_read FROM pg_stat_user_tables WHERE relname = 'ev'").one())
    finally:
        engine.dispose()


def _scan_rows() -> list[tuple]:
    """4,000 keys a second apart from host a, every 40th written again 300 ms later by host b: 100 clusters
    over the whole table, whose spans cover it."""
    return [(k, k * 1_000_000, "a") for k in range(4000)] + \
        [(k, k * 1_000_000 + 300_000, "b") for k in range(0, 4000, 40)]


def _scan(url: str) -> dict:
    spec = table_spec(table="ev", keys=["k"], ts="ts", writers=["host=host"], window="2s")
    doc = findings_dict(api.scan(ScanOptions(url=url, tables=(spec,))))
    return {key: value for key, value in doc["tables"][0].items() if "seconds" not in key}


@pytest.mark.parametrize("index", [(), ("CREATE INDEX ev_k_ts ON ev (k, ts)",)], ids=["ts_index", "key_index"])
def test_a_full_scan_reads_the_table_once_less_with_the_cells(pg_url, monkeypatch, index):
    """A whole scan of a big PostgreSQL table (here: counted as big) with a writer column and an index on the
    timestamp reads the table once for the detection and once for the statistics with the cells: one
    sequential scan and one table of rows fewer than with the coverage reading the spans (the cells turned
    off by a groups limit of 0), and the same findings. With an index on (key, ts) too: the statistics with the
    cells beside the detection's walk of the index, the coverage adding up the cells instead of reading the spans
    again after the detection (what it did while the cells were left out there)."""
    rows = _scan_rows()
    _load(pg_url, rows, True, index)
    monkeypatch.setattr(detect_module, "ALONGSIDE_ROWS", 0)
    before = _reads(pg_url)
    with_cells = _scan(pg_url)
    middle = _reads(pg_url)
    monkeypatch.setattr(detect_module, "CELL_GROUPS", 0)
    without = _scan(pg_url)
    after = _reads(pg_url)
    assert len(with_cells["clusters"]) == 100
    assert with_cells == without
    cells_scans, cells_rows = middle[0] - before[0], middle[1] - before[1]
    spans_scans, spans_rows = after[0] - middle[0], after[1] - middle[1]
    assert (spans_scans - cells_scans, spans_rows - cells_rows) == (1, len(rows)), (before, middle, after)


def _cells_for(url: str, writers: tuple[str, ...] = ("host",)):
    spec = table_spec(table="ev", keys=["k"], ts="ts")
    with read_only(url) as conn:
        return cells_sql(conn, introspect(conn, "ev", {}), spec, writers)


@pytest.mark.parametrize("case", ["counted", "no writer column", "no index on the time", "never analyzed",
                                  "many writers", "inherited"])
def test_the_cells_are_counted_only_where_the_coverage_can_use_them(pg_url, case):
    """Cells need an index that starts with the timestamp (the cut parts of cells are read through it), writer
    columns the planner's statistics know (a writer per row of 50,060: more writer x cell groups than
    CELL_GROUPS at the fewest cells), and a table of its own rows; elsewhere the statistics are counted as
    before."""
    rows = [(k, k * 1_000_000, "a") for k in range(60)]
    extra = {"no index on the time": ("DROP INDEX ev_ts",),
             "inherited": ("CREATE TABLE ev_child () INHERITS (ev)",),
             "many writers": ("INSERT INTO ev SELECT g, g, timestamptz '2026-11-03' + g * interval '1 ms', 'h' || g "
                              "FROM generate_series(1000, 50999) AS g",)}.get(case, ())
    _load(pg_url, rows, True, extra)
    if case == "never analyzed":
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:  # a new table in its place: pg_stats knows nothing of it
            conn.exec_driver_sql("ALTER TABLE ev RENAME TO ev_old")
            conn.exec_driver_sql("CREATE TABLE ev (LIKE ev_old INCLUDING ALL) WITH (autovacuum_enabled = false)")
            conn.exec_driver_sql("INSERT INTO ev SELECT * FROM ev_old")
        engine.dispose()
    found = _cells_for(pg_url, () if case == "no writer column" else ("host",))
    assert (found is not None) == (case in ("counted", "no writer column")), found


def test_stale_statistics_that_hide_many_writers_cut_the_cells(pg_url, monkeypatch):
    """pg_stats says two writers but the table holds 200 (inserted after ANALYZE): the cells statement's output
    reaches CELL_ROWS, so no cells, and the statistics come from the statistics statement alone, the same."""
    _load(pg_url, [(k, k * 1_000_000, "a" if k % 2 else "b") for k in range(200)] + [(7, 7_300_000, "b")], True)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE ev SET (autovacuum_enabled = false)")  # the statistics stay stale
        conn.exec_driver_sql("UPDATE ev SET host = 'h' || id")
    engine.dispose()
    monkeypatch.setattr(detect_module, "ALONGSIDE_ROWS", 0)
    spec = table_spec(table="ev", keys=["k"], ts="ts", writers=["host=host"])
    with read_only(pg_url) as conn:
        info = introspect(conn, "ev", {})
        counted = detect(conn, info, spec, True, None, ("host",))
        monkeypatch.setattr(detect_module, "CELL_ROWS", 150)
        cut = detect(conn, info, spec, True, None, ("host",))
        alone = detect(conn, info, spec, True)
    assert counted.cells is not None and sum(len(c) for c in counted.cells.counts.values()) == 201
    assert cut.cells is None and alone.cells is None
    assert counted.stats == cut.stats == alone.stats and alone.stats.rows_scanned == 201


def test_a_scan_through_the_key_index_counts_the_cells_beside_it(pg_url, monkeypatch):
    """With an index on (key, ts) the detection reads the keys in order while the second connection counts the
    statistics with the cells, which the coverage then adds up instead of reading the spans after the
    detection: the same cells and statistics as a scan that sorts."""
    _load(pg_url, _scan_rows(), True, ("CREATE INDEX ev_k_ts ON ev (k, ts)",))
    monkeypatch.setattr(detect_module, "ALONGSIDE_ROWS", 0)
    spec = table_spec(table="ev", keys=["k"], ts="ts", writers=["host=host"])
    with read_only(pg_url) as conn:
        info = introspect(conn, "ev", {})
        index = key_index(conn, info, spec)
        through_index = detect(conn, info, spec, True, index, ("host",))
        sorting = detect(conn, info, spec, True, None, ("host",))
    assert index == ("k",)
    assert through_index.cells is not None and through_index.cells == sorting.cells
    assert through_index.stats == sorting.stats and len(through_index.rows) == len(sorting.rows) == 200


def test_spans_a_small_part_of_a_long_table_are_read_as_before(pg_url, monkeypatch):
    """Where the buckets are finer than the cells (spans of a few seconds in a table of days), the cells would
    leave most of the spans to the index reads: the coverage reads the spans as before, the same counts."""
    rows = [(k, k * 60_000_000, "a") for k in range(3000)] + [(7, 7 * 60_000_000 + 300_000, "b")]
    _load(pg_url, rows, True)
    monkeypatch.setattr(detect_module, "ALONGSIDE_ROWS", 0)
    spec = table_spec(table="ev", keys=["k"], ts="ts", writers=["host=host"])
    base = int(T0.replace(tzinfo=UTC).timestamp() * 1_000_000)
    spans = [(base + 7 * 60_000_000 - 5_000_000, base + 7 * 60_000_000 + 5_000_000)]
    seen: list[str] = []
    with read_only(pg_url) as conn:
        info = introspect(conn, "ev", {})
        writers = resolve_writers(spec.writers, False, info.columns, exclude={"k", "ts", "id"})
        found = detect(conn, info, spec, True, None, ("host",))
        assert found.cells is not None and found.cells.cell_us > 5_000_000
        sa.event.listen(conn, "before_cursor_execute", _statements(seen))
        by_cells = written.count(conn, info, spec, True, writers, spans, (), found.members, found.cells)
        spanned = written.count(conn, info, spec, True, writers, spans, (), found.members)
    assert (by_cells.per_writer, by_cells.total) == (spanned.per_writer, spanned.total)
    assert by_cells.total[1][-1] == 2
    assert len([s for s in seen if "spanned AS" in s]) == 2 and not [s for s in seen if "_edge" in s], seen


def test_cells_of_a_table_and_columns_with_hostile_names(pg_url, monkeypatch):
    """The cells, the cut parts and the shared counts quote every name: a table, key, time and writer column
    named with quotes, dollar tags, percent signs, a comment and a line break give the counts the spans give."""
    from hostile import ddl, quote

    table, key, ts, host = 'ev "x" $dupfinder$ %s', "k;--", 'ts "é" */', "h'ost\\\nDROP TABLE victim; --"
    q = {name: quote(pg_url, name) for name in (table, key, ts, host)}
    values = ", ".join(f"({k}, timestamptz '2026-11-03 02:30:00+00' + {k} * interval '1 s' + {extra} * interval "
                       f"'1 ms', '{who}')" for k, extra, who in [*((k, 37, "a") for k in range(300)),
                                                                   (7, 300, "b"), (9, 450, "b")])
    ddl(pg_url, f"CREATE TABLE {q[table]} ({q[key]} int, {q[ts]} timestamptz, {q[host]} text)",
        f"CREATE INDEX ON {q[table]} ({q[ts]})", f"INSERT INTO {q[table]} VALUES {values}", f"ANALYZE {q[table]}")
    monkeypatch.setattr(detect_module, "ALONGSIDE_ROWS", 0)
    spec = table_spec(table=table, keys=[key], ts=ts, writers=[f"host={host}"], window="2s")
    base = int(T0.replace(tzinfo=UTC).timestamp() * 1_000_000)
    spans = [(base + 3_400_000, base + 250_000_000)]
    with read_only(pg_url) as conn:
        info = introspect(conn, table, {})
        writers = resolve_writers(spec.writers, False, info.columns, exclude={key, ts})
        found = detect(conn, info, spec, True, None, (host,))
        seen: list[str] = []
        sa.event.listen(conn, "before_cursor_execute", _statements(seen))
        by_cells = written.count(conn, info, spec, True, writers, spans, (), found.members, found.cells)
        spanned = written.count(conn, info, spec, True, writers, spans, (), found.members)
    assert found.cells is not None and found.stats.rows_scanned == 302
    assert (by_cells.per_writer, by_cells.total) == (spanned.per_writer, spanned.total)
    assert by_cells.total[1][-1] == 246 + 2  # 4.037 s to 249.037 s, and the two copies
    assert [s for s in seen if "_edge" in s] and len([s for s in seen if "spanned AS" in s]) == 1
