/*
materialized: incremental
partition_by: session_date
order_by: (tenant_id, session_date, session_id)
time_column: session_date
# An event on D can extend the session that began on D - 1, or join the one that begins on D + 1 to its own day.
reach_days_before: 1
reach_days_after: 1
group: heavy
retention_days: 730
owner: product-analytics
description: >
  One row per session, from the deduplicated stg_events (every event type counts). Events that
  carry a client session_id form one session per (tenant_id, session_id). Events without one are
  sessionized per (tenant_id, actor_id): a new session starts when the gap to the actor's previous
  such event is more than 30 minutes (exactly 30 minutes stays in the session); its id is
  'gap-<actor_id>-<unix seconds of its start>', stable across rebuilds. A session belongs to the
  day it starts (session_date), also when it runs past midnight. actor_id, country and device are
  those of the session's first event; entry_event/exit_event are the names of its first and last
  events. Events of one second are ordered by event_id. The window's sessions are computed from
  events read from one day before it to one day after it, so a session starting in the window sees
  the events before it and runs on past the window's end; a session-less chain of events, or a
  client session, running longer than that day is cut at the read's edge. duration_seconds = ended_at - started_at.
tests:
  - not_null: [tenant_id, session_id, actor_id, session_date]
  - unique: { columns: [tenant_id, session_id], per: session_date }
*/
SELECT
    tenant_id,
    session_key AS session_id,
    session_actor AS actor_id,
    toDate(session_start) AS session_date,
    session_start AS started_at,
    session_end AS ended_at,
    toUInt32(toUInt32(session_end) - toUInt32(session_start)) AS duration_seconds,
    session_events AS events,
    entry_name AS entry_event,
    exit_name AS exit_event,
    first_country AS country,
    first_device AS device
FROM
(
    -- Sessions the client named: one per (tenant, session_id).
    SELECT
        tenant_id,
        session_id AS session_key,
        first_event.1 AS session_actor,
        min(event_time) AS session_start,
        max(event_time) AS session_end,
        count() AS session_events,
        first_event.2 AS entry_name,
        argMax(event_name, (event_time, event_id)) AS exit_name,
        first_event.3 AS first_country,
        first_event.4 AS first_device,
        argMin((actor_id, event_name, country, device), (event_time, event_id)) AS first_event
    FROM {{ ref('stg_events') }}
    WHERE event_date >= toDate(greatest({{ window_start }}, toDateTime(86400, 'UTC')) - INTERVAL 1 DAY) AND event_date <= {{ window_end_date }}
      AND session_id != ''
    GROUP BY tenant_id, session_id

    UNION ALL

    -- Sessions cut from each actor's session-less events by the 30-minute inactivity gap.
    SELECT
        tenant_id,
        concat('gap-', gap_actor, '-', toString(toUnixTimestamp(min(gap_event.1)))) AS session_key,
        first_event.1 AS session_actor,
        min(gap_event.1) AS session_start,
        max(gap_event.1) AS session_end,
        count() AS session_events,
        first_event.2 AS entry_name,
        argMax(gap_event.3, (gap_event.1, gap_event.2)) AS exit_name,
        first_event.3 AS first_country,
        first_event.4 AS first_device,
        argMin((gap_actor, gap_event.3, gap_event.4, gap_event.5), (gap_event.1, gap_event.2)) AS first_event
    FROM
    (
        SELECT
            tenant_id,
            gap_actor,
            actor_events,
            -- 1 where an event opens a session (the first, or > 1800 s after the previous), summed
            -- into each event's session number.
            arrayCumSum(arrayMap(
                (gap, position) -> toUInt32(position = 1 OR gap > 1800),
                arrayDifference(arrayMap(e -> toInt64(toUInt32(e.1)), actor_events)),
                arrayEnumerate(actor_events))) AS session_numbers
        FROM
        (
            SELECT
                tenant_id,
                actor_id AS gap_actor,
                arraySort(groupArray((event_time, event_id, event_name, country, device))) AS actor_events
            FROM {{ ref('stg_events') }}
            WHERE event_date >= toDate(greatest({{ window_start }}, toDateTime(86400, 'UTC')) - INTERVAL 1 DAY) AND event_date <= {{ window_end_date }}
              AND session_id = '' AND actor_id != ''
            GROUP BY tenant_id, actor_id
        )
    )
    ARRAY JOIN actor_events AS gap_event, session_numbers AS session_number
    GROUP BY tenant_id, gap_actor, session_number
)
WHERE session_start >= {{ window_start }} AND session_start < {{ window_end }}
