-- Raw events as the Collector accepted them, one row per delivery.
-- ReplacingMergeTree folds redelivered copies of an event (same tenant, day, id) during merges;
-- until a merge has run, readers count distinct event_id (or read FINAL), so a copy never counts twice.
CREATE TABLE IF NOT EXISTS {database}.raw_events
(
    tenant_id String,
    event_id String,
    event_name String,
    user_id String,
    anonymous_id String,
    session_id String,
    event_time DateTime('UTC'),
    event_time_ms UInt16,
    received_at DateTime('UTC'),
    properties String,
    context String,
    schema_version UInt8,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant_id, toDate(event_time), event_id);
