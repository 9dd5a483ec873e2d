"""The coverage statement's spans on SQLite: searched by halves (a CASE tree) instead of OR-ed ranges SQLite
evaluates one by one per row. The tree must count exactly the rows the OR-ed ranges count; hypothesis draws
sorted disjoint spans (as written.merge_spans gives them) and timestamps on and around their bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder.sqltemplates import render_sql, sql_text

START = datetime(2026, 11, 3, tzinfo=UTC)


def _text(second: int) -> str:
    return (START + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S.%f")


@st.composite
def spans_and_rows(draw):
    cuts = sorted(draw(st.sets(st.integers(0, 2_000), min_size=2, max_size=60)))
    pairs = [(cuts[n], cuts[n + 1]) for n in range(0, len(cuts) - 1, 2)]  # disjoint, sorted
    near = [s + d for lo, hi in pairs for s in (lo, hi) for d in (-1, 0, 1)]
    seconds = draw(st.lists(st.one_of(st.sampled_from(near), st.integers(-5, 2_005)), max_size=80))
    return pairs, seconds


@settings(max_examples=150, deadline=None)
@given(drawn=spans_and_rows())
def test_the_span_search_counts_what_the_ored_ranges_count(drawn):
    pairs, seconds = drawn
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, ts TEXT, host TEXT)")
        for n, second in enumerate(seconds):
            conn.exec_driver_sql("INSERT INTO t VALUES (?, ?, ?, ?)", (n, n % 7, _text(second), f"h{n % 3}"))
        sql = render_sql("writer_counts.sql.j2", conn.dialect, table='"t"', keys=["k"], ts="ts", spans=len(pairs),
                         members=False, groups=["host"], by_xmin=False, shared_by=["w0"])
        assert ("CASE WHEN ts < :lo" in sql) == (len(pairs) > 2)
        params = {"bucket_us": 10**15}
        for n, (lo, hi) in enumerate(pairs):
            params[f"lo{n}"], params[f"hi{n}"] = _text(lo), _text(hi)
        counted = sum(row._rows for row in conn.execute(sql_text(sql), params))
    assert counted == sum(1 for s in seconds if any(lo <= s <= hi for lo, hi in pairs))


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
