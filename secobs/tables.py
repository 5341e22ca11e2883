"""Declared Arrow schemas of the canonical tables.

Every Parquet file in the lake is written with these schemas, never with types inferred from
the data, so a column that is all null in one file still has its real type and files union
cleanly. Times are UTC instants (Parquet isAdjustedToUTC=true).
"""

from __future__ import annotations

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")
UTC_NANOS = pa.timestamp("ns", tz="UTC")
STRINGS = pa.list_(pa.string())

AUDIT_EVENTS = pa.schema(
    [
        ("ts", UTC_MICROS),
        ("schema", pa.string()),
        ("source_format", pa.string()),
        ("service", pa.string()),
        ("env", pa.string()),
        ("version", pa.string()),
        ("event", pa.string()),
        ("severity", pa.string()),
        ("result", pa.string()),
        ("reason", pa.string()),
        ("request_id", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("method", pa.string()),
        ("route", pa.string()),
        ("actor_type", pa.string()),
        ("actor_id", pa.string()),
        ("tenant_id", pa.string()),
        ("roles", STRINGS),
        ("client_ip", pa.string()),
        ("user_agent", pa.string()),
        ("geo_country", pa.string()),
        ("geo_region", pa.string()),
        ("geo_city", pa.string()),
        ("geo_lat", pa.float64()),
        ("geo_lon", pa.float64()),
        ("auth_method", pa.string()),
        ("token_id", pa.string()),
        ("mfa", pa.bool_()),
        ("risk_score", pa.int32()),
        ("signals", STRINGS),
        # Where the request came from when it was not an IP address (a service name such as
        # "cloudformation.amazonaws.com" or "AWS Internal"), and what kind of source that is.
        ("source_host", pa.string()),
        ("source_kind", pa.string()),
        ("actor_account", pa.string()),
        ("actor_role", pa.string()),
        ("target_account", pa.string()),
        ("event_id", pa.string()),
        # Request parameters and response elements as JSON text: their shape differs per event.
        ("request_parameters", pa.string()),
        ("response_elements", pa.string()),
        ("raw", pa.string()),
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
    ]
)

REQUEST_METRICS = pa.schema(
    [
        ("ts", UTC_MICROS),
        ("request_id", pa.string()),
        ("trace_id", pa.string()),
        ("service", pa.string()),
        ("env", pa.string()),
        ("route", pa.string()),
        ("method", pa.string()),
        ("status_code", pa.int32()),
        ("latency_ms", pa.float64()),
        ("bytes", pa.int64()),
        ("client_ip", pa.string()),
        ("user_agent", pa.string()),
        ("actor_id", pa.string()),
        ("tenant_id", pa.string()),
        # A client address that is not an IP address, kept as written (client_ip is then NULL).
        ("client_ip_raw", pa.string()),
        ("upstream_time_ms", pa.float64()),
        ("upstream_attempts", pa.int32()),
        ("upstream_status", pa.int32()),
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
    ]
)

SPANS = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("service", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("start_ns", pa.int64()),
        ("end_ns", pa.int64()),
        ("start_ts", UTC_NANOS),
        ("duration_ms", pa.float64()),
        ("status_code", pa.string()),
        ("attributes", pa.string()),
        ("resource", pa.string()),
        ("enduser_id", pa.string()),
        ("tenant_id", pa.string()),
        ("auth_method", pa.string()),
        ("risk_score", pa.int32()),
        ("signals", STRINGS),
        ("http_route", pa.string()),
        ("http_status_code", pa.int32()),
        ("request_id", pa.string()),
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
    ]
)

QUARANTINE = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
        ("format", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("ingested_at", UTC_MICROS),
    ]
)

MANIFEST = pa.schema(
    [
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("size", pa.int64()),
        ("format", pa.string()),
        ("table_name", pa.string()),
        ("records_in", pa.int64()),
        ("loaded", pa.int64()),
        ("quarantined", pa.int64()),
        ("ingested_at", UTC_MICROS),
        ("ingested_by", pa.string()),
        # Secrets replaced with markers at ingest; null when the file was ingested unredacted.
        ("redacted", pa.int64()),
    ]
)

# Canonical tables and the column that decides their day partition.
CANONICAL = {
    "audit_events": (AUDIT_EVENTS, "ts"),
    "request_metrics": (REQUEST_METRICS, "ts"),
    "spans": (SPANS, "start_ts"),
}
