-- name: risky_logins_with_latency
-- description: Logins with a risk score at or above min_risk whose request latency is at or above
--   min_latency_ms. Latency comes from request_metrics joined on request_id, then on trace_id,
--   then from the duration of the trace's root span; joined_on says which.
-- param: min_risk INTEGER = 70 -- lowest risk score (0 to 100) to include
-- param: min_latency_ms DOUBLE = 1000 -- lowest request latency in milliseconds
WITH logins AS (
    SELECT *
    FROM audit_events
    WHERE event LIKE 'auth.login%' AND risk_score >= $min_risk
),
by_request AS (
    SELECT request_id, max(latency_ms) AS latency_ms, max(status_code) AS status_code
    FROM request_metrics
    WHERE request_id IN (SELECT request_id FROM logins)
    GROUP BY request_id
),
by_trace AS (
    SELECT trace_id, max(latency_ms) AS latency_ms, max(status_code) AS status_code
    FROM request_metrics
    WHERE trace_id IN (SELECT trace_id FROM logins)
    GROUP BY trace_id
),
by_root_span AS (
    SELECT trace_id, max(duration_ms) AS latency_ms, max(http_status_code) AS status_code
    FROM spans
    WHERE parent_span_id IS NULL AND trace_id IN (SELECT trace_id FROM logins)
    GROUP BY trace_id
),
measured AS (
    SELECT
        l.ts, l.actor_id, l.tenant_id, l.event, l.result, l.reason, l.client_ip, l.geo_country,
        l.geo_city, l.auth_method, l.mfa, l.risk_score, l.signals, l.request_id, l.trace_id,
        coalesce(r.latency_ms, t.latency_ms, s.latency_ms) AS latency_ms,
        coalesce(r.status_code, t.status_code, s.status_code) AS status_code,
        CASE
            WHEN r.latency_ms IS NOT NULL THEN 'request_id'
            WHEN t.latency_ms IS NOT NULL THEN 'trace_id'
            WHEN s.latency_ms IS NOT NULL THEN 'root_span'
        END AS joined_on,
        l.source_file, l.source_record
    FROM logins AS l
    LEFT JOIN by_request AS r ON r.request_id = l.request_id
    LEFT JOIN by_trace AS t ON t.trace_id = l.trace_id
    LEFT JOIN by_root_span AS s ON s.trace_id = l.trace_id
)
SELECT *
FROM measured
WHERE latency_ms >= $min_latency_ms
ORDER BY risk_score DESC, latency_ms DESC, ts
