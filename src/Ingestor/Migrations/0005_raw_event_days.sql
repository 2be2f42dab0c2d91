-- When each tenant's event days last received rows: the newest inserted_at per (tenant, event day),
-- kept by a materialized view on every insert into raw_events. The Api asks it which days have rows
-- a model build has not seen (late or re-sent events), a few hundred rows per tenant instead of a
-- scan of raw_events on every cache miss. Merges keep one row per day, and readers take max() anyway.
CREATE TABLE IF NOT EXISTS {database}.raw_event_days
(
    tenant_id String,
    event_date Date,
    last_inserted_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(last_inserted_at)
PARTITION BY toYYYYMM(event_date)
ORDER BY (tenant_id, event_date);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.raw_event_days_mv TO {database}.raw_event_days
AS SELECT tenant_id, toDate(event_time) AS event_date, max(inserted_at) AS last_inserted_at
FROM {database}.raw_events
GROUP BY tenant_id, event_date;

-- Rows inserted before the view existed. One inserted while both run is counted twice: harmless for a max.
INSERT INTO {database}.raw_event_days
SELECT tenant_id, toDate(event_time) AS event_date, max(inserted_at) AS last_inserted_at
FROM {database}.raw_events
GROUP BY tenant_id, event_date;
