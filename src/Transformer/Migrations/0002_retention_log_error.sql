-- Why a retention action failed ('' when it succeeded), so a failed drop or delete is visible in the
-- log table and not only in the service's logs. 18.16 has no ADD COLUMN IF NOT EXISTS.
ALTER TABLE {database}.retention_log
    ADD COLUMN error String DEFAULT '' AFTER dry_run;
