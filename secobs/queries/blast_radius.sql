-- name: blast_radius
-- description: Every span reachable from a trace, an actor or a token through parent/child
--   links, with the services, routes, tenants and data exports touched. A trace seeds all of its
--   spans (or only span_id when given); an actor or token seeds the spans that carry it and the spans named by its audit events,
--   then the walk adds their descendants and ancestors. The walk ends on self-parents and cycles.
-- param: trace_id TRACE_ID = NULL -- a trace to start from
-- param: span_id SPAN_ID = NULL -- start from this span only (within trace_id when both are given)
-- param: actor_id VARCHAR = NULL -- an actor to start from
-- param: token_id VARCHAR = NULL -- a (hashed) token id to start from
-- require_any: trace_id span_id actor_id token_id
WITH RECURSIVE
links AS (
    SELECT trace_id, span_id, parent_span_id
    FROM spans
    WHERE parent_span_id IS NOT NULL AND parent_span_id <> span_id
),
seeds AS (
    SELECT trace_id, span_id
    FROM spans
    WHERE (trace_id = $trace_id OR $trace_id IS NULL) AND (span_id = $span_id OR $span_id IS NULL)
        AND coalesce($trace_id, $span_id) IS NOT NULL
    UNION
    SELECT trace_id, span_id
    FROM spans
    WHERE enduser_id = $actor_id
        OR json_extract_string(attributes, '$."security.token_id"') = $token_id
    UNION
    SELECT s.trace_id, s.span_id
    FROM audit_events AS a
    JOIN spans AS s ON s.trace_id = a.trace_id AND s.span_id = a.span_id
    WHERE a.actor_id = $actor_id OR a.token_id = $token_id
),
descendants(trace_id, span_id) AS (
    SELECT trace_id, span_id FROM seeds
    UNION
    SELECT l.trace_id, l.span_id
    FROM descendants AS d
    JOIN links AS l ON l.trace_id = d.trace_id AND l.parent_span_id = d.span_id
),
ancestors(trace_id, span_id) AS (
    SELECT trace_id, span_id FROM seeds
    UNION
    SELECT l.trace_id, l.parent_span_id
    FROM ancestors AS a
    JOIN links AS l ON l.trace_id = a.trace_id AND l.span_id = a.span_id
),
reached AS (
    SELECT trace_id, span_id, min(step) AS step
    FROM (
        SELECT trace_id, span_id, 0 AS step FROM seeds
        UNION ALL
        SELECT trace_id, span_id, 1 FROM descendants
        UNION ALL
        SELECT trace_id, span_id, 2 FROM ancestors
    )
    GROUP BY trace_id, span_id
),
-- Walk up from each reached span to find cycles; the path list stops the walk at a repeat.
upward(trace_id, origin, current, path) AS (
    SELECT r.trace_id, r.span_id, l.parent_span_id, [r.span_id]
    FROM reached AS r
    JOIN links AS l ON l.trace_id = r.trace_id AND l.span_id = r.span_id
    UNION ALL
    SELECT u.trace_id, u.origin, l.parent_span_id, list_append(u.path, u.current)
    FROM upward AS u
    JOIN links AS l ON l.trace_id = u.trace_id AND l.span_id = u.current
    WHERE NOT list_contains(u.path, u.current)
),
depths AS (
    SELECT
        u.trace_id, u.origin AS span_id,
        count(DISTINCT u.current) FILTER (WHERE p.span_id IS NOT NULL) AS depth,
        bool_or(u.current = u.origin) AS in_cycle
    FROM upward AS u
    LEFT JOIN spans AS p ON p.trace_id = u.trace_id AND p.span_id = u.current
    GROUP BY u.trace_id, u.origin
)
SELECT
    s.trace_id, s.span_id, s.parent_span_id,
    ['seed', 'descendant', 'ancestor'][r.step + 1] AS relation,
    CASE WHEN coalesce(d.in_cycle, false) THEN NULL ELSE coalesce(d.depth, 0) END AS depth,
    s.service, s.name, s.kind, s.http_route, s.http_status_code, s.tenant_id, s.enduser_id,
    json_extract_string(s.attributes, '$."security.token_id"') AS token_id,
    -- An export is a span on an export route, or one whose name has "export" as a word.
    coalesce(
        s.http_route LIKE '%/export%'
            OR regexp_matches(lower(s.name), '(^|[ /])export([._/ ]|$)'),
        false
    ) AS is_export,
    s.start_ts, s.duration_ms,
    [flag FOR flag IN [
        CASE WHEN s.parent_span_id = s.span_id THEN 'self_parent' END,
        CASE WHEN s.parent_span_id IS NOT NULL AND s.parent_span_id <> s.span_id
            AND NOT EXISTS (
                SELECT 1 FROM spans AS p
                WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
            ) THEN 'orphan' END,
        CASE WHEN coalesce(d.in_cycle, false) THEN 'parent_cycle' END
    ] IF flag IS NOT NULL] AS flags,
    s.source_file, s.source_record
FROM reached AS r
JOIN spans AS s ON s.trace_id = r.trace_id AND s.span_id = r.span_id
LEFT JOIN depths AS d ON d.trace_id = r.trace_id AND d.span_id = r.span_id
ORDER BY s.trace_id, s.start_ns NULLS LAST, s.span_id
