-- The CDC bridge's record of completed initial snapshots, per tenant, durable slot and table: a row is
-- written only after every record of the snapshot was acknowledged by Kafka. snapshot_lsn is the
-- snapshot rows' version. The row with table_name '' is the slot's epoch: the WAL position just before
-- the bridge (re)created the slot; a table's snapshot counts only if it is newer than the epoch.
CREATE TABLE IF NOT EXISTS {database}.cdc_snapshots
(
    tenant_id String,
    slot_name String,
    table_name String,
    snapshot_lsn UInt64,
    rows UInt64,
    completed_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(snapshot_lsn)
ORDER BY (tenant_id, slot_name, table_name);
