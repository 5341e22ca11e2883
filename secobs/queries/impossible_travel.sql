-- name: impossible_travel
-- description: Consecutive logins of one actor farther apart than travel allows: faster than
--   max_speed_kmh and at least min_distance_km apart. Reads login_pairs, which `secobs detect`
--   computes with WGS-84 geodesic distances (two logins in the same second get a speed over a
--   1-second floor and simultaneous = true).
-- param: max_speed_kmh DOUBLE = 900 -- highest plausible speed in km/h
-- param: min_distance_km DOUBLE = 500 -- shorter jumps are within geolocation error
SELECT
    'impossible_travel' AS detection,
    'high' AS severity,
    actor_id,
    to_ip AS client_ip,
    tenant_id,
    from_ts AS window_start,
    to_ts AS window_end,
    2 AS event_count,
    format(
        '{} logged in from {} ({}) then {} ({}): {} km in {} s, {} km/h{}',
        actor_id, coalesce(from_city, '?'), coalesce(from_country, '?'),
        coalesce(to_city, '?'), coalesce(to_country, '?'), round(distance_km)::BIGINT,
        round(elapsed_s)::BIGINT, round(speed_kmh)::BIGINT,
        CASE WHEN simultaneous THEN ' (simultaneous)' ELSE '' END
    ) AS summary,
    [
        {'table': 'audit_events', 'source_file': from_source_file,
            'source_record': from_source_record},
        {'table': 'audit_events', 'source_file': to_source_file, 'source_record': to_source_record}
    ] AS evidence
FROM login_pairs
WHERE speed_kmh > $max_speed_kmh AND distance_km >= $min_distance_km
ORDER BY window_start, actor_id
