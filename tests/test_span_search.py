"""The coverage statement's spans on SQLite: searched by halves (a CASE tree) instead of OR-ed ranges SQLite
evaluates one by one per row. The tree must count exactly the rows the OR-ed ranges count; hypothesis draws
sorted disjoint spans (as written.merge_spans gives them) and timestamps on and around their bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder.sqltemplates import render_sql, sql_text

START = datetime(2026, 11, 3, tzinfo=UTC)


def _text(second: int) -> str:
    return (START + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S.%f")


def _stored(second: int, form: str) -> str | float:
    """A timestamp as SQLite applications keep it: ISO text with a space or a 'T' (isoformat), epoch seconds,
    or wall time with its offset."""
    if form == "number":
        return (START + timedelta(seconds=second)).timestamp()
    if form in ("+05:30", "-08:00"):  # local wall time and its offset (isoformat of an aware datetime)
        zone = timezone(timedelta(minutes=(1 if form[0] == "+" else -1) * (int(form[1:3]) * 60 + int(form[4:]))))
        return (START + timedelta(seconds=second)).astimezone(zone).isoformat(timespec="microseconds")
    return _text(second).replace(" ", "T") if form == "T" else _text(second)


@st.composite
def spans_and_rows(draw):
    cuts = sorted(draw(st.sets(st.integers(0, 2_000), min_size=2, max_size=60)))
    pairs = [(cuts[n], cuts[n + 1]) for n in range(0, len(cuts) - 1, 2)]  # disjoint, sorted
    near = [s + d for lo, hi in pairs for s in (lo, hi) for d in (-1, 0, 1)]
    seconds = draw(st.lists(st.tuples(st.one_of(st.sampled_from(near), st.integers(-5, 2_005)),
                                      st.sampled_from(["space", "T", "number", "+05:30", "-08:00"])), max_size=80))
    return pairs, seconds


@settings(max_examples=150, deadline=None)
@given(drawn=spans_and_rows())
def test_the_span_search_counts_what_the_ored_ranges_count(drawn):
    """Every row inside a span is counted whichever form SQLite keeps its timestamp in (bound in the space form
    alone, a 'T' timestamp fell outside every span of its day and the coverage counted 0 rows)."""
    from dupfinder.attribution.written import span_binds
    from dupfinder.connect import TableInfo

    pairs, seconds = drawn
    engine = sa.create_engine("sqlite://")
    info = TableInfo(name="t", schema=None, dialect="sqlite", columns=(), primary_key=("id",), row_id=None,
                     unique_constraints=(), ts_timezone_aware=None)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, ts DATETIME, host TEXT)")
        for n, (second, form) in enumerate(seconds):
            conn.exec_driver_sql("INSERT INTO t VALUES (?, ?, ?, ?)", (n, n % 7, _stored(second, form), f"h{n % 3}"))
        sql = render_sql("writer_counts.sql.j2", conn.dialect, table='"t"', keys=["k"], ts="ts", spans=len(pairs),
                         members=False, groups=["host"], by_xmin=False, shared_by=["w0"])
        assert ("CASE WHEN ts < :lo" in sql) == (len(pairs) > 2)
        micros = [(int((START + timedelta(seconds=lo)).timestamp() * 1e6),
                   int((START + timedelta(seconds=hi)).timestamp() * 1e6)) for lo, hi in pairs]
        params = {"bucket_us": 10**15, **span_binds(info, False, micros)}
        counted = sum(row._rows for row in conn.execute(sql_text(sql), params))
    assert counted == sum(1 for s, _form in seconds if any(lo <= s <= hi for lo, hi in pairs))


def reference_merge(spans, limit):
    """The original merge: overlapping spans joined, then the closest neighbours (the leftmost of equal gaps)
    joined one pair at a time, the gaps searched anew for each merge."""
    merged: list[list[int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    while len(merged) > limit:
        i = min(range(len(merged) - 1), key=lambda k: merged[k + 1][0] - merged[k][1])
        merged[i][1] = merged[i + 1][1]
        del merged[i + 1]
    return [(lo, hi) for lo, hi in merged]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)).map(lambda s: (s[0], s[0] + s[1])), max_size=80),
       st.integers(1, 30))
def test_merge_spans_closes_the_gaps_the_one_at_a_time_merge_closed(spans, limit):
    """Equal gaps everywhere (small integers): the ties must be closed from the left, as before."""
    from dupfinder.attribution.written import merge_spans

    assert merge_spans(spans, limit) == reference_merge(spans, limit)


def test_a_t_separated_sqlite_table_is_read_around_its_clusters_as_a_space_separated_one(tmp_path):
    """Two runs of a job on SQLite, timestamps kept as Python's isoformat() ('T', also with an offset) or with a
    space: the rows written around the clusters are read the same either way, so the inferred pid column is
    confirmed and the identical copies are deleted (with 'T' or an offset, 0 rows were read around the
    clusters, the pid column stayed unconfirmed and every cluster was divergent: nothing to delete)."""
    import json

    from click.testing import CliRunner

    from dupfinder.cli import main

    found = {}
    for form in ("space", "T", "+01:00"):
        url = f"sqlite:///{tmp_path / form}.db"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE labels (id INTEGER PRIMARY KEY, order_id INTEGER, pid INTEGER, "
                                 "created_at DATETIME)")
            rows = [(order, pid, order * 0.05 + (0.002 if pid == 2 else 0)) for order in range(40)
                    for pid in (1, 2) if pid == 1 or order % 2]
            for n, (order, pid, second) in enumerate(sorted(rows, key=lambda r: r[2])):
                at = (START + timedelta(seconds=second)).isoformat(sep=" " if form == "space" else "T")[:26]
                if form == "+01:00":  # wall time in a zone an hour east, with its offset
                    at = (START + timedelta(seconds=second)).astimezone(timezone(timedelta(hours=1))).isoformat()
                conn.exec_driver_sql("INSERT INTO labels VALUES (?, ?, ?, ?)", (n, order, 100 + pid, at))
        engine.dispose()
        result = CliRunner().invoke(main, ["scan", url, "--table", "labels", "--key", "order_id", "--ts",
                                           "created_at", "--format", "json"])
        assert result.exit_code == 1, result.output
        table = json.loads(result.output)["tables"][0]
        found[form] = (table["rows_to_delete"], [w["trusted"] for w in table["writer_columns"]])
    assert found["T"] == found["+01:00"] == found["space"] == (20, [True])


def test_an_index_on_the_timestamp_serves_the_span_search():
    """The spans of a --since scan are a small part of the table: SQLite must search them through an index on
    the timestamp, also now that each row's timestamp form is picked by a CASE (which no index serves)."""
    from dupfinder.attribution.written import span_binds
    from dupfinder.connect import TableInfo

    engine = sa.create_engine("sqlite://")
    info = TableInfo(name="t", schema=None, dialect="sqlite", columns=(), primary_key=("id",), row_id=None,
                     unique_constraints=(), ts_timezone_aware=None)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, ts DATETIME, host TEXT)")
        conn.exec_driver_sql("CREATE INDEX t_ts ON t (ts)")
        for spans in (1, 5):
            sql = render_sql("writer_counts.sql.j2", conn.dialect, table='"t"', keys=["k"], ts="ts", spans=spans,
                             members=False, groups=["host"], by_xmin=False, shared_by=["w0"])
            binds = span_binds(info, False, [(n * 10**9, n * 10**9 + 10**6) for n in range(spans)])
            plan = conn.execute(sql_text(f"EXPLAIN QUERY PLAN {sql}"), {"bucket_us": 10**9, **binds}).all()
            assert any("USING INDEX t_ts (ts>? AND ts<?)" in row[-1] for row in plan), plan
