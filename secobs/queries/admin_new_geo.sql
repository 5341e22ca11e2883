-- name: admin_new_geo
-- description: Admin actions (admin.* events) from a country that the actor was first seen in
--   less than new_geo_hours before, when the actor had at least min_history events elsewhere
--   before that. Reads audit_enriched, whose country comes from the event or, without one, from
--   offline IP geolocation; `secobs detect` creates it. Evidence is the first event from the new
--   country and the admin actions.
-- param: new_geo_hours INTEGER = 24 -- how long a country counts as new for an actor
-- param: min_history INTEGER = 5 -- earlier events of the actor needed to call a country new
WITH located AS (
    SELECT ts, actor_id, tenant_id, client_ip, event, geo_country, source_file, source_record
    FROM audit_enriched
    WHERE actor_id IS NOT NULL AND geo_country IS NOT NULL
),
firsts AS (
    SELECT actor_id, geo_country, ts AS first_ts, source_file, source_record
    FROM located
    QUALIFY row_number() OVER (
        PARTITION BY actor_id, geo_country ORDER BY ts, source_file, source_record
    ) = 1
),
history AS (
    SELECT f.actor_id, f.geo_country, count(l.ts) AS earlier_events
    FROM firsts AS f
    LEFT JOIN located AS l ON l.actor_id = f.actor_id AND l.ts < f.first_ts
    GROUP BY f.actor_id, f.geo_country
),
admin AS (
    SELECT l.*, f.first_ts, f.source_file AS first_file, f.source_record AS first_record
    FROM located AS l
    JOIN firsts AS f ON f.actor_id = l.actor_id AND f.geo_country = l.geo_country
    JOIN history AS h ON h.actor_id = l.actor_id AND h.geo_country = l.geo_country
    WHERE l.event LIKE 'admin.%'
        AND l.ts < f.first_ts + to_hours(CAST($new_geo_hours AS BIGINT))
        AND h.earlier_events >= $min_history
)
SELECT
    'admin_new_geo' AS detection,
    'high' AS severity,
    actor_id,
    CASE WHEN count(DISTINCT client_ip) = 1 THEN any_value(client_ip) END AS client_ip,
    CASE WHEN count(DISTINCT tenant_id) = 1 THEN any_value(tenant_id) END AS tenant_id,
    any_value(first_ts) AS window_start,
    max(ts) AS window_end,
    count(*) AS event_count,
    format(
        '{} admin action(s) by {} from {}, first seen there at {}',
        count(*), actor_id, geo_country, strftime(any_value(first_ts), '%Y-%m-%dT%H:%M:%SZ')
    ) AS summary,
    list_concat(
        [{'table': 'audit_events', 'source_file': any_value(first_file),
            'source_record': any_value(first_record)}],
        coalesce(
            list(
                {'table': 'audit_events', 'source_file': source_file,
                    'source_record': source_record}
                ORDER BY ts, source_file, source_record
            ) FILTER (WHERE source_file <> first_file OR source_record <> first_record),
            []
        )
    ) AS evidence
FROM admin
GROUP BY actor_id, geo_country
ORDER BY window_start, actor_id
