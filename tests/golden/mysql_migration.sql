-- table "shop.Order Lines": UNIQUE ("account id", "select") as "uq_order_lines_account_id_select"
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

-- MySQL 8 has no ADD UNIQUE KEY IF NOT EXISTS (MariaDB has): the index is added only while
-- information_schema does not list it, so a second run changes nothing (MySQL 8 and MariaDB alike)
SET @dupfinder_ddl = (SELECT IF(count(*) = 0, 'ALTER TABLE shop.`Order Lines` ADD UNIQUE KEY uq_order_lines_account_id_select (`account id`, `select`), ALGORITHM=INPLACE, LOCK=NONE', 'DO 0')
    FROM information_schema.statistics
    WHERE table_schema = 'shop' AND table_name = 'Order Lines' AND index_name = 'uq_order_lines_account_id_select');
PREPARE dupfinder_ddl FROM @dupfinder_ddl;
EXECUTE dupfinder_ddl;
DEALLOCATE PREPARE dupfinder_ddl;


-- down:
-- ALTER TABLE shop.`Order Lines` DROP INDEX uq_order_lines_account_id_select;

