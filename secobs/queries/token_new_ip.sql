-- name: token_new_ip
-- description: A (hashed) token used from an address that neither the token nor its actor used
--   before, after at least min_prior_uses uses from other addresses. One alert per token and
--   new address; the evidence is every use of the token from that address.
-- param: min_prior_uses INTEGER = 1 -- earlier uses of the token that establish its addresses
WITH uses AS (
    SELECT ts, token_id, actor_id, client_ip, tenant_id, event, source_file, source_record
    FROM audit_events
    WHERE token_id IS NOT NULL AND client_ip IS NOT NULL
),
ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY token_id ORDER BY ts, source_file, source_record
        ) - 1 AS prior_uses,
        min(ts) OVER (PARTITION BY token_id, client_ip) AS first_from_ip
    FROM uses
),
actor_addresses AS (
    SELECT actor_id, client_ip, min(ts) AS first_ts
    FROM audit_events
    WHERE actor_id IS NOT NULL AND client_ip IS NOT NULL
    GROUP BY actor_id, client_ip
),
firsts AS (
    SELECT r.*
    FROM ranked AS r
    LEFT JOIN actor_addresses AS a ON a.actor_id = r.actor_id AND a.client_ip = r.client_ip
    WHERE r.ts = r.first_from_ip AND r.prior_uses >= $min_prior_uses
        AND (a.first_ts IS NULL OR a.first_ts >= r.ts)
    QUALIFY row_number() OVER (
        PARTITION BY r.token_id, r.client_ip ORDER BY r.source_file, r.source_record
    ) = 1
)
SELECT
    'token_new_ip' AS detection,
    'high' AS severity,
    CASE WHEN count(DISTINCT u.actor_id) = 1 THEN any_value(u.actor_id) END AS actor_id,
    f.client_ip,
    CASE WHEN count(DISTINCT u.tenant_id) = 1 THEN any_value(u.tenant_id) END AS tenant_id,
    min(u.ts) AS window_start,
    max(u.ts) AS window_end,
    count(*) AS event_count,
    format(
        'token {} used {} time(s) from new address {} after {} use(s) elsewhere',
        f.token_id, count(*), f.client_ip, any_value(f.prior_uses)
    ) AS summary,
    list(
        {'table': 'audit_events', 'source_file': u.source_file, 'source_record': u.source_record}
        ORDER BY u.ts, u.source_file, u.source_record
    ) AS evidence
FROM firsts AS f
JOIN uses AS u ON u.token_id = f.token_id AND u.client_ip = f.client_ip
GROUP BY f.token_id, f.client_ip
ORDER BY window_start, f.token_id
