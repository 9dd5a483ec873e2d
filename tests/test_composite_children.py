"""Child rows whose foreign key has several columns (order lines under orders keyed by (id, region)): cleanup.sql
re-pointed them only on PostgreSQL; on MySQL/MariaDB and SQLite it refused every such child ("not a one-column
reference to the primary key") and deleted nothing. They are re-pointed to the survivor there too, every column
of the reference from the same plan row (a survivor in another region moves both), and rollback.sql points them
back. Executed with the engines' own clients (sqlite3, psql, mariadb)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlrun import apply_sql, rows_of, scan_doc

from dupfinder.remediate import cleanup_sql, rollback_sql

ORDERS = [(1, "eu", 7, "00.000"), (2, "eu", 7, "00.004"), (3, "us", 8, "01.000"), (4, "eu", 8, "01.003"),
          (5, "eu", 9, "02.000")]
LINES = [(10, "eu", 2, "for a loser"), (11, "eu", 1, "for its survivor"), (12, "eu", 4, "for a loser in eu"),
         (13, "us", 3, "for its survivor in us")]


@pytest.fixture(params=["sqlite", "pg", "mariadb"])
def url_and_run(request):
    url = request.getfixturevalue(f"{request.param}_url")
    server = request.getfixturevalue("pg_server") if request.param == "pg" else None
    return url, lambda sql: apply_sql(url, sql, server)


def _tables(url: str) -> None:
    ts = "DATETIME(6)" if url.startswith("mysql") else "timestamp"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE orders (id integer NOT NULL, region varchar(8) NOT NULL, account integer, "
                             f"day varchar(10), ts {ts}, amount integer, PRIMARY KEY (id, region))")
        # the child's columns in another order than the parent's key, the reference in the key's order
        conn.exec_driver_sql("CREATE TABLE order_lines (id integer PRIMARY KEY, order_region varchar(8), "
                             "order_id integer, item varchar(40), CONSTRAINT order_lines_order "
                             "FOREIGN KEY (order_id, order_region) REFERENCES orders (id, region))")
        for oid, region, account, second in ORDERS:
            conn.exec_driver_sql(f"INSERT INTO orders VALUES ({oid}, '{region}', {account}, '2026-11-02', "
                                 f"'2026-11-02 01:30:{second}', 10)")
        for lid, region, oid, item in LINES:
            conn.exec_driver_sql(f"INSERT INTO order_lines VALUES ({lid}, '{region}', {oid}, '{item}')")
    engine.dispose()


def test_composite_child_rows_are_repointed_and_restored(url_and_run):
    url, run = url_and_run
    _tables(url)
    orders, lines = rows_of(url, "orders"), rows_of(url, "order_lines")
    doc = scan_doc(url, table="orders")
    table = doc["tables"][0]
    assert [[r["pk"]["id"] for r in c["rows"]] for c in table["clusters"]] == [[1, 2], [3, 4]]
    assert table["referenced_by"][0]["columns"] == ["order_id", "order_region"]
    text = cleanup_sql(doc)
    assert "cannot be re-pointed" not in text and "re-pointed to its survivor" in text
    run(text)
    assert [r[0] for r in rows_of(url, "orders")] == ["1", "3", "5"]
    # each line points at its order's survivor, region included (4/eu's survivor is 3/us)
    assert rows_of(url, "order_lines") == [
        ("10", "eu", "1", "for a loser"), ("11", "eu", "1", "for its survivor"),
        ("12", "us", "3", "for a loser in eu"), ("13", "us", "3", "for its survivor in us")]
    run(cleanup_sql(doc))  # a second run: nothing to do
    run(rollback_sql(doc))
    assert rows_of(url, "orders") == orders and rows_of(url, "order_lines") == lines
    run(rollback_sql(doc))
    assert rows_of(url, "order_lines") == lines


def test_duckdb_stops_before_anything_changes_and_says_why(duckdb_url):
    """DuckDB refuses to delete a row a foreign key pointed at earlier in its transaction, even once re-pointed,
    so it cannot re-point and delete at once. No foreign key was read there: cleanup.sql's DELETE stopped on
    DuckDB's own constraint error, naming no child and no way out. Its guard now stops first, with the reason; a
    child whose rows point only at survivors stops nothing."""
    from sqlrun import SQLFailed

    _tables(duckdb_url)
    orders, lines = rows_of(duckdb_url, "orders"), rows_of(duckdb_url, "order_lines")
    doc = scan_doc(duckdb_url, table="orders")
    assert doc["tables"][0]["referenced_by"][0]["columns"] == ["order_id", "order_region"]
    text = cleanup_sql(doc)
    with pytest.raises(SQLFailed, match=r"2 row\(s\) of order_lines point at rows to delete and cannot be re-pointed "
                                        r"\(DuckDB refuses to delete a row a foreign key pointed at"):
        apply_sql(duckdb_url, text)
    assert rows_of(duckdb_url, "orders") == orders and rows_of(duckdb_url, "order_lines") == lines
    # re-pointed by hand, as the reason says: the same file then deletes the copies
    engine = sa.create_engine(duckdb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE order_lines SET order_id = 1 WHERE id = 10")
        conn.exec_driver_sql("UPDATE order_lines SET order_id = 3, order_region = 'us' WHERE id = 12")
    engine.dispose()
    apply_sql(duckdb_url, text)
    assert [r[0] for r in rows_of(duckdb_url, "orders")] == ["1", "3", "5"]
