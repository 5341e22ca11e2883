"""What the Jaeger and Zipkin readers share: span rows from microsecond times, and duplicates.

Both formats write times in microseconds; they become integer nanoseconds (never floats).
A span repeated with the same trace id, span id and content is quarantined as a duplicate
of the first, as the OTLP reader does; a span that reuses an id with other content (Zipkin's
shared server half) is kept as its own row.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import orjson

from secobs.ingest.records import FieldError, Rejected, Row, describe

# Duplicates are found among this many most recent spans of a file, which bounds memory.
DUPLICATE_WINDOW = 200_000
KINDS = {"server", "client", "producer", "consumer", "internal"}


def micros(value: Any, field: str) -> int:
    """Read a whole number of microseconds (JSON number or decimal string), exactly."""
    if isinstance(value, bool):
        raise FieldError(f"{field}: expected microseconds, got {describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise FieldError(f"{field}: expected whole microseconds, got {describe(value)}")


def span_row(
    *,
    trace_id: str,
    span_id: str,
    parent_span_id: str | None,
    service: str | None,
    name: str | None,
    kind: str,
    start_us: int,
    duration_us: int,
    status_code: str,
    attributes: dict[str, Any],
    resource: dict[str, Any],
) -> dict[str, Any]:
    """Build the spans columns common to Jaeger and Zipkin from microsecond times."""
    start_ns = start_us * 1000
    end_ns = start_ns + duration_us * 1000
    status = _int(attributes.get("http.status_code", attributes.get("http.response.status_code")))
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "service": service,
        "name": name,
        "kind": kind,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "start_ts": start_ns,
        "duration_ms": duration_us / 1000,
        "status_code": status_code,
        "attributes": orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS).decode(),
        "resource": orjson.dumps(resource, option=orjson.OPT_SORT_KEYS).decode(),
        "enduser_id": _text(attributes.get("enduser.id", attributes.get("user.id"))),
        "tenant_id": _text(attributes.get("tenant.id")),
        "auth_method": _text(attributes.get("auth.method")),
        "risk_score": _int(attributes.get("security.risk_score")),
        "http_route": _text(
            attributes.get("http.route", attributes.get("http.path", attributes.get("url.path")))
        ),
        "http_status_code": status,
        "request_id": _text(attributes.get("request.id", attributes.get("guid:x-request-id"))),
    }


def kind_name(value: Any, default: str) -> str:
    """Upper-case a span kind name such as "server"; other values give `default`."""
    if isinstance(value, str) and value.lower() in KINDS:
        return value.upper()
    return default


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


class Duplicates:
    """Find spans that repeat an earlier span of the file exactly."""

    def __init__(self) -> None:
        self.recent: OrderedDict[tuple[str, str, str], int] = OrderedDict()

    def check(self, row: Row, source: Any, raw: str) -> Row | Rejected:
        content = hashlib.sha256(orjson.dumps(source, option=orjson.OPT_SORT_KEYS)).hexdigest()
        key = (row.values["trace_id"], row.values["span_id"], content)
        first = self.recent.get(key)
        if first is not None:
            return Rejected(
                row.record, f"duplicate of record {first}: same trace_id, span_id and content", raw
            )
        self.recent[key] = row.record
        if len(self.recent) > DUPLICATE_WINDOW:
            self.recent.popitem(last=False)
        return row
