-- The Transformer's own records: one row per model build, per data test result, per dropped partition.
CREATE TABLE IF NOT EXISTS {database}.transform_runs
(
    run_id String,
    model String,
    materialized String,
    trigger String,
    started_at DateTime('UTC'),
    finished_at DateTime('UTC'),
    status String,
    rows UInt64,
    window_start DateTime('UTC'),
    window_end DateTime('UTC'),
    error String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (model, started_at);

CREATE TABLE IF NOT EXISTS {database}.transform_test_results
(
    run_id String,
    model String,
    test String,
    checked_at DateTime('UTC'),
    status String,
    failures UInt64,
    samples String,
    error String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(checked_at)
ORDER BY (model, test, checked_at);

CREATE TABLE IF NOT EXISTS {database}.retention_log
(
    run_at DateTime('UTC'),
    table_name String,
    action String,
    partition String,
    tenant_id String,
    cutoff Date,
    rows UInt64,
    dry_run UInt8,
    error String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(run_at)
ORDER BY (table_name, run_at);
