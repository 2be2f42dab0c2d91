/*
materialized: table
order_by: (tenant_id, cohort_grain, cohort, period)
group: heavy
owner: product-analytics
description: >
  Cohort retention per tenant, from the deduplicated stg_events (events with a non-empty actor_id,
  any event type). An actor's first_seen is its earliest event_date. cohort_grain 'day': cohort =
  first_seen, period = days since it; cohort_grain 'week': cohort = toMonday(first_seen), period =
  Monday-to-Sunday weeks since that week. users = distinct actors of the cohort active in the
  period; cohort_users = the cohort's size (equal to users of period 0). Periods nobody of the
  cohort was active in have no row (read them as 0 users).
tests:
  - not_null: [tenant_id, cohort_grain, cohort]
  - accepted_values: { column: cohort_grain, values: [day, week] }
  - sql: { name: users_within_cohort, query: "SELECT * FROM {{ this }} WHERE users > cohort_users OR users = 0 OR (period = 0 AND users != cohort_users)" }
*/
SELECT
    tenant_id,
    grain AS cohort_grain,
    cohort_start AS cohort,
    period,
    users,
    cohort_users
FROM
(
    -- Per cohort: its size, and how many of its actors were active in each period (sumMap of one
    -- per actor and period, over each actor's distinct periods).
    SELECT
        tenant_id,
        grain,
        cohort_start,
        count() AS cohort_users,
        sumMap(actor_periods, arrayMap(p -> toUInt64(1), actor_periods)) AS users_by_period
    FROM
    (
        SELECT
            tenant_id,
            grain,
            if(grain = 'day', first_seen, toMonday(first_seen)) AS cohort_start,
            arrayDistinct(arrayMap(
                d -> toUInt32(if(grain = 'day',
                    toRelativeDayNum(d) - toRelativeDayNum(first_seen),
                    toRelativeWeekNum(d) - toRelativeWeekNum(first_seen))),
                active_days)) AS actor_periods
        FROM
        (
            SELECT
                tenant_id,
                actor_id,
                min(event_date) AS first_seen,
                groupUniqArray(event_date) AS active_days
            FROM {{ ref('stg_events') }}
            WHERE actor_id != ''
            GROUP BY tenant_id, actor_id
        )
        ARRAY JOIN ['day', 'week'] AS grain
    )
    GROUP BY tenant_id, grain, cohort_start
)
ARRAY JOIN users_by_period.1 AS period, users_by_period.2 AS users
