-- TRUNCATEs of replicated tables. ClickHouse cannot tell which keys a TRUNCATE removed, so a table's view
-- of current rows (cdc_<table>_current) keeps only rows versioned after the table's latest truncation
-- here. Versions are WAL positions, so a change from before the TRUNCATE that is applied after it (its
-- key's partition was behind) is hidden too; the bridge only ever adds rows.
CREATE TABLE IF NOT EXISTS {database}.cdc_truncations
(
    table_name String,
    tenant_id String,
    _version UInt64,
    _lsn String,
    _commit_time DateTime('UTC'),
    _applied_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(_version)
ORDER BY (table_name, tenant_id);
