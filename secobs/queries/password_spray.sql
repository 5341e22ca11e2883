-- name: password_spray
-- description: One source address failing logins on many accounts with few attempts each:
--   at least min_accounts distinct accounts and at most max_attempts_per_account failures per
--   account on average inside a sliding window of window_minutes. Successful logins from the
--   address up to window_minutes after the spray are added to the evidence, since they are the
--   likely guessed passwords.
-- param: window_minutes INTEGER = 60 -- length of the sliding window in minutes
-- param: min_accounts INTEGER = 10 -- distinct accounts failed from one address
-- param: max_attempts_per_account DOUBLE = 3 -- higher averages look like brute force instead
WITH failures AS (
    SELECT ts, client_ip, actor_id, tenant_id, source_file, source_record
    FROM audit_events
    WHERE event LIKE 'auth.login%' AND result = 'failure' AND client_ip IS NOT NULL
        AND actor_id IS NOT NULL
),
windowed AS (
    SELECT
        *,
        count(*) OVER spread AS attempts,
        count(DISTINCT actor_id) OVER spread AS accounts
    FROM failures
    WINDOW spread AS (
        PARTITION BY client_ip ORDER BY ts
        RANGE BETWEEN CURRENT ROW
            AND (to_minutes(CAST($window_minutes AS BIGINT)) - INTERVAL 1 MICROSECOND) FOLLOWING
    )
),
covered AS (
    SELECT
        *,
        max(
            CASE
                WHEN accounts >= $min_accounts
                    AND attempts <= $max_attempts_per_account * accounts THEN ts
            END
        ) OVER (
            PARTITION BY client_ip ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS spray_start
    FROM windowed
),
members AS (
    SELECT *
    FROM covered
    WHERE ts < spray_start + to_minutes(CAST($window_minutes AS BIGINT))
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
),
sprays AS (
    SELECT
        client_ip, episode, min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS attempts,
        count(DISTINCT actor_id) AS accounts, count(DISTINCT tenant_id) AS tenants,
        any_value(tenant_id) AS tenant_id,
        list(
            {'table': 'audit_events', 'source_file': source_file, 'source_record': source_record}
            ORDER BY ts, source_file, source_record
        ) AS evidence
    FROM episodes
    GROUP BY client_ip, episode
),
successes AS (
    SELECT
        s.client_ip, s.episode, count(*) AS successes,
        list(DISTINCT a.actor_id) AS actors,
        list(
            {'table': 'audit_events', 'source_file': a.source_file, 'source_record': a.source_record}
            ORDER BY a.ts, a.source_file, a.source_record
        ) AS evidence,
        max(a.ts) AS last_ts
    FROM sprays AS s
    JOIN audit_events AS a
        ON a.client_ip = s.client_ip
        AND a.event LIKE 'auth.login%' AND a.result = 'success'
        AND a.ts >= s.first_ts
        AND a.ts < s.last_ts + to_minutes(CAST($window_minutes AS BIGINT))
    GROUP BY s.client_ip, s.episode
)
SELECT
    'password_spray' AS detection,
    CASE WHEN coalesce(x.successes, 0) > 0 THEN 'high' ELSE 'medium' END AS severity,
    CASE WHEN len(x.actors) = 1 THEN x.actors[1] END AS actor_id,
    s.client_ip,
    CASE WHEN s.tenants = 1 THEN s.tenant_id END AS tenant_id,
    s.first_ts AS window_start,
    greatest(s.last_ts, x.last_ts) AS window_end,
    s.attempts + coalesce(x.successes, 0) AS event_count,
    format(
        '{} failed logins from {} on {} accounts, then {} successful login(s)',
        s.attempts, s.client_ip, s.accounts, coalesce(x.successes, 0)
    ) AS summary,
    list_concat(s.evidence, coalesce(x.evidence, [])) AS evidence
FROM sprays AS s
LEFT JOIN successes AS x ON x.client_ip = s.client_ip AND x.episode = s.episode
ORDER BY window_start, s.client_ip
