-- table shop.Order Lines: UNIQUE (account id, select) as uq_order_lines_account_id_select
-- Run with: mysql --database=DB < migration.sql   (MySQL 8: online DDL, no table lock)
SET SESSION lock_wait_timeout = 5;
-- MySQL 8.0.16+ enforces CHECK constraints: the insert below fails while duplicates remain
CREATE TEMPORARY TABLE dupfinder_preflight (
    duplicate_keys INTEGER,
    CONSTRAINT duplicates_remain_run_cleanup_first CHECK (duplicate_keys = 0)
);
INSERT INTO dupfinder_preflight (duplicate_keys)
SELECT count(*) FROM (
    SELECT 1 FROM shop.`Order Lines`
    WHERE `account id` IS NOT NULL AND `select` IS NOT NULL
    GROUP BY `account id`, `select`
    HAVING count(*) > 1
) AS dup;
DROP TEMPORARY TABLE dupfinder_preflight;

ALTER TABLE shop.`Order Lines` ADD UNIQUE KEY uq_order_lines_account_id_select (`account id`, `select`), ALGORITHM=INPLACE, LOCK=NONE;


-- down:
-- ALTER TABLE shop.`Order Lines` DROP INDEX uq_order_lines_account_id_select;
