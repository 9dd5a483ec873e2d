"""Trino, BigQuery and Snowflake: no server can run here, so their per-dialect branches are rendered and
checked as text (docs/engines.md has the plan for running them). Stand-in dialects carry each engine's name
and identifier quoting; the real SQLAlchemy dialects are not installed in CI."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import default
from sqlalchemy.sql import compiler

from dupfinder.config import table_spec
from dupfinder.connect import ColumnInfo, TableInfo
from dupfinder.detect import _context
from dupfinder.sqltemplates import ident, render_sql

EPOCH = {
    "trino": "CAST(round(to_unixtime(t.{ts}) * 1000000) AS BIGINT)",
    "bigquery": "UNIX_MICROS(TIMESTAMP(t.{ts}))",
    "snowflake": "DATE_PART(epoch_microsecond, t.{ts})",
    "hive": "unix_micros(t.{ts})",
    "chdb": "CAST(toUnixTimestamp64Micro(toDateTime64(t.{ts}, 6)) AS Nullable(Int64))",
}
QUOTE = {"trino": '"', "bigquery": "`", "snowflake": '"', "hive": "`", "chdb": '"'}


_STAND_INS: dict[str, type] = {}


def stand_in(name: str) -> default.DefaultDialect:
    """A dialect class per engine (the renderer keeps one preparer per dialect class)."""
    if name not in _STAND_INS:
        quote = QUOTE[name]

        class Preparer(compiler.IdentifierPreparer):
            def __init__(self, dialect):
                super().__init__(dialect, initial_quote=quote, escape_quote=quote)

        _STAND_INS[name] = type(f"StandIn_{name}", (default.DefaultDialect,), {"name": name, "preparer": Preparer})
    return _STAND_INS[name]()


class StandIn:
    """What detect's _context reads from a connection."""

    def __init__(self, dialect):
        self.dialect = dialect


def render(name: str, ts: str = "created_at", keys: tuple[str, ...] = ("account", "day")) -> str:
    dialect = stand_in(name)
    columns = ("event_id", *keys, ts)
    info = TableInfo(name="events", schema=None, dialect=name,
                     columns=tuple(ColumnInfo(c, "TIMESTAMP" if c == ts else "VARCHAR", True) for c in columns),
                     primary_key=(), row_id=None, unique_constraints=(), ts_timezone_aware=None,
                     id_columns=("event_id",))
    spec = table_spec(table="events", keys=list(keys), ts=ts, ids=["event_id"])
    ctx = {**_context(StandIn(dialect), info, spec), "far": True}
    return render_sql("detect_clusters.sql.j2", dialect, **ctx)


@pytest.mark.parametrize("name", sorted(EPOCH))
def test_each_engine_gets_its_own_epoch_expression(name):
    sql = render(name)
    assert EPOCH[name].format(ts="created_at") in sql
    assert "EXTRACT(EPOCH" not in sql  # PostgreSQL's spelling never leaks into another engine
    assert "(lag(_ts_us) OVER w)" in sql and "(lead(_ts_us) OVER w)" in sql


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(EPOCH)),
       ts=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12))
def test_a_hostile_timestamp_name_stays_one_quoted_name(name, ts):
    if ts in ("account", "day", "event_id"):
        return
    sql = render(name, ts=ts)
    quote = QUOTE[name]
    quoted = ident(stand_in(name), ts)
    escaped = ts.replace("\\", "\\\\") if name == "chdb" else ts  # ClickHouse reads \ as an escape in names too
    assert quoted in (ts, quote + escaped.replace(quote, quote * 2) + quote)  # plain, or quoted and escaped
    assert EPOCH[name].format(ts=quoted) in sql
