"""The coverage counts around many episodes (issue 13): past MAX_SPANS the OR-ed ranges of
queries/writer_counts.sql.j2 merged the closest spans, so episodes all along a table (a wide 2M-row payments
table: 850 of them) made the spans the whole table: every row read again after the detection, and counting
buckets as long as the table's time over 4,000 (about 11 minutes for 30 days) around episodes whose spans are a
minute long. On PostgreSQL the spans are now bound as arrays and kept apart: read span by span through an index
that starts with the timestamp (a nested loop of index range scans), or, without one, kept by width_bucket's
binary search in one sequential scan.

Checked against the OR-ed ranges on the same spans (generated tables and spans, either path), against an
independent count of each span's rows, and by the server's own counters of what the statement read."""

from __future__ import annotations

import time
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa
from helpers import T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupfinder.attribution import written
from dupfinder.config import table_spec
from dupfinder.connect import introspect, read_only, timestamp_awareness
from dupfinder.detect import detect
from dupfinder.writers import resolve_writers

BASE_US = int(T0.replace(tzinfo=UTC).timestamp() * 1_000_000)


def _load(url: str, rows: list[tuple], aware: bool, index: bool) -> None:
    """Table ev (id, k, ts, host, pid), an index on ts where asked; rows (key, microseconds after T0 or a
    text, host, pid)."""
    engine = sa.create_engine(url)
    kind = "timestamptz" if aware else "timestamp"
    start = T0.replace(tzinfo=UTC) if aware else T0
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS ev")
        conn.exec_driver_sql(f"CREATE TABLE ev (id int PRIMARY KEY, k int, ts {kind}, host text, pid int)")
        if index:
            conn.exec_driver_sql("CREATE INDEX ev_ts ON ev (ts)")
        conn.execute(sa.text(f"INSERT INTO ev VALUES (:id, :k, CAST(:ts AS {kind}), :host, :pid)"),
                     [{"id": i, "k": k, "host": h, "pid": p,
                       "ts": us if isinstance(us, str) or us is None else start + timedelta(microseconds=us)}
                      for i, (k, us, h, p) in enumerate(rows)])
        conn.exec_driver_sql("ANALYZE ev")
    engine.dispose()


def _detected(conn, spec, table: str = "ev", key: str = "k"):
    """What written.count takes beside the spans, as a scan has it after its detection: the table, the timestamp's
    awareness, the writer columns and the detection (its members)."""
    info = introspect(conn, table, {})
    aware = timestamp_awareness(info, spec.ts)
    writers = resolve_writers(spec.writers, False, info.columns, exclude={key, spec.ts, "id"})
    return info, aware, writers, detect(conn, info, spec, aware)


@st.composite
def tables(draw):
    """Rows (key, microseconds after T0, host, pid) and 2 to 12 spans in microseconds after T0: rows on the
    spans' bounds and a microsecond either side, NULL keys, writers and times, infinite times, keys written
    twice, spans touching, nested and apart."""
    seconds = draw(st.sampled_from([5, 200]))
    anywhere = st.integers(0, seconds * 1000).map(lambda ms: ms * 1000)
    stamps = draw(st.lists(anywhere, min_size=2, max_size=120))
    bound = st.sampled_from(stamps) | anywhere
    spans = [sorted(pair) for pair in draw(st.lists(st.tuples(bound, bound), min_size=2, max_size=12))]
    spans = [(lo + draw(st.sampled_from([-1, 0, 1])), hi + draw(st.sampled_from([-1, 0, 1]))) for lo, hi in spans]
    stamps += [x + d for lo, hi in spans[:3] for x in (lo, hi) for d in (-1, 0, 1)]
    odd = draw(st.lists(st.sampled_from([None, "infinity", "-infinity"]), max_size=3))
    writer = st.tuples(st.none() | st.sampled_from(["a", "b", " "]), st.none() | st.integers(1, 3))
    rows = [(draw(st.none() | st.integers(0, 5)), us, *draw(writer)) for us in [*stamps, *odd]]
    rows += [(9, stamps[0], "a", 1), (9, stamps[1], "b", 2)]
    return rows, [(lo, hi) for lo, hi in spans if lo <= hi] or [(0, 1)]


def _count(url: str, spans: list[tuple[int, int]], columns: list[str], since: str | None = None):
    spec = table_spec(table="ev", keys=["k"], ts="ts", window="2s", since=since,
                      writers=[f"{'host' if c == 'host' else 'process'}={c}" for c in columns])
    with read_only(url) as conn:
        info, aware, writers, found = _detected(conn, spec)
        return written.count(conn, info, spec, aware, writers, [(BASE_US + lo, BASE_US + hi) for lo, hi in spans],
                             (), found.members)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=tables(), aware=st.booleans(), index=st.booleans(), columns=st.sampled_from([["host"], ["host", "pid"]]),
       since=st.sampled_from([None, "2026-11-03 02:30:03"]))
def test_spans_apart_count_what_the_or_ed_ranges_count(pg_url, monkeypatch, table, aware, index, columns, since):
    """The same spans, each its own OR-ed range (MAX_SPANS above their number) or bound as arrays (MAX_SPANS
    below it): the same rows per writer per bucket, the same shared and repeated counts, through the index or
    width_bucket, with the members read by id or (a --since scan, spans before its bound) the spans sorted by
    key."""
    rows, spans = table
    _load(pg_url, rows, aware, index)
    _same_either_way(pg_url, monkeypatch, spans, columns, since)


def _same_either_way(url: str, monkeypatch, spans: list[tuple[int, int]], columns: list[str],
                     since: str | None = None) -> None:
    """The counts of ``spans`` as OR-ed ranges (MAX_SPANS above their number) and as arrays (below it) are
    the same, and the arrays were read."""
    monkeypatch.setattr(written, "MAX_SPANS", 1000)
    ored = _count(url, spans, columns, since)
    seen: list[str] = []
    monkeypatch.setattr(written, "MAX_SPANS", 1)
    with pytest.MonkeyPatch.context() as m:
        original = written.render_sql
        m.setattr(written, "render_sql", lambda name, *a, **k: seen.append(k.get("span_array")) or
                  original(name, *a, **k))
        apart = _count(url, spans, columns, since)
    assert any(seen), seen
    assert (apart.bucket_us, apart.per_writer, apart.total) == (ored.bucket_us, ored.per_writer, ored.total)


def _episodes(count: int) -> tuple[list[tuple], list[tuple[int, int]]]:
    """``count`` episodes an hour apart, each a key written by host a and again 300 ms later by host b, among
    rows host a writes every 10 s all along; the spans a minute either side of each."""
    hour, rows = 3_600_000_000, []
    for n in range(count * 360):
        rows.append((100_000 + n, n * 10_000_000 + 3_000_000, "a", 1))
    for e in range(count):
        rows += [(e, e * hour + 1_000_000, "a", 1), (e, e * hour + 1_300_000, "b", 2)]
    return rows, [(e * hour - 60_000_000, e * hour + 60_000_000) for e in range(count)]


def test_each_episode_counts_its_own_rows_past_max_spans(pg_url):
    """301 episodes an hour apart (more than MAX_SPANS): each span's rows per writer are exactly the rows that
    writer wrote in it (an independent count). Merged to MAX_SPANS ranges, the buckets were 28 s long and
    counted the rows of the hour between two episodes into the spans beside it."""
    rows, spans = _episodes(written.MAX_SPANS + 101)
    _load(pg_url, rows, True, True)
    counted = _count(pg_url, spans, ["host"])
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        for lo, hi in spans[::7]:
            for host in ("a", "b"):
                truth = conn.execute(sa.text(
                    "SELECT count(*) FROM ev WHERE host = :h AND k IS NOT NULL AND ts BETWEEN :lo AND :hi"),
                    {"h": host, "lo": T0.replace(tzinfo=UTC) + timedelta(microseconds=lo),
                     "hi": T0.replace(tzinfo=UTC) + timedelta(microseconds=hi)}).scalar()
                assert counted.rows((("host", host),), BASE_US + lo, BASE_US + hi) == truth, (lo, host)
    engine.dispose()


def _reads(url: str) -> tuple[int, int, int]:
    """Sequential scans of ev, the rows they read and the rows index scans fetched, by the server's counters,
    once every other backend of the database has ended."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for _ in range(100):
                if not conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                            "current_database() AND pid <> pg_backend_pid()").scalar():
                    break
                time.sleep(0.1)
            time.sleep(0.6)
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            return tuple(conn.exec_driver_sql("SELECT seq_scan, seq_tup_read, idx_tup_fetch FROM pg_stat_user_tables "
                                              "WHERE relname = 'ev'").one())
    finally:
        engine.dispose()


def test_spans_apart_are_read_through_the_timestamp_index(pg_url, monkeypatch):
    """With an index on the timestamp the coverage statement reads the spans' rows through it and nothing else
    (no sequential scan; the rows fetched about those of the spans: 301 minutes of 301 hours), where the
    MAX_SPANS merged ranges read most of the table (the rows of 100 hours more)."""
    rows, spans = _episodes(written.MAX_SPANS + 101)
    _load(pg_url, rows, True, True)
    in_spans = sum(1 for _, us, _, _ in rows if any(lo <= us <= hi for lo, hi in spans))
    spec = table_spec(table="ev", keys=["k"], ts="ts", window="2s", writers=["host=host"])
    with read_only(pg_url) as conn:
        info, aware, writers, found = _detected(conn, spec)
    before = _reads(pg_url)
    with read_only(pg_url) as conn:
        written.count(conn, info, spec, aware, writers, [(BASE_US + lo, BASE_US + hi) for lo, hi in spans], (),
                      found.members)
    after = _reads(pg_url)
    seq_scans, fetched = after[0] - before[0], after[2] - before[2]
    assert seq_scans == 0, (before, after)
    assert in_spans <= fetched <= in_spans + 4 * len(spans), (in_spans, before, after)


@pytest.mark.parametrize("index", [True, False], ids=["ts_index", "no_index"])
def test_a_table_named_like_the_spans_with_their_column_names(pg_url, monkeypatch, index):
    """A table called _spans whose columns are lo, hi and _in (the names the statement gives the spans and
    their rows): the arrays are still read under a name the table cannot hide, and count what the OR-ed ranges
    count."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE "_spans" (id int PRIMARY KEY, lo int, ts timestamptz, hi text, "_in" int)')
        if index:
            conn.exec_driver_sql('CREATE INDEX ON "_spans" (ts)')
        conn.exec_driver_sql("""INSERT INTO "_spans" SELECT i, mod(i, 40), TIMESTAMPTZ '2026-11-03 02:30:00+00'
                                + i * interval '250 ms', CASE WHEN mod(i, 3) = 0 THEN 'h1' ELSE 'h2' END, mod(i, 2)
                                FROM generate_series(1, 400) i""")
    engine.dispose()
    spec = table_spec(table="_spans", keys=["lo"], ts="ts", window="2s", writers=["host=hi", "process=_in"])
    spans = [(BASE_US + s * 1_000_000, BASE_US + s * 1_000_000 + 700_000) for s in range(0, 100, 9)]
    counts = []
    for limit in (1000, 1):
        monkeypatch.setattr(written, "MAX_SPANS", limit)
        with read_only(pg_url) as conn:
            info, aware, writers, found = _detected(conn, spec, "_spans", "lo")
            got = written.count(conn, info, spec, aware, writers, spans, (), found.members)
        counts.append((got.per_writer, got.total))
    assert counts[0] == counts[1] and counts[0][1] is not None and counts[0][1][1][-1] > 0


def _load_mariadb(url: str, rows: list[tuple], kind: str) -> None:
    """Table ev as _load makes it, on MariaDB: a DATETIME(6) or TIMESTAMP(6) column with an index, and a column
    named lo (a name the spans' JSON_TABLE must not take)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE ev (id int PRIMARY KEY, k int, ts {kind} NULL, host varchar(8), "
                             "pid int, lo int)")
        conn.exec_driver_sql("CREATE INDEX ev_ts ON ev (ts)")
        conn.exec_driver_sql("SET time_zone = '+00:00'")
        conn.execute(sa.text("INSERT INTO ev VALUES (:id, :k, :ts, :host, :pid, 1)"),
                     [{"id": i, "k": k, "host": h, "pid": p,
                       "ts": None if not isinstance(us, int) else T0 + timedelta(microseconds=us)}
                      for i, (k, us, h, p) in enumerate(rows)])
        conn.exec_driver_sql("ANALYZE TABLE ev")
    engine.dispose()


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=tables(), kind=st.sampled_from(["DATETIME(6)", "TIMESTAMP(6)"]),
       columns=st.sampled_from([["host"], ["host", "pid"]]))
def test_mariadb_spans_apart_count_what_the_or_ed_ranges_count(mariadb_url, monkeypatch, table, kind, columns):
    """MariaDB 10.6+: the spans as a JSON_TABLE joined by the indexed timestamp count what the OR-ed ranges count
    on the same spans (rows per writer per bucket, shared and repeated)."""
    rows, spans = table
    rows = [(k, us if isinstance(us, int) and us >= 0 else None, h, p) for k, us, h, p in rows]
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS ev")
    engine.dispose()
    _load_mariadb(mariadb_url, rows, kind)
    _same_either_way(mariadb_url, monkeypatch, spans, columns)


def test_mariadb_spans_apart_are_read_through_the_timestamp_index(mariadb_url):
    """Past MAX_SPANS on MariaDB, the coverage statement reads the spans' rows by index: the rows it reads in
    table order (Handler_read_rnd_next) are far fewer than the table's, where the merged OR-ed ranges read
    most of it; and each episode counts exactly its own rows."""
    rows, spans = _episodes(written.MAX_SPANS + 101)
    _load_mariadb(mariadb_url, rows, "DATETIME(6)")
    spec = table_spec(table="ev", keys=["k"], ts="ts", window="2s", writers=["host=host"])
    with read_only(mariadb_url) as conn:
        info, aware, writers, found = _detected(conn, spec)

        def scanned() -> int:
            return int(conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_read_rnd_next'").one()[1])

        before = scanned()
        counted = written.count(conn, info, spec, aware, writers,
                                [(BASE_US + lo, BASE_US + hi) for lo, hi in spans], (), found.members)
        read = scanned() - before
    in_spans = sum(1 for _, us, _, _ in rows if any(lo <= us <= hi for lo, hi in spans))
    assert read < len(rows) // 4, (read, len(rows), in_spans)
    for lo, hi in spans[::50]:
        truth = sum(1 for _, us, h, _ in rows if h == "b" and lo <= us <= hi)
        assert counted.rows((("host", "b"),), BASE_US + lo, BASE_US + hi) == truth


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=tables(), aware=st.booleans(), columns=st.sampled_from([["host"], ["host", "pid"]]),
       since=st.sampled_from([None, "2026-11-03 02:30:03"]))
def test_duckdb_spans_apart_count_what_the_or_ed_ranges_count(tmp_path_factory, monkeypatch, table, aware, columns,
                                                               since):
    """DuckDB: the rows joined to their spans by an ASOF join count what the OR-ed ranges count on the same spans,
    the members read by rowid or (--since, spans before its bound) the spans sorted by key."""
    rows, spans = table
    url = f"duckdb:///{tmp_path_factory.mktemp('duck') / 'ev.duckdb'}"
    engine = sa.create_engine(url)
    kind = "TIMESTAMPTZ" if aware else "TIMESTAMP"
    start = T0.replace(tzinfo=UTC) if aware else T0
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE ev (id INTEGER PRIMARY KEY, k INTEGER, ts {kind}, host VARCHAR, "
                             "pid INTEGER, lo INTEGER, _t INTEGER)")
        conn.execute(sa.text(f"INSERT INTO ev VALUES (:id, :k, CAST(:ts AS {kind}), :host, :pid, 1, 2)"),
                     [{"id": i, "k": k, "host": h, "pid": p,
                       "ts": us if isinstance(us, str) or us is None else
                       (start + timedelta(microseconds=us)).isoformat(sep=" ")}
                      for i, (k, us, h, p) in enumerate(rows)])
    engine.dispose()
    _same_either_way(url, monkeypatch, spans, columns, since)
