"""The scan's statements on SQLite, where every expression is evaluated per row by the VM and costs what its
functions cost: each timestamp read once where once is enough, and the same answers (issue 13)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from dupfinder.sqltemplates import _dialect_environment, render_sql

DIALECT = sqlite.dialect()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us_sql(expr: str) -> str:
    """The epoch_us macro of queries/_dialect.sql.j2 for SQLite, applied to ``expr``."""
    source = '{% import "_dialect.sql.j2" as d with context %}{{ d.epoch_us(expr) }}'
    return _dialect_environment(DIALECT).from_string(source).render(dialect="sqlite", expr=expr)


def read_epoch_us(values: list[object]) -> list[int | None]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v DATETIME)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in values])
    found = [row[0] for row in conn.execute(f"SELECT {epoch_us_sql('v')} FROM t ORDER BY n")]
    conn.close()
    return found


MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(moments=st.lists(MOMENTS, min_size=1, max_size=40), sep=st.sampled_from([" ", "T"]))
def test_the_usual_text_reads_as_its_exact_microsecond(moments, sep):
    """'YYYY-MM-DD HH:MM:SS.ffffff' (Python's own form, the one most tables hold) read to the microsecond, near
    a second's end too (SQLite's date functions round .9996 s up to the next second)."""
    texts = [m.isoformat(sep=sep, timespec="microseconds") for m in moments]
    expected = [(m.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1) for m in moments]
    assert read_epoch_us(texts) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-19 08:03:00.12345Z", "2026-11-19 08:03:00.123450"),  # 26 characters, a suffix after 5 digits
    ("2026-11-19 08:03:00.1+0100", None),  # no time SQLite reads (its offsets are +HH:MM)
    ("2026-11-19 08:03:00.123-04", None),
    ("2026-11-19 08:03:00.99999Z", "2026-11-19 08:03:00.999990"),
    ("2026-11-19 08:03:00.999999", "2026-11-19 08:03:00.999999"),
    ("2026-11-19 08:03:00.1", "2026-11-19 08:03:00.100000"),
    ("2026-11-19 08:03:00.1234567", "2026-11-19 08:03:00.123456"),  # digits past the sixth are cut
    ("2026-11-19 08:03:00", "2026-11-19 08:03:00.000000"),
    ("2026-11-19 08:03:00.000000+01:00", "2026-11-19 07:03:00.000000"),
    ("2026-13-19 08:03:00.123456", None),  # 26 characters, no date
    ("abcdefghijklmnopqrs.123456", None),
    ("2026-11-19 08:03:00.12a456", None),  # 26 characters, not six digits: the general reading
])
def test_text_of_other_shapes_reads_as_before(text, expected):
    """Text of the usual length that is not the usual form takes the general reading: a suffix, an offset,
    letters among the digits, a date that does not exist."""
    moment = None if expected is None else datetime.fromisoformat(expected).replace(tzinfo=UTC)
    assert read_epoch_us([text]) == [None if moment is None else (moment - EPOCH) // timedelta(microseconds=1)]


def test_numbers_and_null_read_as_before():
    assert read_epoch_us([1795420800, 1795420800.5, None]) == [1_795_420_800_000_000, 1_795_420_800_500_000, None]


def function_calls(sql: str, name: str, binds: tuple[str, ...] = ()) -> int:
    """How many calls of the SQL function ``name`` a statement's program holds (EXPLAIN: one Function opcode per
    call written; SQLite computes an aggregate written twice once)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, k INTEGER, ts DATETIME, host TEXT)")
    program = conn.execute(f"EXPLAIN {sql}", dict.fromkeys(binds, None)).fetchall()
    conn.close()
    return sum(1 for op in program if op[1] in ("Function", "PureFunc") and str(op[5]).startswith(f"{name}("))


def test_the_statistics_read_each_timestamp_once():
    """julianday tells text that is no time; it was called twice per row (rows_null_ts and rows_unreadable_ts)."""
    sql = render_sql("table_stats.sql.j2", DIALECT, table='"ev"', keys=["k"], ts="ts", since=False)
    assert function_calls(sql, "julianday") == 1


def test_the_coverage_bucket_reads_each_timestamp_once():
    """The bucket of a row in the spans: its epoch once (e / b * b), not twice (e - e % b)."""
    sql = render_sql("writer_counts.sql.j2", DIALECT, table='"ev"', keys=["k"], ts="ts", spans=3, members=False,
                     groups=["host"], by_xmin=False, shared_by=["w0"])
    binds = ("bucket_us", "clo", "chi", *(f"{f}{e}{n}" for f in ("", "t", "n", "j") for e in ("lo", "hi")
                                          for n in range(3)))
    assert function_calls(sql, "strftime", binds) == function_calls(f"SELECT {epoch_us_sql('ts')} FROM ev",
                                                                    "strftime")


def vm_steps(values: list[object]) -> int:
    """The virtual machine's steps (opcodes run) reading ``values`` with the epoch_us expression."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (v DATETIME)")
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 1)
    conn.execute(f"SELECT max({epoch_us_sql('v')}) FROM t").fetchall()
    conn.close()
    return steps[0]


def test_the_usual_text_takes_the_short_reading():
    """Six digits after the point: the whole seconds from the text before it, the digits as they are, with a third
    of the text functions of the general reading (a 1M-row table: 2.5-2.8 s against 1.7-1.9 s of CPU)."""
    usual = [f"2026-11-19 08:03:{s % 60:02d}.{s:06d}" for s in range(1000)]
    general = [f"{text}0" for text in usual]  # seven digits: the same microseconds, the general reading
    assert read_epoch_us(usual) == read_epoch_us(general)
    assert vm_steps(usual) < 0.8 * vm_steps(general)


def bucket_sql(expr: str) -> str:
    """The coverage statement's time bucket of ``expr`` (queries/writer_counts.sql.j2) for SQLite."""
    source = '{% import "writer_counts.sql.j2" as w with context %}{{ w.bucket() }}'
    return _dialect_environment(DIALECT).from_string(source).render(dialect="sqlite", ts=expr, server_version=(),
                                                                          table="t", keys=["k"])


def buckets(values: list[object], bucket_us: int) -> list[tuple[int | None, int | None]]:
    """Each value's bucket as the statement computes it, beside the exact epoch's e - e % b."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v DATETIME)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in values])
    exact = epoch_us_sql("v")
    found = conn.execute(f"SELECT {bucket_sql('v')}, ({exact}) - ({exact}) % :bucket_us FROM t ORDER BY n",
                         {"bucket_us": bucket_us}).fetchall()
    conn.close()
    return found


# instants around bucket edges (multiples of bucket_us) and anywhere, written as tables hold them
EDGE_OFFSETS = st.integers(-3000, 3000) | st.integers(-10**9, 10**9)
SHAPES = st.sampled_from(["%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f+01:00",
                          "%Y-%m-%d %H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.{ms}",
                          "%Y-%m-%d %H:%M:%S.%f1", "%Y-%m-%d %H:%M", "epoch", "blob", "julian"])


def written(moment: datetime, shape: str) -> object:
    if shape == "epoch":
        return (moment - EPOCH) / timedelta(seconds=1)
    if shape == "blob":
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f").encode()
    if shape == "julian":
        return f"{2440587.5 + (moment - EPOCH) / timedelta(days=1):.12f}"
    return moment.strftime(shape.replace("{ms}", f"{moment.microsecond // 1000:03d}"))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(bucket_us=st.integers(100_000, 10**10), edges=st.lists(st.tuples(st.integers(-10**4, 10**4), EDGE_OFFSETS,
                                                                         SHAPES), min_size=1, max_size=30))
def test_the_coverage_bucket_is_the_exact_epochs_bucket(bucket_us, edges):
    """julianday's milliseconds decide a row's bucket only away from its edges; every other row (near an edge,
    before 1970, a number, a blob, text of another shape) takes the exact epoch."""
    base = datetime(2026, 11, 19, tzinfo=UTC)
    start = (base - EPOCH) // timedelta(microseconds=1) // bucket_us * bucket_us
    values = [written(EPOCH + timedelta(microseconds=start + n * bucket_us + offset), shape)
              for n, offset, shape in edges]
    assert all(found == exact for found, exact in buckets(values, bucket_us))


@given(e=st.integers(-(2 ** 62), 2 ** 62), b=st.integers(100_000, 10 ** 12))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_the_bucket_by_division_is_the_bucket_by_remainder(e, b):
    """SQLite truncates both toward zero, so the one reading of the timestamp gives the same bucket."""
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT ? / ? * ?, ? - ? % ?", (e, b, b, e, e, b)).fetchone() == (
        conn.execute("SELECT ? - ? % ?", (e, e, b)).fetchone()[0],) * 2
    conn.close()
