/*
materialized: incremental
partition_by: event_date
order_by: (tenant_id, event_date, event_name, event_id)
# A tenant's day of one event name is a few thousand rows: with 1024-row marks a funnel or a trend
# of some events reads those, not the 8192-row blocks around them.
index_granularity: 1024
time_column: event_date
# A late copy on day D with an earlier time moves its event from D + 1 to D.
reach_days_after: 1
group: light
retention_days: 180
owner: platform
description: >
  One row per (tenant_id, event_id): the deduplicated, typed events every other model reads.
  Copies of an event (redelivered batches, client resends with a re-corrected time) are folded
  into the copy with the earliest event_time, ties broken by the earliest received_at; all columns
  come from that one copy. Like the Api's query-time dedupe (docs/events.md), raw_events is read
  over the window widened by one day on both sides and an event is kept in the day of its
  earliest time only, so adjacent windows never both hold it. actor_id is user_id when it is
  non-empty, else anonymous_id. Not carried over: event_time_ms, sent_at, user_agent,
  schema_version, inserted_at.
block_dependents_on_test_failure: true
tests:
  - not_null: [tenant_id, event_id, event_name, event_time]
  - unique: { columns: [tenant_id, event_id], per: event_date }
  - accepted_values: { column: event_type, values: [track, page, screen, identify, group, alias] }
*/
SELECT
    tenant_id,
    event_id,
    first_copy.1 AS event_type,
    first_copy.2 AS event_name,
    first_copy.3 AS event_version,
    first_copy.4 AS user_id,
    first_copy.5 AS anonymous_id,
    if(first_copy.4 != '', first_copy.4, first_copy.5) AS actor_id,
    first_copy.6 AS session_id,
    first_time AS event_time,
    toDate(first_time) AS event_date,
    first_copy.7 AS received_at,
    first_copy.8 AS original_time,
    first_copy.9 AS properties,
    first_copy.10 AS context,
    first_copy.11 AS app_version,
    first_copy.12 AS os,
    first_copy.13 AS device,
    first_copy.14 AS locale,
    first_copy.15 AS timezone,
    first_copy.16 AS country,
    first_copy.17 AS library,
    first_copy.18 AS page,
    first_copy.19 AS traits,
    first_copy.20 AS previous_id,
    first_copy.21 AS group_id
FROM
(
    -- One tuple per event: the copy with the earliest (event_time, received_at). The inner names
    -- differ from raw_events' columns so no alias shadows a column on any ClickHouse analyzer.
    SELECT
        tenant_id,
        event_id,
        min(event_time) AS first_time,
        argMin(
            (event_type, event_name, event_version, user_id, anonymous_id, session_id, received_at,
             original_time, properties, context, app_version, os, device, locale, timezone, country,
             library, page, traits, previous_id, group_id),
            (event_time, received_at)) AS first_copy
    FROM {{ source('raw', 'raw_events') }}
    -- greatest(): the full build's window starts at the epoch, and a DateTime before it is
    -- undefined on 18.16; the day widened in is one after the epoch at the earliest.
    WHERE event_time >= greatest({{ window_start }}, toDateTime(86400, 'UTC')) - INTERVAL 1 DAY
      AND event_time < {{ window_end }} + INTERVAL 1 DAY
    GROUP BY tenant_id, event_id
    HAVING first_time >= {{ window_start }} AND first_time < {{ window_end }}
)
