/*
materialized: incremental
partition_by: first_seen
order_by: (tenant_id, first_seen, actor_id)
time_column: first_seen
group: heavy
retention_days: 730
owner: platform
description: >
  One row per tenant and actor, in the day of the actor's first event in stg_events (events with a
  non-empty actor_id): first_time is that event's time. Retention by first-seen cohorts reads a
  tenant's few rows here instead of its whole event history. A build of days D1..D2 looks at all of
  stg_events for the actors active in them, and keeps those first seen in D1..D2. A late event older
  than an actor's row adds an earlier row without removing the later one until that day is rebuilt,
  so readers take min(first_time) per actor.
tests:
  - not_null: [tenant_id, actor_id, first_seen]
  - sql: { name: first_time_in_first_seen_day, query: "SELECT * FROM {{ this }} WHERE toDate(first_time) != first_seen" }
*/
SELECT
    tenant_id,
    actor_id,
    min(event_date) AS first_seen,
    min(event_time) AS first_time
FROM {{ ref('stg_events') }}
WHERE actor_id != ''
  AND (tenant_id, actor_id) IN
  (
      SELECT tenant_id, actor_id
      FROM {{ ref('stg_events') }}
      WHERE event_date >= {{ window_start_date }} AND event_date < {{ window_end_date }} AND actor_id != ''
  )
GROUP BY tenant_id, actor_id
HAVING first_seen >= {{ window_start_date }} AND first_seen < {{ window_end_date }}
