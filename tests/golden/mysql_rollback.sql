-- dupfinder rollback.sql
-- generated from the scan of "mysql+pymysql://app:***@db/shop" at "2026-11-03T02:30:00+00:00"
-- (dupfinder "0.1.0")
-- stamp: 20261103023000
-- restores the rows cleanup.sql (same stamp) deleted, exactly (same primary keys and values), from its
-- backup tables; rows already present are skipped. The backup tables are kept: drop them when done.
-- FIRST, if migration.sql was applied since the cleanup, undo it: its UNIQUE constraint refuses the
-- duplicates this file puts back (the rollback would stop at a unique violation and restore nothing).
-- Its down step (a migration written by `dupfinder migrate --where` is a partial index: DROP INDEX):
--   ALTER TABLE `Order Lines` DROP INDEX uq_order_lines_account_id_select;

-- table "Order Lines": restore rows from "dupfinder_backup_order_lines_c374ffcb_20261103023000"
CREATE TABLE IF NOT EXISTS dupfinder_backup_order_lines_c374ffcb_20261103023000 LIKE `Order Lines`;
CREATE TABLE IF NOT EXISTS dupfinder_backup_order_lines_c374ffcb_20261103023000_r1 AS
SELECT ch.id AS child_id, ch.line_id AS old_ref FROM receipts AS ch WHERE 1 = 0;
START TRANSACTION;
INSERT INTO `Order Lines` (id, `account id`, `select`, amount, created_at, host)
SELECT b.id, b.`account id`, b.`select`, b.amount, b.created_at, b.host
FROM dupfinder_backup_order_lines_c374ffcb_20261103023000 AS b
WHERE NOT EXISTS (SELECT 1 FROM `Order Lines` AS r WHERE (r.id) = (b.id));
-- child "receipts": point the re-pointed rows back at the rows they referenced before the cleanup
UPDATE receipts AS ch JOIN dupfinder_backup_order_lines_c374ffcb_20261103023000_r1 AS o ON o.child_id = ch.id
SET ch.line_id = o.old_ref;
DELETE FROM dupfinder_backup_order_lines_c374ffcb_20261103023000_r1;
COMMIT;
