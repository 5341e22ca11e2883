-- name: privileged_denied_spike
-- description: Actors (or, without an actor, source addresses) denied access at least
--   min_denials times on privileged routes inside any sliding window of window_minutes. A
--   denial is an authz.denied event or a failure with reason missing_role, forbidden or
--   access_denied; privileged routes match the regular expression route_pattern.
-- param: window_minutes INTEGER = 10 -- length of the sliding window in minutes
-- param: min_denials INTEGER = 5 -- denials that make a spike
-- param: route_pattern VARCHAR = (^|/)admin(/|$) -- regular expression for privileged routes
WITH denials AS (
    SELECT
        ts, coalesce(actor_id, client_ip) AS subject, actor_id, client_ip, tenant_id, route,
        source_file, source_record
    FROM audit_events
    WHERE (event = 'authz.denied'
            OR (result = 'failure' AND reason IN ('missing_role', 'forbidden', 'access_denied')))
        AND regexp_matches(coalesce(route, ''), $route_pattern)
        AND coalesce(actor_id, client_ip) IS NOT NULL
),
windowed AS (
    SELECT
        *,
        count(*) OVER (
            PARTITION BY subject ORDER BY ts
            RANGE BETWEEN CURRENT ROW
                AND (to_minutes(CAST($window_minutes AS BIGINT)) - INTERVAL 1 MICROSECOND) FOLLOWING
        ) AS in_window
    FROM denials
),
covered AS (
    SELECT
        *,
        max(CASE WHEN in_window >= $min_denials THEN ts END) OVER (
            PARTITION BY subject ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS spike_start
    FROM windowed
),
members AS (
    SELECT *
    FROM covered
    WHERE ts < spike_start + to_minutes(CAST($window_minutes AS BIGINT))
),
episodes AS (
    SELECT
        *,
        sum(new_episode) OVER (
            PARTITION BY subject ORDER BY ts, source_file, source_record
        ) AS episode
    FROM (
        SELECT
            *,
            CASE
                WHEN lag(ts) OVER (PARTITION BY subject ORDER BY ts, source_file, source_record)
                    > ts - to_minutes(CAST($window_minutes AS BIGINT)) THEN 0
                ELSE 1
            END AS new_episode
        FROM members
    )
)
SELECT
    'privileged_denied_spike' AS detection,
    'medium' AS severity,
    CASE WHEN count(DISTINCT actor_id) = 1 THEN any_value(actor_id) END AS actor_id,
    CASE WHEN count(DISTINCT client_ip) = 1 THEN any_value(client_ip) END AS client_ip,
    CASE WHEN count(DISTINCT tenant_id) = 1 THEN any_value(tenant_id) END AS tenant_id,
    min(ts) AS window_start,
    max(ts) AS window_end,
    count(*) AS event_count,
    format(
        '{} denials on privileged routes ({}) for {}',
        count(*), string_agg(DISTINCT route, ', ' ORDER BY route), subject
    ) AS summary,
    list(
        {'table': 'audit_events', 'source_file': source_file, 'source_record': source_record}
        ORDER BY ts, source_file, source_record
    ) AS evidence
FROM episodes
GROUP BY subject, episode
ORDER BY window_start, subject
