-- name: export_spike
-- description: Actors with at least min_exports data exports inside any sliding window of
--   window_minutes (start inclusive, end exclusive). Overlapping windows of one actor merge into
--   one alert; the tokens used are listed in the summary.
-- param: window_minutes INTEGER = 10 -- length of the sliding window in minutes
-- param: min_exports INTEGER = 10 -- exports by one actor that make a spike
WITH exports AS (
    SELECT ts, actor_id, client_ip, tenant_id, token_id, source_file, source_record
    FROM audit_events
    WHERE event LIKE 'data.export%' AND actor_id IS NOT NULL
),
windowed AS (
    SELECT
        *,
        count(*) OVER (
            PARTITION BY actor_id ORDER BY ts
            RANGE BETWEEN CURRENT ROW
                AND (to_minutes(CAST($window_minutes AS BIGINT)) - INTERVAL 1 MICROSECOND) FOLLOWING
        ) AS in_window
    FROM exports
),
covered AS (
    SELECT
        *,
        max(CASE WHEN in_window >= $min_exports THEN ts END) OVER (
            PARTITION BY actor_id ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
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
            PARTITION BY actor_id ORDER BY ts, source_file, source_record
        ) AS episode
    FROM (
        SELECT
            *,
            CASE
                WHEN lag(ts) OVER (PARTITION BY actor_id ORDER BY ts, source_file, source_record)
                    > ts - to_minutes(CAST($window_minutes AS BIGINT)) THEN 0
                ELSE 1
            END AS new_episode
        FROM members
    )
)
SELECT
    'export_spike' AS detection,
    'high' AS severity,
    actor_id,
    CASE WHEN count(DISTINCT client_ip) = 1 THEN any_value(client_ip) END AS client_ip,
    CASE WHEN count(DISTINCT tenant_id) = 1 THEN any_value(tenant_id) END AS tenant_id,
    min(ts) AS window_start,
    max(ts) AS window_end,
    count(*) AS event_count,
    format(
        '{} exports by {} from {} address(es) with token(s) {}',
        count(*), actor_id, count(DISTINCT client_ip),
        coalesce(string_agg(DISTINCT token_id, ', ' ORDER BY token_id), 'none')
    ) AS summary,
    list(
        {'table': 'audit_events', 'source_file': source_file, 'source_record': source_record}
        ORDER BY ts, source_file, source_record
    ) AS evidence
FROM episodes
GROUP BY actor_id, episode
ORDER BY window_start, actor_id
