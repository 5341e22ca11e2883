"""Reader for audit.v1 NDJSON: one JSON object per line, the native audit format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secobs import ids
from secobs.ingest.auditmap import classify_source
from secobs.ingest.records import (
    FieldError,
    ReaderOutput,
    Rejected,
    Row,
    decode_raw,
    describe,
    optional_bool,
    optional_number,
    optional_object,
    optional_str,
    optional_strings,
    parse_json_line,
    risk_score,
)
from secobs.timeutil import parse_timestamp

SCHEMA = "audit.v1"


def read_audit_v1(path: Path) -> ReaderOutput:
    """Yield one audit_events row per line, or a Rejected record that names the bad field."""
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            item = reject_or_map(number, line)
            if item is not None:
                yield item


def reject_or_map(number: int, line: bytes) -> Row | Rejected | None:
    """Map one line to a Row, a Rejected record with the reason, or None for a blank line."""
    if not line.strip():
        return None
    try:
        values = map_event(parse_json_line(line))
    except (FieldError, ValueError) as error:
        return Rejected(number, str(error), decode_raw(line))
    values["raw"] = line.decode("utf-8").rstrip("\r\n")
    return Row("audit_events", number, values)


def map_event(event: Any) -> dict[str, Any]:
    """Map one parsed audit.v1 event to audit_events columns, or raise FieldError."""
    if not isinstance(event, dict):
        raise FieldError(f"expected a JSON object, got {describe(event)}")
    schema = event.get("schema")
    if schema is not None and schema != SCHEMA:
        raise FieldError(f"schema: expected {SCHEMA!r}, got {str(schema)[:40]!r}")
    if "ts" not in event:
        raise FieldError("ts: missing")
    try:
        ts = parse_timestamp(event["ts"])
    except ValueError as error:
        raise FieldError(f"ts: {error}") from None
    kind = event.get("event")
    if not isinstance(kind, str) or not kind:
        raise FieldError(f"event: expected a dotted event kind, got {describe(kind)}")

    request = optional_object(event, "request", "request")
    actor = optional_object(event, "actor", "actor")
    client = optional_object(event, "client", "client")
    geo = optional_object(client, "geo", "client.geo")
    security = optional_object(event, "security", "security")
    try:
        trace_id = ids.trace_id(request.get("trace_id"))
        span_id = ids.span_id(request.get("span_id"))
    except ValueError as error:
        raise FieldError(f"request: {error}") from None

    client_ip, source_host, source_kind = classify_source(optional_str(client, "ip", "client.ip"))
    return {
        "ts": ts,
        "schema": SCHEMA,
        "source_format": SCHEMA,
        "service": optional_str(event, "service", "service"),
        "env": optional_str(event, "env", "env"),
        "version": optional_str(event, "version", "version"),
        "event": kind,
        "severity": optional_str(event, "severity", "severity"),
        "result": optional_str(event, "result", "result"),
        "reason": optional_str(event, "reason", "reason"),
        "request_id": optional_str(request, "request_id", "request.request_id"),
        "trace_id": trace_id,
        "span_id": span_id,
        "method": optional_str(request, "method", "request.method"),
        "route": optional_str(request, "route", "request.route"),
        "actor_type": optional_str(actor, "type", "actor.type"),
        "actor_id": optional_str(actor, "id", "actor.id"),
        "tenant_id": optional_str(actor, "tenant_id", "actor.tenant_id"),
        "roles": optional_strings(actor, "roles", "actor.roles"),
        "client_ip": client_ip,
        "source_host": source_host,
        "source_kind": source_kind,
        "user_agent": optional_str(client, "ua", "client.ua"),
        "geo_country": optional_str(geo, "country", "client.geo.country"),
        "geo_region": optional_str(geo, "region", "client.geo.region"),
        "geo_city": optional_str(geo, "city", "client.geo.city"),
        "geo_lat": optional_number(geo, "lat", "client.geo.lat"),
        "geo_lon": optional_number(geo, "lon", "client.geo.lon"),
        "auth_method": optional_str(security, "auth_method", "security.auth_method"),
        "token_id": optional_str(security, "token_id", "security.token_id"),
        "mfa": optional_bool(security, "mfa", "security.mfa"),
        "risk_score": risk_score(security.get("risk_score"), "security.risk_score"),
        "signals": optional_strings(security, "signals", "security.signals"),
    }
