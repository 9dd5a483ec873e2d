-- dupfinder cleanup.sql
-- generated from the scan of "mysql+pymysql://app:***@db/shop" at "2026-11-03T02:30:00+00:00"
-- (dupfinder "0.1.0")
-- stamp: 20261103023000
-- deletes 1 row that duplicates an earlier row exactly; every deleted row is first copied
-- into a dupfinder_backup_* table in the same transaction. Each table's transaction aborts and
-- deletes nothing if any losing row changed since the scan, its survivor is gone or differs, or the
-- table's columns changed. Running it twice deletes nothing the second time. Undo with rollback.sql.
-- It creates only dupfinder_backup_* tables and temporary tables, re-points child rows named below, and
-- deletes only rows named in its plan.
-- PostgreSQL: psql -v ON_ERROR_STOP=1 -f cleanup.sql    SQLite: sqlite3 -bail DATABASE < cleanup.sql
-- MySQL 8.0.16+ / MariaDB 10.4+: mysql (or mariadb) DATABASE < cleanup.sql (stops at the first error; the open transaction rolls back)
-- Verify afterwards: a dupfinder scan of the tables below again, with the same keys, should report no near-duplicate clusters but the 1 cluster left for a person (rows written since the scan aside).
-- Expect new clusters in the child table whose rows it re-points: "receipts" ("line_id" -> "Order Lines"). Each copy's child rows
-- (an email queued per copy) point at the survivor together afterwards, so a scan of the child keyed on its reference column
-- finds what the double write left there: that table's own duplicates, to clean from its own scan (the command is in the notes below).
--   "Order Lines": 1 identical cluster, 1 row to delete, 1 divergent cluster left for a person

-- ---------------------------------------------------------------------------------------------------
-- table "Order Lines": 1 row to delete from 1 identical cluster
-- survivors: the earliest row of each cluster; backup table: "dupfinder_backup_order_lines_c374ffcb_20261103023000"
-- a row is deleted only when it still holds what the scan saw and every other column equals its survivor's;
-- not compared with the survivor (they may differ between the copies):
--   "id": "primary key"
--   "created_at": "timestamp"
--   "host": "writer column (host; given)"
-- deleting fires the table's own DELETE triggers once per deleted row (an audit row, a queued message: neither this file nor rollback.sql undoes what they do), and rollback.sql's inserts fire its INSERT triggers; a scan with SELECT alone does not see triggers, so list them first (MySQL/MariaDB: SHOW TRIGGERS; PostgreSQL: information_schema.triggers as the owner; SQLite: sqlite_master)
-- child "receipts"."line_id" (ON DELETE CASCADE): rows pointing at a deleted row are re-pointed to its survivor; old references kept in "dupfinder_backup_order_lines_c374ffcb_20261103023000_r1"
--   a job that ran twice may have written these child rows twice too (lines for each copy): re-pointed, both sets sit under the survivor; afterwards scan for them with dupfinder scan URL --table receipts --key line_id --key COLUMN --ts COLUMN (COLUMN: the columns that tell its rows apart, and its creation time)
--   re-pointing is an UPDATE of those rows: the child's UPDATE triggers fire (an updated_at column moves, and rollback.sql does not move it back)
-- child "audit" ("line_id" -> "id", ON DELETE NO ACTION): cannot be re-pointed (the child table has no primary key to record the old reference by); the cleanup stops if any of its rows point at a row to delete
-- ---------------------------------------------------------------------------------------------------
-- NOT DELETED (divergent, decide by hand): key {"account id": 8, "select": "s"} rows [{"id": 3}, {"id": 4}] differ in ["amount"]
-- this file is UTF-8: a client left to its default (utf8mb3 on Debian) turned a four-byte character in a plan
-- value into another, and the guard stopped every batch as changed since the scan
SET NAMES utf8mb4;
CREATE TABLE IF NOT EXISTS dupfinder_backup_order_lines_c374ffcb_20261103023000 LIKE `Order Lines`;
CREATE TABLE IF NOT EXISTS dupfinder_backup_order_lines_c374ffcb_20261103023000_r1 AS
SELECT ch.id AS child_id, ch.line_id AS old_ref FROM receipts AS ch WHERE 1 = 0;
SET SESSION innodb_lock_wait_timeout = 5;
-- the scan read TIMESTAMP values in UTC; compare them the same way (DATETIME is not affected)
SET SESSION time_zone = '+00:00';
-- the plan's literals double their backslashes: read them so whatever the server's sql_mode
SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');
START TRANSACTION;
CREATE TEMPORARY TABLE dupfinder_plan AS
SELECT 2 AS loser_0, 1 AS survivor_0, 2 AS v_0, 7 AS v_1, 'O''Brien \\ x' AS v_2, '12.50' AS v_3, '2026-11-03T02:30:00.400000' AS v_4, 'b' AS v_5;
-- the losing rows again: MySQL reads a temporary table only once per statement
CREATE TEMPORARY TABLE dupfinder_losers AS SELECT p.loser_0 FROM dupfinder_plan AS p;
CREATE TEMPORARY TABLE dupfinder_guard (
    not_a_table INTEGER,
    columns_changed INTEGER,
    changed INTEGER,
    blocked INTEGER,
    CONSTRAINT not_a_table_cleanup_deletes_from_tables_only CHECK (not_a_table = 0),
    CONSTRAINT table_columns_changed_since_the_scan_nothing_deleted CHECK (columns_changed = 0),
    CONSTRAINT rows_changed_since_the_scan_nothing_deleted CHECK (changed = 0),
    CONSTRAINT child_rows_cannot_be_repointed_nothing_deleted CHECK (blocked = 0)
);
-- the relation is still a table with exactly the columns the scan saw
INSERT INTO dupfinder_guard (not_a_table)
SELECT count(*) = 0 FROM information_schema.tables
WHERE table_schema = DATABASE() AND CONVERT(table_name USING utf8mb4) COLLATE utf8mb4_bin = 'Order Lines' AND table_type = 'BASE TABLE';
INSERT INTO dupfinder_guard (columns_changed)
SELECT count(*) <> 6 OR coalesce(sum(CONVERT(column_name USING utf8mb4) COLLATE utf8mb4_bin IN ('id', 'account id', 'select', 'amount', 'created_at', 'host')), 0) <> 6
FROM information_schema.columns WHERE table_schema = DATABASE() AND CONVERT(table_name USING utf8mb4) COLLATE utf8mb4_bin = 'Order Lines';
-- lock losers and survivors before looking at them
SELECT count(*) INTO @dupfinder_locked FROM `Order Lines` AS r
JOIN dupfinder_plan AS p ON (r.id) = (p.loser_0) OR (r.id) = (p.survivor_0)
FOR UPDATE;
-- guard: each losing row still holds every value the scan saw, is nobody's survivor, and its survivor still
-- exists with the same key and payload
INSERT INTO dupfinder_guard (changed)
SELECT count(*)
FROM dupfinder_plan AS p
JOIN `Order Lines` AS l ON (l.id) = (p.loser_0)
LEFT JOIN `Order Lines` AS s ON (s.id) = (p.survivor_0)
WHERE s.id IS NULL
   OR (p.loser_0) = (p.survivor_0)
   OR (p.survivor_0) IN (SELECT * FROM dupfinder_losers)
   OR NOT (l.id <=> p.v_0)
   OR NOT (l.`account id` <=> p.v_1)
   OR NOT (l.`select` <=> CONVERT(p.v_2 USING utf8mb4) COLLATE utf8mb4_bin)
   OR NOT (l.amount <=> p.v_3)
   OR NOT (l.created_at <=> p.v_4)
   OR NOT (l.host <=> CONVERT(p.v_5 USING utf8mb4) COLLATE utf8mb4_bin)
   OR NOT (l.`account id` <=> s.`account id`)
   OR NOT (l.`select` <=> s.`select`)
   OR NOT (l.amount <=> s.amount)
;
INSERT INTO dupfinder_guard (blocked)
SELECT count(*) FROM audit AS ch
JOIN `Order Lines` AS l ON ch.line_id = l.id
JOIN dupfinder_plan AS p ON (l.id) = (p.loser_0);
INSERT INTO dupfinder_backup_order_lines_c374ffcb_20261103023000_r1
SELECT ch.id, ch.line_id FROM receipts AS ch
JOIN dupfinder_plan AS p ON ch.line_id = p.loser_0;
UPDATE receipts AS ch JOIN dupfinder_plan AS p ON ch.line_id = p.loser_0
SET ch.line_id = p.survivor_0;
-- a copy left in the backup by a cleanup that a rollback undid is replaced: the backup holds one copy per row
DELETE b FROM dupfinder_backup_order_lines_c374ffcb_20261103023000 AS b JOIN dupfinder_plan AS p ON (b.id) = (p.loser_0)
WHERE EXISTS (SELECT 1 FROM `Order Lines` AS l WHERE (l.id) = (b.id));
-- (generated columns are computed by the backup table too: CREATE TABLE ... LIKE keeps their definitions)
INSERT INTO dupfinder_backup_order_lines_c374ffcb_20261103023000 (id, `account id`, `select`, amount, created_at, host)
SELECT r.id, r.`account id`, r.`select`, r.amount, r.created_at, r.host FROM `Order Lines` AS r JOIN dupfinder_plan AS p ON (r.id) = (p.loser_0);
DELETE r FROM `Order Lines` AS r JOIN dupfinder_plan AS p ON (r.id) = (p.loser_0);
SELECT concat('dupfinder: deleted ', ROW_COUNT(), ' of 1 planned row(s) from ', 'Order Lines', '; 0 means already cleaned up') AS dupfinder;
INSERT INTO dupfinder_guard (changed)
SELECT count(*) FROM `Order Lines` AS r JOIN dupfinder_plan AS p ON (r.id) = (p.loser_0);
COMMIT;
DROP TEMPORARY TABLE dupfinder_guard, dupfinder_losers, dupfinder_plan;
