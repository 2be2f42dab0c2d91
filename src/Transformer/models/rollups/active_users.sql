/*
materialized: view
group: heavy
owner: platform
description: >
  Daily, weekly and monthly active users per tenant: for every tenant and day that has its own
  row in rollup_active_users_daily (a day with at least one active actor), dau = distinct actors
  that day, wau = distinct actors over the 7 days ending that day (inclusive), mau = over the 30
  days ending that day. Days without activity are not emitted, even when their WAU/MAU would be
  non-zero. Each rollup row is fanned out to the 30 days it counts towards (offset 0..29) and the
  exact uniqExact states are merged, so the numbers are exact, not estimates.
tests:
  - not_null: [tenant_id, day]
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
    GROUP BY tenant_id, active_day
    HAVING dau > 0
)
ORDER BY tenant_id, day
