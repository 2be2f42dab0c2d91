/*
materialized: incremental
time_column: day
# A day's actors count towards the MAU of the 29 days after it.
reach_days_after: 29
order_by: (tenant_id, day)
group: heavy
retention_days: 730
owner: platform
description: >
  Daily, weekly and monthly active users per tenant: for every tenant and day that has its own
  row in rollup_active_users_daily (a day with at least one active actor), dau = distinct actors
  that day, wau = distinct actors over the 7 days ending that day (inclusive), mau = over the 30
  days ending that day. Days without activity are not emitted, even when their WAU/MAU would be
  non-zero. Each rollup row is fanned out to the 30 days it counts towards (offset 0..29) and the
  exact uniqExact states are merged, so the numbers are exact, not estimates. A table, rebuilt
  for the days of its window from the 29 rollup days before them, so reading DAU/WAU/MAU costs
  nothing at query time. A backfill of the rollup over days D1..D2 changes WAU/MAU up to D2 + 29:
  backfill this model over D1..D2 + 29 days too.
tests:
  - not_null: [tenant_id, day]
  - unique: { columns: [tenant_id, day] }
  - sql: { name: dau_le_wau_le_mau, query: "SELECT * FROM {{ this }} WHERE NOT (dau >= 1 AND dau <= wau AND wau <= mau)" }
*/
SELECT
    tenant_id,
    active_day AS day,
    dau,
    wau,
    mau
FROM
(
    SELECT
        tenant_id,
        day + day_offset AS active_day,
        uniqExactMergeIf(users, day_offset = 0) AS dau,
        uniqExactMergeIf(users, day_offset < 7) AS wau,
        uniqExactMerge(users) AS mau
    FROM {{ ref('rollup_active_users_daily') }}
    ARRAY JOIN range(30) AS day_offset
    -- day + 29 rather than window_start_date - 29: a Date before the epoch wraps on 18.16.
    WHERE day + 29 >= {{ window_start_date }} AND day < {{ window_end_date }}
    GROUP BY tenant_id, active_day
    HAVING dau > 0 AND active_day >= {{ window_start_date }} AND active_day < {{ window_end_date }}
)
