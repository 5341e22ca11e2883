-- name: credential_stuffing
-- description: Login attempts that replay leaked credentials from many addresses with one
--   client: inside a sliding window of window_minutes, one user agent tries at least
--   min_accounts distinct accounts from at least min_addresses addresses and at least
--   min_failure_ratio of the attempts fail. Evidence is every attempt in a qualifying window,
--   successes included, since those accounts are compromised.
-- param: window_minutes INTEGER = 30 -- length of the sliding window in minutes
-- param: min_accounts INTEGER = 20 -- distinct accounts tried with one user agent
-- param: min_addresses INTEGER = 5 -- distinct source addresses with that user agent
-- param: min_failure_ratio DOUBLE = 0.8 -- share of failed attempts, 0 to 1
WITH attempts AS (
    SELECT
        ts, client_ip, actor_id, tenant_id, user_agent, result, source_file, source_record,
        CASE WHEN result = 'failure' THEN 1 ELSE 0 END AS failed
    FROM audit_events
    WHERE event LIKE 'auth.login%' AND result IN ('success', 'failure')
        AND user_agent IS NOT NULL AND client_ip IS NOT NULL AND actor_id IS NOT NULL
),
windowed AS (
    SELECT
        *,
        count(*) OVER replay AS tries,
        sum(failed) OVER replay AS failures,
        count(DISTINCT actor_id) OVER replay AS accounts,
        count(DISTINCT client_ip) OVER replay AS addresses
    FROM attempts
    WINDOW replay AS (
        PARTITION BY user_agent ORDER BY ts
        RANGE BETWEEN CURRENT ROW
            AND (to_minutes(CAST($window_minutes AS BIGINT)) - INTERVAL 1 MICROSECOND) FOLLOWING
    )
),
covered AS (
    SELECT
        *,
        max(
            CASE
                WHEN accounts >= $min_accounts AND addresses >= $min_addresses
                    AND failures >= $min_failure_ratio * tries THEN ts
            END
        ) OVER (
            PARTITION BY user_agent ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS replay_start
    FROM windowed
),
members AS (
    SELECT *
    FROM covered
    WHERE ts < replay_start + to_minutes(CAST($window_minutes AS BIGINT))
),
episodes AS (
    SELECT
        *,
        sum(new_episode) OVER (
            PARTITION BY user_agent ORDER BY ts, source_file, source_record
        ) AS episode
    FROM (
        SELECT
            *,
            CASE
                WHEN lag(ts) OVER (PARTITION BY user_agent ORDER BY ts, source_file, source_record)
                    > ts - to_minutes(CAST($window_minutes AS BIGINT)) THEN 0
                ELSE 1
            END AS new_episode
        FROM members
    )
)
SELECT
    'credential_stuffing' AS detection,
    CASE WHEN sum(1 - failed) > 0 THEN 'high' ELSE 'medium' END AS severity,
    CASE WHEN count(DISTINCT actor_id) FILTER (WHERE failed = 0) = 1
        THEN any_value(actor_id) FILTER (WHERE failed = 0) END AS actor_id,
    CASE WHEN count(DISTINCT client_ip) = 1 THEN any_value(client_ip) END AS client_ip,
    CASE WHEN count(DISTINCT tenant_id) = 1 THEN any_value(tenant_id) END AS tenant_id,
    min(ts) AS window_start,
    max(ts) AS window_end,
    count(*) AS event_count,
    format(
        '{} login attempts on {} accounts from {} addresses with user agent {}; {} succeeded',
        count(*), count(DISTINCT actor_id), count(DISTINCT client_ip), user_agent,
        sum(1 - failed)
    ) AS summary,
    list(
        {'table': 'audit_events', 'source_file': source_file, 'source_record': source_record}
        ORDER BY ts, source_file, source_record
    ) AS evidence
FROM episodes
GROUP BY user_agent, episode
ORDER BY window_start, user_agent
