"""Per-pair evidence and writer roles read from the data, on small tables a test can reason about (SQLite
and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa
from helpers import make_table, scan_one
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 10, 6, 2, 0, 0)


def _columns(names: dict[str, str]) -> list[sa.Column]:
    return [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
            sa.Column("ts", sa.DateTime()), sa.Column("amount", sa.Integer),
            *(sa.Column(column, sa.String(40)) for column in names.values())]


def _two_runs_amid_another_job(names: dict[str, str]) -> list[dict]:
    """One host runs a 40-key job twice (two pids, ~0.3 s apart) while another job on another host writes
    260 other keys into the same table that minute."""
    rng = random.Random(5)
    rows, n = [], 0

    def row(account, at, host, pid, run):
        nonlocal n
        n += 1
        values = {"host": host, "process": pid, "run": run}
        return {"id": n, "account": account, "ts": at, "amount": account * 7,
                **{column: values[role] for role, column in names.items()}}

    for i in range(40):
        rows.append(row(i, T0 + timedelta(milliseconds=25 * i), "etl-01", "4711", "run-a"))
        rows.append(row(i, T0 + timedelta(milliseconds=25 * i + 300 + rng.randint(0, 2)), "etl-01", "5210", "run-b"))
    for i in range(260):
        rows.append(row(1000 + i, T0 + timedelta(milliseconds=200 * i + 7), "etl-07", "999", "other"))
    return rows


def test_other_jobs_do_not_dilute_a_double_run(db_url):
    names = {"host": "host", "process": "pid"}
    make_table(db_url, "events", _columns(names), _two_runs_amid_another_job(names))
    table = scan_one(db_url, keys=["account"], writers=["host=host", "process=pid"])
    assert len(table.clusters) == 40
    assert {c.mechanism for c in table.clusters} == {"duplicate_run"}, table.clusters[0].explanation
    assert all(c.evidence["coverage"] == 1.0 for c in table.clusters)  # of what each run wrote: all of it
    assert table.signals["coverage_statements"] == 1  # one statement for the table, not one per cluster
    assert all(0 < c.confidence <= 1 for c in table.clusters)
    (incident,) = table.incidents
    assert "etl-01 ran the job twice (4711 and 5210)" in incident.summary, incident.summary


def test_roles_are_read_from_the_data_when_names_say_nothing(db_url):
    names = {"host": "kiste", "process": "nummer", "run": "durchlauf"}  # outside any vocabulary
    make_table(db_url, "events", _columns(names), _two_runs_amid_another_job(names))
    table = scan_one(db_url, keys=["account"])
    found = {w["column"]: w for w in table.signals["writer_roles_from_data"]}
    assert found["kiste"]["role"] == "host", found
    assert {found["nummer"]["role"], found["durchlauf"]["role"]} <= {"process", "run"}, found
    assert all(w["reason"].startswith("inferred from the data") for w in found.values())
    assert "amount" not in found  # a business column: copies agree, many distinct values
    assert table.writers == ()  # guessed roles never leave the payload comparison (cleanup still compares them)
    assert table.signals["attribution_mode"] == "inferred"
    assert {c.mechanism for c in table.clusters} == {"duplicate_run"}, table.clusters[0].explanation


def test_explanations_and_summaries_never_hold_an_empty_name(db_url):
    make_table(db_url, "events", _columns({}), [
        {"id": i + 1, "account": i // 2, "ts": T0 + timedelta(milliseconds=40 * (i // 2) + 120 * (i % 2)),
         "amount": 1} for i in range(60)])
    table = scan_one(db_url, keys=["account"])
    texts = [c.explanation for c in table.clusters] + [i.summary for i in table.incidents]
    assert texts
    for text in texts:
        assert "  " not in text and "()" not in text and " ," not in text, text


@settings(max_examples=25, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                    max_size=20))
def test_attribution_statements_keep_any_name_one_quoted_identifier(name):
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    from dupfinder.sqltemplates import ident, quote_table, render_sql

    for dialect in (postgresql.dialect(), sqlite.dialect(), mysql.dialect()):
        quoted = ident(dialect, name)
        ctx = {"table": quote_table(dialect, name), "keys": [name], "ts": name}
        rendered = [
            render_sql("writer_counts.sql.j2", dialect, **ctx, groups=[name], shared_by=["w0"], spans=2,
                       by_xmin=dialect.name == "postgresql"),
            render_sql("column_profile.sql.j2", dialect, **ctx, candidates=[name], order=[name], columns=[name]),
        ]
        for sql in rendered:
            assert quoted in sql
            if quoted != name and len(name) >= 4 and name.strip():
                # a name that needs quoting never appears bare outside its quoted form
                assert name not in sql.replace(quoted, ""), (name, sql)
