"""Durations in the text people read: in the unit that reads naturally at their scale. A --since check whose
newest row lay a minute behind its bound said "the newest row is 0.0 h before it"; a gap just under a minute read
"60.0 s", three days "72.0 h"."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from helpers import make_table, ts_type
from hypothesis import example, given
from hypothesis import strategies as st

from dupfinder.durations import MAX_SECONDS, format_seconds, parse_duration

# each unit's size in seconds, the decimals it is said with, and where the next unit takes over
UNITS = {"µs": (1e-6, 0, 1000), "ms": (1e-3, 0, 1000), "s": (1.0, 1, 60), "min": (60.0, 1, 60),
         "h": (3600.0, 1, 24), "d": (86400.0, 1, float("inf"))}
ORDER = list(UNITS)

# every scale alike: a uniform draw over 0-100 years is days almost always
SCALED = st.floats(-7, math.log10(MAX_SECONDS)).map(lambda e: min(10 ** e, MAX_SECONDS))


@given(st.floats(0, MAX_SECONDS) | SCALED)
@example(60)
@example(59.97)
@example(59.94)
@example(3599.99)
@example(86_399.9)
@example(0.0009996)
@example(0.9996)
@example(0)
@example(MAX_SECONDS)
def test_a_duration_reads_naturally_at_every_scale(seconds):
    said = format_seconds(seconds)
    number, unit = re.fullmatch(r"(\d+(?:\.\d)?) (µs|ms|s|min|h|d)", said).groups()
    size, digits, next_at = UNITS[unit]
    assert len(number.partition(".")[2]) == digits, said
    assert float(number) < next_at, said  # never "60.0 s" nor "24.0 h": the next unit says it
    assert unit == "µs" or float(number) >= 1, said  # never "0.0 h" for a minute
    if unit != "µs":  # and never a smaller unit than needed: the one below would have said 1000 / 60 / 24 or more
        below_size, below_digits, below_next = UNITS[ORDER[ORDER.index(unit) - 1]]
        assert float(f"{seconds / below_size:.{below_digits}f}") >= below_next, said
    # read back as the option parser reads a duration, it is the value to within the last digit shown
    back = parse_duration(f"{number}{unit}")
    assert abs(back - seconds) <= 0.5 * 10 ** -digits * size * (1 + 1e-9) + 1e-12, (said, back)


@given(SCALED)
def test_a_negative_duration_reads_as_its_size_with_a_sign(seconds):
    assert format_seconds(-seconds) == "-" + format_seconds(seconds)


@pytest.mark.parametrize(("behind", "said"), [(timedelta(seconds=90), "1.5 min"), (timedelta(seconds=30), "30.0 s"),
                                              (timedelta(hours=5), "5.0 h")])
def test_the_since_warning_says_how_far_behind_the_newest_row_is_in_its_own_unit(db_url, monkeypatch, behind,
                                                                                   said):
    """A --since check of a column without time zone that read no row, its newest row a minute and a half behind
    the bound: the warning said "0.0 h before it" (detect.rows_behind_since divided by 3600)."""
    from click.testing import CliRunner

    from dupfinder.cli import main

    bound = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)
    make_table(db_url, "ev", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                              sa.Column("k", sa.String(5)), sa.Column("ts", ts_type())],
               [{"id": 1, "k": "a", "ts": bound - behind}, {"id": 2, "k": "a", "ts": bound - behind - behind}])
    monkeypatch.setenv("TZ", "UTC")  # the bound's two readings, UTC and this machine's wall time, are one
    time.tzset()
    try:
        result = CliRunner().invoke(main, ["scan", db_url, "--table", "ev", "--key", "k", "--ts", "ts",
                                           "--since", bound.isoformat() + "Z", "--format", "summary"])
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert result.exit_code == 0, result.output
    assert f"and the newest row is {said} before it ({bound - behind:%Y-%m-%d %H:%M:%S})" in result.stderr, \
        result.stderr
