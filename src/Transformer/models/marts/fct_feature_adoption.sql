/*
materialized: table
order_by: (tenant_id, feature, cohort_week)
group: heavy
owner: product-analytics
description: >
  Feature adoption by weekly cohort, from the deduplicated stg_events. A feature is any `track`
  event name (every one is taken as a feature; there is no separate list). An actor's cohort_week
  is toMonday of its first-seen day (earliest event_date, any event type); cohort_users counts
  the cohort's actors; adopters counts those of them who sent the feature's event at least once,
  at any time; adoption_rate = adopters / cohort_users. Every feature the tenant has is paired
  with every cohort week of that tenant, so a cohort nobody of which used a feature has a row
  with 0 adopters.
tests:
  - not_null: [tenant_id, feature, cohort_week]
  - unique: { columns: [tenant_id, feature, cohort_week] }
  - sql: { name: rate_is_a_fraction, query: "SELECT * FROM {{ this }} WHERE adopters > cohort_users OR cohort_users = 0 OR adoption_rate < 0 OR adoption_rate > 1" }
*/
SELECT
    tenant_id,
    feature,
    cohort_week,
    cohort_users,
    adopter_count AS adopters,
    adopter_count / cohort_users AS adoption_rate
FROM
(
    -- Every (cohort week, feature) of a tenant.
    SELECT tenant_id, cohort_week, cohort_users, feature
    FROM
    (
        SELECT tenant_id, cohort_week, count() AS cohort_users
        FROM
        (
            SELECT tenant_id, actor_id, toMonday(min(event_date)) AS cohort_week
            FROM {{ ref('stg_events') }}
            WHERE actor_id != ''
            GROUP BY tenant_id, actor_id
        )
        GROUP BY tenant_id, cohort_week
    )
    ALL INNER JOIN
    (
        SELECT DISTINCT tenant_id, event_name AS feature
        FROM {{ ref('stg_events') }}
        WHERE event_type = 'track' AND actor_id != ''
    )
    USING tenant_id
)
ANY LEFT JOIN
(
    -- Adopters per (cohort week, feature): each actor once per feature it used.
    SELECT tenant_id, cohort_week, feature, count() AS adopter_count
    FROM
    (
        SELECT
            tenant_id,
            actor_id,
            toMonday(min(event_date)) AS cohort_week,
            groupUniqArrayIf(event_name, event_type = 'track') AS used_features
        FROM {{ ref('stg_events') }}
        WHERE actor_id != ''
        GROUP BY tenant_id, actor_id
    )
    ARRAY JOIN used_features AS feature
    GROUP BY tenant_id, cohort_week, feature
)
USING (tenant_id, cohort_week, feature)
