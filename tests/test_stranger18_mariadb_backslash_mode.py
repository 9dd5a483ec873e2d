"""A MariaDB server whose sql_mode holds NO_BACKSLASH_ESCAPES (set server-wide by some shops) and a webhook race
writing Windows label paths (`C:\\labels\\7.pdf`): cleanup.sql's plan doubles each backslash, as MySQL's default
mode wants, so under that mode every plan value held two backslashes where the row holds one and the guard stopped
the cleanup as "rows changed since the scan" though nothing had changed. cleanup.sql now reads its literals in
the default way whatever the server's sql_mode."""

from __future__ import annotations

import threading

import pymysql
import sqlalchemy as sa
from sqlrun import apply_sql, digest, rows_of, scan_doc

from dupfinder.remediate import cleanup_sql, rollback_sql

ORDERS = 5


def _global_sql_mode(server) -> str:
    conn = pymysql.connect(unix_socket=str(server.sock), user="root")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.sql_mode")
            return cur.fetchone()[0]
    finally:
        conn.close()


def _deliver(url: str, order_id: int, barrier: threading.Barrier) -> None:
    u = sa.make_url(url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM shipping_labels WHERE order_id = %s", (order_id,))
            found = cur.fetchone()
            conn.commit()
            barrier.wait(timeout=30)  # both deliveries checked before either acts
            if found is None:
                cur.execute("INSERT INTO shipping_labels (order_id, label_path) VALUES (%s, %s)",
                            (order_id, f"C:\\labels\\{order_id}.pdf"))
                conn.commit()
    finally:
        conn.close()


def test_cleanup_applies_under_no_backslash_escapes(mariadb_server, mariadb_url):
    database = sa.make_url(mariadb_url).database
    mariadb_server.admin("CREATE TABLE shipping_labels (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT NOT NULL, "
                         "label_path VARCHAR(200) NOT NULL, "
                         "created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))", database=database)
    original = _global_sql_mode(mariadb_server)
    mariadb_server.admin(f"SET GLOBAL sql_mode = '{original},NO_BACKSLASH_ESCAPES'")
    try:
        for order_id in range(1, ORDERS + 1):
            barrier = threading.Barrier(2)
            handlers = [threading.Thread(target=_deliver, args=(mariadb_url, order_id, barrier)) for _ in range(2)]
            for h in handlers:
                h.start()
            for h in handlers:
                h.join()
        before = rows_of(mariadb_url, "shipping_labels")
        assert len(before) == 2 * ORDERS and all("\\labels\\" in r[2] for r in before)
        doc = scan_doc(mariadb_url, table="shipping_labels", keys=["order_id"], ts="created_at")
        assert len(doc["tables"][0]["clusters"]) == ORDERS
        out = apply_sql(mariadb_url, cleanup_sql(doc))
        assert f"deleted {ORDERS} of {ORDERS}" in out
        after = rows_of(mariadb_url, "shipping_labels")
        assert sorted(r[1] for r in after) == [str(o) for o in range(1, ORDERS + 1)]
        assert {r[2] for r in after} == {r[2] for r in before}  # the paths are intact, one backslash each
        apply_sql(mariadb_url, rollback_sql(doc))
        assert digest(rows_of(mariadb_url, "shipping_labels")) == digest(before)
    finally:
        mariadb_server.admin(f"SET GLOBAL sql_mode = '{original}'")  # the server reorders the modes: set it back
    assert _global_sql_mode(mariadb_server) == original
