/*
materialized: table
order_by: (tenant_id, user_id)
group: light
owner: product-analytics
description: >
  One row per current product user (cdc_users_current), keyed by user_id, which is the events'
  user_id: the Api joins it to events for the plan, account and account_seats dimensions. plan and
  seats are the user's account's from dim_accounts ('' and 0 when the account is gone); a missing
  signup_at is toDateTime(0), a missing country ''.
tests:
  - not_null: [tenant_id, user_id]
  - unique: { columns: [tenant_id, user_id] }
*/
SELECT tenant_id, user_id, account_id, plan, seats, signup_at, country
FROM
(
    SELECT
        tenant_id,
        id AS user_id,
        ifNull(account_id, toInt64(0)) AS account_id,
        ifNull(signup_at, toDateTime(0, 'UTC')) AS signup_at,
        ifNull(country, '') AS country
    FROM {{ source('cdc', 'cdc_users_current') }}
)
ANY LEFT JOIN
(
    SELECT tenant_id, account_id, plan, seats FROM {{ ref('dim_accounts') }}
) USING (tenant_id, account_id)
