-- name: baseline_anomaly
-- description: Adaptive baselines: per metric, tenant and route, the count in each time bucket
--   of bucket_minutes against the mean and standard deviation of the same series' other
--   buckets (empty buckets count as zero). Metrics are auth_failure, permission_denied, export
--   and admin_action from audit events, and http_4xx and http_5xx on routes matching
--   sensitive_routes from request metrics that have no audit event (those are counted once, as
--   audit events). A bucket is returned when its z-score is at least threshold, its count at
--   least min_count and at least min_ratio times the baseline mean; a NULL threshold returns
--   every bucket. The standard deviation is floored at std_floor, so a flat series never
--   divides by zero.
-- param: bucket_minutes INTEGER = 60 -- bucket length in minutes
-- param: threshold DOUBLE = 3 -- lowest z-score to return, or NULL for every bucket
-- param: min_count INTEGER = 10 -- lowest count in the bucket to return
-- param: min_ratio DOUBLE = 5 -- lowest count as a multiple of the baseline mean
-- param: std_floor DOUBLE = 1 -- smallest standard deviation used, in events per bucket
-- param: sensitive_routes VARCHAR = (^|/)(admin|export|tokens|billing)(/|$) -- regular expression
WITH signals AS (
    SELECT
        CASE
            WHEN event LIKE 'auth.login%' AND result = 'failure' THEN 'auth_failure'
            WHEN event = 'authz.denied'
                OR (result = 'failure' AND reason IN ('missing_role', 'forbidden', 'access_denied'))
                THEN 'permission_denied'
            WHEN event LIKE 'data.export%' THEN 'export'
            WHEN event LIKE 'admin.%' THEN 'admin_action'
        END AS metric,
        ts, tenant_id, route, actor_id, client_ip, 'audit_events' AS source_table,
        source_file, source_record
    FROM audit_events
    UNION ALL
    SELECT
        CASE WHEN status_code >= 500 THEN 'http_5xx' ELSE 'http_4xx' END,
        ts, tenant_id, route, actor_id, client_ip, 'request_metrics', source_file, source_record
    FROM request_metrics
    WHERE status_code >= 400 AND regexp_matches(coalesce(route, ''), $sensitive_routes)
        AND NOT EXISTS (
            SELECT 1 FROM audit_events AS a WHERE a.request_id = request_metrics.request_id
        )
),
bucketed AS (
    SELECT *, time_bucket(to_minutes(CAST($bucket_minutes AS BIGINT)), ts) AS bucket
    FROM signals
    WHERE metric IS NOT NULL AND ts IS NOT NULL
),
counts AS (
    SELECT metric, tenant_id, route, bucket, count(*) AS n
    FROM bucketed
    GROUP BY metric, tenant_id, route, bucket
),
extent AS (
    SELECT
        time_bucket(to_minutes(CAST($bucket_minutes AS BIGINT)), min(ts)) AS first_bucket,
        time_bucket(to_minutes(CAST($bucket_minutes AS BIGINT)), max(ts)) AS last_bucket
    FROM (SELECT ts FROM audit_events UNION ALL SELECT ts FROM request_metrics)
),
grid AS (
    SELECT s.metric, s.tenant_id, s.route, g.bucket
    FROM (SELECT DISTINCT metric, tenant_id, route FROM counts) AS s
    CROSS JOIN (
        SELECT unnest(generate_series(
            first_bucket, last_bucket, to_minutes(CAST($bucket_minutes AS BIGINT))
        )) AS bucket
        FROM extent
    ) AS g
),
filled AS (
    SELECT g.metric, g.tenant_id, g.route, g.bucket, coalesce(c.n, 0) AS n
    FROM grid AS g
    LEFT JOIN counts AS c
        ON c.metric = g.metric AND c.bucket = g.bucket
        AND c.tenant_id IS NOT DISTINCT FROM g.tenant_id
        AND c.route IS NOT DISTINCT FROM g.route
),
series AS (
    SELECT
        *,
        count(*) OVER whole - 1 AS other_buckets,
        sum(n) OVER whole - n AS other_total,
        sum(n * n) OVER whole - n * n AS other_squares
    FROM filled
    WINDOW whole AS (PARTITION BY metric, tenant_id, route)
),
scored AS (
    SELECT
        *,
        other_total / other_buckets AS baseline_mean,
        sqrt(greatest(
            other_squares / other_buckets - (other_total / other_buckets) ** 2, 0
        )) AS baseline_std
    FROM series
    WHERE other_buckets > 0
),
anomalies AS (
    SELECT
        *,
        (n - baseline_mean) / greatest(baseline_std, $std_floor) AS z_score
    FROM scored
)
SELECT
    'baseline_anomaly' AS detection,
    'low' AS severity,
    CASE WHEN count(DISTINCT b.actor_id) = 1 THEN any_value(b.actor_id) END AS actor_id,
    CASE WHEN count(DISTINCT b.client_ip) = 1 THEN any_value(b.client_ip) END AS client_ip,
    a.tenant_id,
    a.bucket AS window_start,
    a.bucket + to_minutes(CAST($bucket_minutes AS BIGINT)) AS window_end,
    a.n AS event_count,
    format(
        '{} {} on {} for tenant {} in {} minutes; baseline {} ± {}, z-score {}',
        a.n, a.metric, coalesce(a.route, '?'), coalesce(a.tenant_id, '?'), $bucket_minutes,
        round(a.baseline_mean, 2), round(a.baseline_std, 2), round(a.z_score, 1)
    ) AS summary,
    coalesce(
        list(
            {'table': b.source_table, 'source_file': b.source_file,
                'source_record': b.source_record}
            ORDER BY b.ts, b.source_file, b.source_record
        ) FILTER (WHERE b.source_file IS NOT NULL),
        []
    ) AS evidence,
    a.metric,
    a.route,
    a.baseline_mean,
    a.baseline_std,
    a.z_score
FROM anomalies AS a
LEFT JOIN bucketed AS b
    ON b.metric = a.metric AND b.bucket = a.bucket
    AND b.tenant_id IS NOT DISTINCT FROM a.tenant_id
    AND b.route IS NOT DISTINCT FROM a.route
WHERE ($threshold IS NULL OR (a.z_score >= $threshold AND a.n >= $min_ratio * a.baseline_mean))
    AND a.n >= $min_count
GROUP BY a.metric, a.tenant_id, a.route, a.bucket, a.n, a.baseline_mean, a.baseline_std, a.z_score
ORDER BY window_start, a.metric, a.tenant_id, a.route
