/*
materialized: incremental
partition_by: day
order_by: (tenant_id, day, event_name)
# A tenant's day is a few dozen rows with actor sets: small marks keep other tenants' sets unread.
index_granularity: 256
time_column: day
group: heavy
retention_days: 730
owner: platform
description: >
  Events per tenant, day and event name, from the deduplicated stg_events: the narrow rollup that
  answers the most common trend (counts or users of some events per day or week, no breakdown) by
  reading a few rows per day instead of rollup_events_daily's thousands. actors is the day's set of
  distinct actors as sorted 64-bit hashes (cityHash64(actor_id)): the distinct actors of any set of
  rows is uniqExactArray(actors), which 18.16 computes far faster than merging uniqExact states.
  Two actors only count as one if their 64-bit hashes collide (about 3 in 100 million at a million
  actors per tenant). Whole days are rebuilt and swapped in, never added to.
tests:
  - not_null: [tenant_id, day, event_name]
  - unique: { columns: [tenant_id, day, event_name], per: day }
  - sql: { name: actors_within_events, query: "SELECT * FROM {{ this }} WHERE length(actors) < 1 OR length(actors) > events" }
*/
SELECT
    tenant_id,
    event_date AS day,
    event_name,
    count() AS events,
    arraySort(groupUniqArray(cityHash64(actor_id))) AS actors
FROM {{ ref('stg_events') }}
WHERE event_date >= {{ window_start_date }} AND event_date < {{ window_end_date }}
GROUP BY tenant_id, event_date, event_name
