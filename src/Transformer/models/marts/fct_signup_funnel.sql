/*
materialized: table
order_by: (tenant_id, cohort_date, actor_id)
group: heavy
owner: product-analytics
description: >
  The signup funnel, one row per (tenant_id, actor_id) that viewed the signup page, from the
  deduplicated stg_events. The event names are the platform's convention (there is no other
  source): step 1, viewed_at = the actor's first `page` call on the signup page: its page column
  (context.page.url or path) has the path /signup or /signup/ (query string and fragment ignored),
  or its properties.path is '/signup'; step 2, submitted_at = the first `track` event named
  signup_submitted at or after viewed_at; step 3, completed_at = the first `track` event named
  signup_completed at or after submitted_at. A step not reached has the time toDateTime(0) and
  its reached_ flag 0 (step 3 is never reached without step 2). cohort_date = toDate(viewed_at).
  The actor is actor_id (user_id, else anonymous_id): a visitor who signs up under a new user_id
  is not followed across the identity change.
tests:
  - not_null: [tenant_id, actor_id, cohort_date]
  - unique: { columns: [tenant_id, actor_id] }
  - sql: { name: steps_in_order, query: "SELECT * FROM {{ this }} WHERE reached_completed > reached_submitted OR (reached_submitted = 1 AND submitted_at < viewed_at) OR (reached_completed = 1 AND completed_at < submitted_at)" }
*/
SELECT
    tenant_id,
    actor_id,
    viewed_at,
    submitted_at,
    if(reached_submitted = 1, arraySort(arrayFilter(t -> t >= submitted_at, completed_times))[1], toDateTime(0, 'UTC')) AS completed_at,
    reached_submitted,
    toUInt8(reached_submitted = 1 AND notEmpty(arrayFilter(t -> t >= submitted_at, completed_times))) AS reached_completed,
    toDate(viewed_at) AS cohort_date
FROM
(
    SELECT
        tenant_id,
        actor_id,
        viewed_at,
        completed_times,
        -- arraySort(...)[1] of an empty array is the zero DateTime, toDateTime(0).
        arraySort(arrayFilter(t -> t >= viewed_at, submitted_times))[1] AS submitted_at,
        toUInt8(notEmpty(arrayFilter(t -> t >= viewed_at, submitted_times))) AS reached_submitted
    FROM
    (
        SELECT
            tenant_id,
            actor_id,
            minIf(event_time, is_signup_view = 1) AS viewed_at,
            groupArrayIf(event_time, event_type = 'track' AND event_name = 'signup_submitted') AS submitted_times,
            groupArrayIf(event_time, event_type = 'track' AND event_name = 'signup_completed') AS completed_times
        FROM
        (
            SELECT
                tenant_id,
                actor_id,
                event_type,
                event_name,
                event_time,
                toUInt8(event_type = 'page' AND (
                    path(if(position(page, '://') > 0, page, concat('http://host', page))) IN ('/signup', '/signup/')
                    OR visitParamExtractString(properties, 'path') = '/signup')) AS is_signup_view
            FROM {{ ref('stg_events') }}
            WHERE actor_id != ''
              AND (event_type = 'page' OR event_name IN ('signup_submitted', 'signup_completed'))
        )
        GROUP BY tenant_id, actor_id
        HAVING max(is_signup_view) = 1
    )
)
