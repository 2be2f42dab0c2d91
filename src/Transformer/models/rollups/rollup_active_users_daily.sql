/*
materialized: incremental
partition_by: day
order_by: (tenant_id, day)
# One row per tenant and day, each with the day's actor set: small marks let a tenant's read skip
# the other tenants' sets instead of decompressing a whole day of them.
index_granularity: 16
time_column: day
group: heavy
retention_days: 730
owner: platform
description: >
  One row per tenant and day with activity: users is the exact, mergeable set of the day's active
  actors (uniqExactState of actor_id, events with a non-empty actor_id only). DAU is the merge of
  one day's row, WAU/MAU the merge of the trailing 7/30 days' rows (see active_users). actors is
  the same set as sorted 64-bit hashes (cityHash64(actor_id), as in rollup_event_names_daily): the
  Api's user trends and retention returns read a day's actors from here instead of its events or its
  event names' sets, and 18.16 handles such arrays far faster than uniqExact states. Rebuilt from
  the deduplicated stg_events for whole days.
tests:
  - not_null: [tenant_id, day]
  - unique: { columns: [tenant_id, day], per: day }
  - sql: { name: actors_match_users, query: "SELECT * FROM {{ this }} WHERE length(actors) != finalizeAggregation(users)" }
*/
SELECT
    tenant_id,
    event_date AS day,
    uniqExactState(actor_id) AS users,
    arraySort(groupUniqArray(cityHash64(actor_id))) AS actors
FROM {{ ref('stg_events') }}
WHERE event_date >= {{ window_start_date }} AND event_date < {{ window_end_date }}
  AND actor_id != ''
GROUP BY tenant_id, event_date
