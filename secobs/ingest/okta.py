"""Reader for the Okta System Log: API pages (a JSON array of LogEvents) or JSON lines.

The event name is Okta's own dotted `eventType` (`user.session.start`), the actor its
`alternateId` (the login, usually an email address) and `target` is kept as JSON text in
`request_parameters`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secobs.ingest.auditmap import (
    first_time,
    ip_and_source,
    json_text,
    obj,
    read_audit_source,
    text,
)
from secobs.ingest.records import ReaderOutput

FORMAT = "okta"
RESULTS = {"SUCCESS": "success", "ALLOW": "success", "FAILURE": "failure", "DENY": "failure"}


def read_okta(path: Path) -> ReaderOutput:
    """Yield one audit_events row per Okta LogEvent."""
    return read_audit_source(path, FORMAT, map_okta_event, containers=())


def okta_result(outcome: dict[str, Any]) -> str | None:
    """Map outcome.result: SUCCESS/ALLOW to success, FAILURE/DENY to failure, others lower-cased."""
    value = text(outcome.get("result"))
    if value is None:
        return None
    return RESULTS.get(value.upper(), value.lower())


def map_okta_event(event: dict[str, Any]) -> dict[str, Any]:
    """Map one Okta LogEvent to audit_events columns."""
    actor = obj(event.get("actor"))
    client = obj(event.get("client"))
    geo = obj(client.get("geographicalContext"))
    location = obj(geo.get("geolocation"))
    outcome = obj(event.get("outcome"))
    context = obj(event.get("authenticationContext"))
    debug = obj(obj(event.get("debugContext")).get("debugData"))
    method = text(context.get("credentialType")) or text(context.get("authenticationProvider"))
    return {
        "ts": first_time(event.get("published")),
        "service": "okta",
        "version": text(event.get("version")),
        "event": text(event.get("eventType")) or text(event.get("legacyEventType")),
        "severity": text(event.get("severity")),
        "result": okta_result(outcome),
        "reason": text(outcome.get("reason")),
        "event_id": text(event.get("uuid")),
        "request_id": text(debug.get("requestId")),
        "actor_id": text(actor.get("alternateId")) or text(actor.get("id")),
        "actor_type": text(actor.get("type")),
        "user_agent": text(obj(client.get("userAgent")).get("rawUserAgent")),
        "geo_country": text(geo.get("country")),
        "geo_region": text(geo.get("state")),
        "geo_city": text(geo.get("city")),
        "geo_lat": _number(location.get("lat")),
        "geo_lon": _number(location.get("lon")),
        "auth_method": method.lower() if method else None,
        "request_parameters": json_text(event.get("target")),
        **ip_and_source(client.get("ipAddress")),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
