"""A stranger's webhook race on MariaDB, scanned as the README advises with a user holding nothing but SELECT.

Two deliveries of one carrier webhook each check `shipments` for the order and, finding nothing, insert a shipment
and its `shipment_events` row (a foreign key ON DELETE CASCADE, as an ORM's `on_delete=CASCADE` writes it).
MariaDB shows a SELECT-only user no rows of information_schema.REFERENTIAL_CONSTRAINTS, and the scan joined that
view to find the foreign keys pointing at the table: it found none, cleanup.sql deleted the losing shipments
without re-pointing their events, the cascade deleted 21 of 140 events of the stranger's run, and rollback.sql
brought the shipments back but not the events."""

from __future__ import annotations

import threading

import pymysql
import sqlalchemy as sa
from click.testing import CliRunner
from sqlrun import apply_sql, digest, rows_of

from dupfinder.cli import main

RACED, SINGLE = 6, 4


def _connect(url: str) -> pymysql.Connection:
    u = sa.make_url(url)
    return pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database,
                           autocommit=False)


def _deliver(url: str, order_id: int, barrier: threading.Barrier | None) -> None:
    """One webhook handler: check, then act (each delivery on its own session)."""
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM shipments WHERE order_id = %s", (order_id,))
            found = cur.fetchone()
            conn.commit()
            if barrier is not None:
                barrier.wait(timeout=30)  # both deliveries have checked before either acts
            if found is None:
                cur.execute("INSERT INTO shipments (order_id, carrier, status) VALUES (%s, 'dhl', 'label_created')",
                            (order_id,))
                cur.execute("INSERT INTO shipment_events (shipment_id, kind) VALUES (LAST_INSERT_ID(), 'label')")
                conn.commit()
    finally:
        conn.close()


def test_read_only_scan_finds_the_child_table_and_cleanup_keeps_its_rows(mariadb_server, mariadb_url, tmp_path):
    database = sa.make_url(mariadb_url).database
    mariadb_server.admin(
        "CREATE TABLE shipments (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_id INT NOT NULL, carrier VARCHAR(20) "
        "NOT NULL, status VARCHAR(20) NOT NULL, inserted_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))",
        "CREATE TABLE shipment_events (id BIGINT AUTO_INCREMENT PRIMARY KEY, shipment_id BIGINT NOT NULL, "
        "kind VARCHAR(20) NOT NULL, CONSTRAINT shipment_events_fk FOREIGN KEY (shipment_id) REFERENCES shipments (id) "
        "ON DELETE CASCADE)",
        f"CREATE USER IF NOT EXISTS 'ro_{database}'@'%' IDENTIFIED BY 'ro'",
        f"GRANT SELECT ON `{database}`.* TO 'ro_{database}'@'%'", database=database)
    for order_id in range(1, RACED + SINGLE + 1):
        raced = order_id <= RACED
        barrier = threading.Barrier(2) if raced else None
        handlers = [threading.Thread(target=_deliver, args=(mariadb_url, order_id, barrier))
                    for _ in range(2 if raced else 1)]
        for h in handlers:
            h.start()
        for h in handlers:
            h.join()
    shipments, events = rows_of(mariadb_url, "shipments"), rows_of(mariadb_url, "shipment_events")
    assert len(shipments) == len(events) == 2 * RACED + SINGLE

    out = tmp_path / "out"
    read_only = mariadb_server.url(database, f"ro_{database}", "ro")
    result = CliRunner().invoke(main, ["scan", read_only, "--table", "shipments", "--key", "order_id",
                                       "--ts", "inserted_at", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"{RACED} near-duplicate clusters" in result.output
    cleanup = (out / "cleanup.sql").read_text()
    assert "shipment_events" in cleanup  # the child is named and re-pointed

    apply_sql(mariadb_url, cleanup)  # run by the owner, as the header says
    assert len(rows_of(mariadb_url, "shipments")) == RACED + SINGLE
    kept = {r[0] for r in rows_of(mariadb_url, "shipments")}
    after = rows_of(mariadb_url, "shipment_events")
    assert len(after) == len(events)  # no event was cascaded away
    assert {r[1] for r in after} <= kept  # each points at a surviving shipment
    apply_sql(mariadb_url, (out / "rollback.sql").read_text())
    assert digest(rows_of(mariadb_url, "shipments")) == digest(shipments)
    assert digest(rows_of(mariadb_url, "shipment_events")) == digest(events)
