-- name: actor_timeline
-- description: One time-ordered view of an actor's audit events, requests and spans between
--   start (inclusive) and end (exclusive); a missing bound leaves that side open.
-- param: actor_id VARCHAR -- the actor to follow (actor_id in audit events and requests, enduser_id in spans)
-- param: start TIMESTAMPTZ = NULL -- first instant to include, RFC 3339
-- param: end TIMESTAMPTZ = NULL -- instant where the timeline stops, RFC 3339
WITH timeline AS (
    SELECT
        ts, 'audit' AS source, event AS activity, result AS outcome, service, route,
        client_ip, geo_country, risk_score, NULL::DOUBLE AS latency_ms, trace_id, request_id,
        source_file, source_record
    FROM audit_events
    WHERE actor_id = $actor_id
    UNION ALL
    SELECT
        ts, 'request', concat_ws(' ', method, route), CAST(status_code AS VARCHAR), service,
        route, client_ip, NULL, NULL, latency_ms, trace_id, request_id, source_file, source_record
    FROM request_metrics
    WHERE actor_id = $actor_id
    UNION ALL
    SELECT
        start_ts, 'span', name, status_code, service, http_route, NULL, NULL, risk_score,
        duration_ms, trace_id, request_id, source_file, source_record
    FROM spans
    WHERE enduser_id = $actor_id
)
SELECT *
FROM timeline
WHERE ($start IS NULL OR ts >= $start) AND ($end IS NULL OR ts < $end)
ORDER BY ts, source, source_file, source_record
