"""cleanup.sql and rollback.sql on harder shapes, executed for real (psql, sqlite3): child rows re-pointed
and restored, children that cannot be re-pointed, tables without a primary key, batches, and a loser
changed only in a column the survivor comparison does not look at."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import at, events_table
from sqlrun import SQLFailed, digest, rows_of, scan_doc

from dupfinder import remediate
from dupfinder.remediate import cleanup_sql, rollback_sql

PAIRS = [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0, "a"), (4, 8, 0.2, "b"), (5, 9, 0.0, "a")]


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def _children(url: str, with_pk: bool = True, ondelete: str = "CASCADE") -> None:
    pk = "id integer PRIMARY KEY, " if with_pk else ""
    _execute(url,
             f"CREATE TABLE receipts ({pk}event_id integer REFERENCES events (id) ON DELETE {ondelete}, "
             "printed text)",
             "INSERT INTO receipts VALUES " + (
                 "(10, 2, 'for the loser'), (11, 1, 'for the survivor'), (12, 4, 'loser too')" if with_pk else
                 "(2, 'for the loser'), (1, 'for the survivor')"))


def test_child_rows_are_repointed_to_the_survivor_and_restored(db_url, runner):
    events_table(db_url, PAIRS)
    _children(db_url)
    before, children_before = rows_of(db_url), rows_of(db_url, "receipts")
    doc = scan_doc(db_url, writers=["host=host"])
    assert doc["tables"][0]["referenced_by"][0]["table"] == "receipts"
    text = cleanup_sql(doc)
    assert "re-pointed to its survivor" in text
    runner(text)
    assert [r[0] for r in rows_of(db_url)] == ["1", "3", "5"]
    # ON DELETE CASCADE would have deleted them: they point at the survivors instead
    assert rows_of(db_url, "receipts") == [("10", "1", "for the loser"), ("11", "1", "for the survivor"),
                                           ("12", "3", "loser too")]
    runner(cleanup_sql(doc))  # second run: nothing to do
    runner(rollback_sql(doc))
    assert digest(rows_of(db_url)) == digest(before)
    assert rows_of(db_url, "receipts") == children_before
    runner(rollback_sql(doc))
    assert rows_of(db_url, "receipts") == children_before


def test_a_child_that_cannot_be_repointed_stops_the_cleanup(db_url, runner):
    events_table(db_url, PAIRS)
    _children(db_url, with_pk=False)
    before, children_before = rows_of(db_url), rows_of(db_url, "receipts")
    text = cleanup_sql(scan_doc(db_url, writers=["host=host"]))
    assert "cannot be re-pointed (the child table has no primary key" in text
    with pytest.raises(SQLFailed, match="cannot be re-pointed|child_rows_cannot_be_repointed"):
        runner(text)
    assert rows_of(db_url) == before
    assert rows_of(db_url, "receipts") == children_before


def test_table_without_a_primary_key_is_cleaned_by_row_id(db_url, runner):
    _execute(db_url, "CREATE TABLE ledger (account integer, day text, ts timestamp, host text, amount integer)")
    engine = sa.create_engine(db_url)
    rows = [(7, 0.0, "a"), (7, 0.4, "b"), (7, 0.5, "c"), (8, 0.0, "a"), (8, 0.1, "b"), (9, 0.0, "a")]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO ledger VALUES (:a, '2026-11-02', :ts, :h, 100)"),
                     [{"a": a, "ts": at(s), "h": h} for a, s, h in rows])
    engine.dispose()
    before = sorted(rows_of(db_url, "ledger"))
    doc = scan_doc(db_url, table="ledger", writers=["host=host"])
    text = cleanup_sql(doc)
    assert "rows are found by" in text
    runner(text)
    after = sorted(rows_of(db_url, "ledger"))
    assert [(r[0], r[3]) for r in after] == [("7", "a"), ("8", "a"), ("9", "a")]
    runner(cleanup_sql(doc))  # the ctid/rowid of deleted rows find nothing: a no-op
    assert sorted(rows_of(db_url, "ledger")) == after
    runner(rollback_sql(doc))
    assert sorted(rows_of(db_url, "ledger")) == before
    runner(rollback_sql(doc))  # the backup was emptied as the rows went back: a no-op
    assert sorted(rows_of(db_url, "ledger")) == before


def test_large_cleanups_run_in_batches(db_url, runner, monkeypatch):
    events_table(db_url, [(n + 1, 100 + n // 2, 0.1 * (n % 2)) for n in range(20)])
    before = rows_of(db_url)
    monkeypatch.setattr(remediate, "BATCH_ROWS", 3)
    doc = scan_doc(db_url)
    text = cleanup_sql(doc)
    assert text.count("COMMIT;") == 4 and "batch 4 of 4: 1 row\n" in text  # 10 losers in 3 + 3 + 3 + 1
    runner(text)
    assert len(rows_of(db_url)) == 10
    runner(rollback_sql(doc))
    assert digest(rows_of(db_url)) == digest(before)


def test_a_loser_changed_in_any_column_aborts(db_url, runner):
    events_table(db_url, PAIRS)
    doc = scan_doc(db_url, writers=["host=host"])
    # the host is a writer column: the loser still equals its survivor on key and payload, but it is not
    # the row the scan saw any more
    _execute(db_url, "UPDATE events SET host = 'someone else' WHERE id = 2")
    before = rows_of(db_url)
    with pytest.raises(SQLFailed, match="changed since the scan|rows_changed_since_the_scan"):
        runner(cleanup_sql(doc))
    assert rows_of(db_url) == before


def test_a_name_containing_the_dollar_quote_tag_stays_inside_its_block(db_url, runner):
    from helpers import make_table

    from dupfinder.remediate import migration_sql

    name, key = "odd$dupfinder$table", "key$dupfinder$"
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column(key, sa.String(20)),
               sa.Column("ts", sa.DateTime)]
    make_table(db_url, name, columns, [{"id": 1, key: "k", "ts": at(0)}, {"id": 2, key: "k", "ts": at(0.2)},
                                        {"id": 3, key: "j", "ts": at(0)}])
    doc = scan_doc(db_url, table=name, keys=[key], ts="ts")
    text = cleanup_sql(doc)
    if db_url.startswith("postgresql"):
        assert "DO $dupfinder1$" in text
    runner(text)
    assert [r[0] for r in rows_of(db_url, name)] == ["1", "3"]
    runner(migration_sql("postgresql" if db_url.startswith("postgresql") else "sqlite", name, [key]))
    with pytest.raises(SQLFailed, match="UNIQUE|unique"):  # the constraint now refuses the duplicate back
        runner(rollback_sql(doc))
    assert [r[0] for r in rows_of(db_url, name)] == ["1", "3"]


def test_child_rows_written_for_each_copy_are_found_by_the_scan_the_header_names(db_url, runner):
    """A job that ran twice wrote an invoice's lines for each copy: re-pointed, both sets sit under the survivor
    (stranger7: 916 doubled invoice lines, nothing said so). The header says so and names the scan that finds
    them; that command, filled in, finds every doubled line, and cleaning those up is the child's own cleanup."""
    import shlex

    from click.testing import CliRunner

    from dupfinder.cli import main

    events_table(db_url, PAIRS)
    lines = [(20, 1, "sku-1", at(0.01)), (21, 1, "sku-2", at(0.02)), (22, 2, "sku-1", at(0.31)),
             (23, 2, "sku-2", at(0.32)), (24, 3, "sku-9", at(0.01)), (25, 4, "sku-9", at(0.21))]
    _execute(db_url, "CREATE TABLE lines (id integer PRIMARY KEY, event_id integer REFERENCES events (id), "
             "sku text, created timestamp)",
             *(f"INSERT INTO lines VALUES ({i}, {e}, '{s}', '{t:%Y-%m-%d %H:%M:%S.%f}')" for i, e, s, t in lines))
    text = cleanup_sql(scan_doc(db_url, writers=["host=host"]))
    advice = next(line for line in text.splitlines() if "afterwards scan for them with" in line)
    assert "UPDATE triggers fire" in text
    command = shlex.split(advice.split("afterwards scan for them with ")[1].split(" (COLUMN:")[0])
    runner(text)
    args = [db_url if word == "URL" else word for word in command[1:]]
    args[args.index("--key", args.index("--key") + 1) + 1] = "sku"
    args[args.index("--ts") + 1] = "created"
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 1, result.output
    import json

    found = json.loads(result.output)["tables"][0]["clusters"]
    assert sorted((c["key"]["event_id"], c["key"]["sku"]) for c in found) == [(1, "sku-1"), (1, "sku-2"),
                                                                              (3, "sku-9")]


def test_a_table_held_back_from_the_migration_counts_in_good_grammar(sqlite_url):
    """'1 divergent cluster remain' (stranger9): the verb follows what is counted."""
    from dupfinder.remediate import migration_sql_for_findings

    events_table(sqlite_url, PAIRS)
    doc = scan_doc(sqlite_url, writers=["host=host"])
    table = doc["tables"][0]
    for far, divergent, said in ((0, 1, "1 divergent cluster remains"), (2, 0, "2 far-duplicate keys remain"),
                                 (1, 1, "1 far-duplicate key and 1 divergent cluster remain")):
        table["far_duplicates"], table["divergent_clusters"] = far, divergent
        assert f"not migrated yet: {said} after cleanup.sql" in migration_sql_for_findings(doc)
