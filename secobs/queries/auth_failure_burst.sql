-- name: auth_failure_burst
-- description: Source addresses with at least min_failures failed logins inside any sliding
--   window of window_minutes (start inclusive, end exclusive). Overlapping windows of one address
--   merge into one alert whose evidence is every failed login inside a qualifying window.
-- param: window_minutes INTEGER = 5 -- length of the sliding window in minutes
-- param: min_failures INTEGER = 5 -- failed logins from one address that make a burst
WITH failures AS (
    SELECT ts, client_ip, actor_id, tenant_id, source_file, source_record
    FROM audit_events
    WHERE event LIKE 'auth.login%' AND result = 'failure' AND client_ip IS NOT NULL
),
windowed AS (
    SELECT
        *,
        count(*) OVER (
            PARTITION BY client_ip ORDER BY ts
            RANGE BETWEEN CURRENT ROW
                AND (to_minutes(CAST($window_minutes AS BIGINT)) - INTERVAL 1 MICROSECOND) FOLLOWING
        ) AS in_window
    FROM failures
),
covered AS (
    SELECT
        *,
        max(CASE WHEN in_window >= $min_failures THEN ts END) OVER (
            PARTITION BY client_ip ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS burst_start
    FROM windowed
),
members AS (
    SELECT *
    FROM covered
    WHERE ts < burst_start + to_minutes(CAST($window_minutes AS BIGINT))
),
episodes AS (
    SELECT
        *,
        sum(new_episode) OVER (
            PARTITION BY client_ip ORDER BY ts, source_file, source_record
        ) AS episode
    FROM (
        SELECT
            *,
            CASE
                WHEN lag(ts) OVER (PARTITION BY client_ip ORDER BY ts, source_file, source_record)
                    > ts - to_minutes(CAST($window_minutes AS BIGINT)) THEN 0
                ELSE 1
            END AS new_episode
        FROM members
    )
)
SELECT
    'auth_failure_burst' AS detection,
    'medium' AS severity,
    CASE WHEN count(DISTINCT actor_id) = 1 THEN any_value(actor_id) END AS actor_id,
    client_ip,
    CASE WHEN count(DISTINCT tenant_id) = 1 THEN any_value(tenant_id) END AS tenant_id,
    min(ts) AS window_start,
    max(ts) AS window_end,
    count(*) AS event_count,
    format(
        '{} failed logins from {} on {} account(s), at least {} within {} minutes',
        count(*), client_ip, count(DISTINCT actor_id), $min_failures, $window_minutes
    ) AS summary,
    list(
        {'table': 'audit_events', 'source_file': source_file, 'source_record': source_record}
        ORDER BY ts, source_file, source_record
    ) AS evidence
FROM episodes
GROUP BY client_ip, episode
ORDER BY window_start, client_ip
