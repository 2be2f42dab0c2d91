/*
materialized: incremental
partition_by: day
order_by: (tenant_id, day, event_name, country, device, os, app_version)
# Rows carry uniqExact states: smaller marks keep a tenant's read off its neighbours' states.
index_granularity: 1024
time_column: day
group: heavy
retention_days: 730
owner: platform
description: >
  Events per tenant, day and breakdown (event_name, country, device, os, app_version), from the
  deduplicated stg_events, so a redelivered copy never adds to a count. events is the number of
  distinct events; users is an exact, mergeable uniqExact state of actor_id: merge it over any set
  of rows (uniqExactMerge) for the distinct users of a breakdown, a day or a range of days.
  Whole days are rebuilt and swapped in, never added to.
tests:
  - not_null: [tenant_id, day, event_name]
  - unique: { columns: [tenant_id, day, event_name, country, device, os, app_version], per: day }
*/
SELECT
    tenant_id,
    event_date AS day,
    event_name,
    country,
    device,
    os,
    app_version,
    count() AS events,
    uniqExactState(actor_id) AS users
FROM {{ ref('stg_events') }}
WHERE event_date >= {{ window_start_date }} AND event_date < {{ window_end_date }}
GROUP BY tenant_id, event_date, event_name, country, device, os, app_version
