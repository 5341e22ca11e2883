-- name: security_lens
-- description: Audit events with their computed risk, sliced by lowest risk, event kinds, auth
--   method and route. Each filter left NULL is not applied. Reads audit_enriched, which
--   `secobs detect` creates; the risk compared is the higher of the logged and computed scores.
-- param: min_risk INTEGER = NULL -- lowest risk score, 0 to 100
-- param: events VARCHAR = NULL -- comma-separated event kinds; a kind ending in * is a prefix
-- param: auth_method VARCHAR = NULL -- password, session, jwt, api_key, sso, ...
-- param: route VARCHAR = NULL -- route pattern with SQL LIKE wildcards, such as /v1/admin/%
SELECT
    ts, actor_id, tenant_id, event, result, route, auth_method, client_ip, geo_country,
    risk_score, computed_risk_score, computed_signals, trace_id, request_id, source_file,
    source_record
FROM audit_enriched
WHERE ($min_risk IS NULL OR greatest(risk_score, computed_risk_score) >= $min_risk)
    AND ($auth_method IS NULL OR auth_method = $auth_method)
    AND ($route IS NULL OR route LIKE $route)
    AND ($events IS NULL OR EXISTS (
        SELECT 1
        FROM unnest(string_split($events, ',')) AS kinds(kind)
        WHERE CASE
            WHEN ends_with(trim(kind), '*') THEN starts_with(event, rtrim(trim(kind), '*'))
            ELSE event = trim(kind)
        END
    ))
ORDER BY ts, source_file, source_record
