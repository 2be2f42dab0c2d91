/*
materialized: table
order_by: (tenant_id, account_id)
group: light
owner: product-analytics
description: >
  One row per current product account (the CDC bridge's cdc_accounts_current: deleted accounts are
  gone), with its plan and seats and mrr_cents, the sum of its active subscriptions' mrr_cents (0
  without one). Nullable replicated columns become '' or 0. Rebuilt every minute, so a plan change in
  PostgreSQL reaches it within about a minute of the bridge applying it.
tests:
  - not_null: [tenant_id]
  - unique: { columns: [tenant_id, account_id] }
  - sql: { name: no_negative_mrr, query: "SELECT * FROM {{ this }} WHERE mrr_cents < 0 OR seats < 0" }
*/
SELECT tenant_id, account_id, name, plan, seats, mrr_cents, created_at
FROM
(
    SELECT
        tenant_id,
        id AS account_id,
        ifNull(name, '') AS name,
        ifNull(plan, '') AS plan,
        toInt32(ifNull(seats, 0)) AS seats,
        ifNull(created_at, toDateTime(0, 'UTC')) AS created_at
    FROM {{ source('cdc', 'cdc_accounts_current') }}
)
ANY LEFT JOIN
(
    SELECT tenant_id, assumeNotNull(account_id) AS account_id, toInt64(sum(ifNull(mrr_cents, 0))) AS mrr_cents
    FROM {{ source('cdc', 'cdc_subscriptions_current') }}
    WHERE status = 'active' AND isNotNull(account_id)
    GROUP BY tenant_id, account_id
) USING (tenant_id, account_id)
