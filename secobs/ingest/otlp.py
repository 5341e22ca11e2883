"""Reader for OTLP/JSON traces: one ExportTraceServiceRequest document, or JSON lines of them.

The OpenTelemetry Collector's file exporter writes one request per line; hand exports and
the protocol's examples are single pretty-printed documents. Both load the same way.

64-bit integers (times, intValue) arrive as decimal strings, bare JSON numbers or, from one
JavaScript exporter, as Long objects {"low": signed 32 bits, "high": 32 bits}. All three are
read exactly, never through a float.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson

from secobs import ids
from secobs.ingest.records import FieldError, ReaderOutput, Rejected, Row, decode_raw, describe

# Proto enum numbers of Span.SpanKind and Status.StatusCode.
SPAN_KINDS = {
    0: "UNSPECIFIED",
    1: "INTERNAL",
    2: "SERVER",
    3: "CLIENT",
    4: "PRODUCER",
    5: "CONSUMER",
}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}

# Duplicate spans are found among this many most recent spans of a file, which bounds memory.
DUPLICATE_WINDOW = 200_000


def read_otlp(path: Path) -> ReaderOutput:
    """Yield one spans row per span, or a Rejected record naming where and what is wrong.

    Records are numbered by span: the n-th span of the file is record n. A line that is not
    JSON at all is one rejected record.
    """
    recent: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
    counter = [0]
    for line_number, document, raw in _documents(path):
        if document is None:
            counter[0] += 1
            yield Rejected(counter[0], f"line {line_number}: {raw[0]}", raw[1])
            continue
        for item in _spans_of(document, line_number, counter):
            if isinstance(item, Rejected):
                yield item
                continue
            key = (item.values["trace_id"], item.values["span_id"])
            digest = hashlib.sha256(item.values.pop("_content")).hexdigest()
            seen = recent.get(key)
            if seen is not None and seen[0] == digest:
                yield Rejected(
                    item.record,
                    f"duplicate of record {seen[1]}: same trace_id, span_id and content",
                    item.values["_raw"],
                )
                continue
            recent[key] = (digest, item.record)
            if len(recent) > DUPLICATE_WINDOW:
                recent.popitem(last=False)
            del item.values["_raw"]
            yield item


def _documents(path: Path):
    """Yield (line number, parsed document or None, raw) for a document or JSON lines file."""
    with path.open("rb") as stream:
        first = stream.readline()
        stream.seek(0)
        if first.lstrip(b"\xef\xbb\xbf").strip() and _parses(first):
            for number, line in enumerate(stream, start=1):
                if number == 1:
                    line = line.lstrip(b"\xef\xbb\xbf")
                if not line.strip():
                    continue
                try:
                    yield number, orjson.loads(line), None
                except orjson.JSONDecodeError as error:
                    yield number, None, (f"invalid JSON: {error}", decode_raw(line))
            return
        # NOTE: a single pretty-printed document is parsed whole, so its memory grows with its
        # size. The Collector writes JSON lines, which stream.
        data = stream.read().lstrip(b"\xef\xbb\xbf")
    try:
        yield 1, orjson.loads(data), None
    except orjson.JSONDecodeError as error:
        yield 1, None, (f"invalid JSON: {error}", decode_raw(data[:4096]))


def _parses(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _spans_of(document: Any, line_number: int, counter: list[int]):
    if not isinstance(document, dict) or not isinstance(document.get("resourceSpans"), list):
        counter[0] += 1
        yield Rejected(
            counter[0],
            f"line {line_number}: expected an OTLP object with resourceSpans",
            orjson.dumps(document).decode()[:4096],
        )
        return
    for r, resource_spans in enumerate(document["resourceSpans"]):
        resource_spans = resource_spans if isinstance(resource_spans, dict) else {}
        resource = attributes_to_dict((resource_spans.get("resource") or {}).get("attributes"))
        # Exporters older than OTLP 0.15 wrote instrumentationLibrarySpans.
        scopes = resource_spans.get("scopeSpans") or resource_spans.get(
            "instrumentationLibrarySpans"
        )
        for s, scope_spans in enumerate(scopes or []):
            for k, span in enumerate((scope_spans or {}).get("spans") or []):
                counter[0] += 1
                where = f"line {line_number}, resourceSpans[{r}].scopeSpans[{s}].spans[{k}]"
                raw = orjson.dumps(span).decode()
                try:
                    values = map_span(span, resource)
                except (FieldError, ValueError) as error:
                    yield Rejected(counter[0], f"{where}: {error}", raw)
                    continue
                values["_content"] = orjson.dumps(span, option=orjson.OPT_SORT_KEYS)
                values["_raw"] = raw
                yield Row("spans", counter[0], values)


def int64(value: Any, field: str) -> int:
    """Read an OTLP 64-bit integer from a decimal string, a JSON number or a Long object."""
    if isinstance(value, bool):
        raise FieldError(f"{field}: expected an integer, got {describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if (
        isinstance(value, dict)
        and isinstance(value.get("low"), int)
        and isinstance(value.get("high"), int)
    ):
        combined = (value["high"] << 32) + (value["low"] % (1 << 32))
        return combined - (1 << 64) if combined >= 1 << 63 else combined
    raise FieldError(f"{field}: expected a 64-bit integer, got {describe(value)}")


def any_value(value: Any) -> Any:
    """Convert an OTLP AnyValue to a plain JSON value."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int64(value["intValue"], "intValue")
    if "doubleValue" in value:
        number = value["doubleValue"]
        return float(number) if isinstance(number, int | float | str) else number
    if "boolValue" in value:
        flag = value["boolValue"]
        return flag if isinstance(flag, bool) else str(flag).lower() == "true"
    if "arrayValue" in value:
        return [any_value(item) for item in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return attributes_to_dict((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes_to_dict(attributes: Any) -> dict[str, Any]:
    """Convert an OTLP attribute list [{key, value}] to a dict; later keys win."""
    result: dict[str, Any] = {}
    for attribute in attributes or []:
        if isinstance(attribute, dict) and isinstance(attribute.get("key"), str):
            result[attribute["key"]] = any_value(attribute.get("value"))
    return result


def span_kind(value: Any) -> str:
    """Map an OTLP span kind (proto number or enum name) to its short name."""
    if value is None:
        return "UNSPECIFIED"
    if isinstance(value, int) and not isinstance(value, bool):
        return SPAN_KINDS.get(value, "UNSPECIFIED")
    if isinstance(value, str):
        name = value.upper().removeprefix("SPAN_KIND_")
        if name in SPAN_KINDS.values():
            return name
    return "UNSPECIFIED"


def status_code(status: Any) -> str:
    code = status.get("code") if isinstance(status, dict) else None
    if isinstance(code, int) and not isinstance(code, bool):
        return STATUS_CODES.get(code, "UNSET")
    if isinstance(code, str):
        name = code.upper().removeprefix("STATUS_CODE_")
        if name in STATUS_CODES.values():
            return name
    return "UNSET"


def _first(attributes: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def _optional_int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    try:
        return int64(value, field)
    except FieldError:
        return None


def _signals(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [str(item) for item in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def map_span(span: Any, resource: dict[str, Any]) -> dict[str, Any]:
    """Map one OTLP span to spans columns, or raise FieldError naming the bad field."""
    if not isinstance(span, dict):
        raise FieldError(f"expected a span object, got {describe(span)}")
    trace_id = ids.trace_id(span.get("traceId"))
    span_id = ids.span_id(span.get("spanId"))
    if trace_id is None or span_id is None:
        raise FieldError("traceId and spanId are required")
    parent = ids.parent_span_id(span.get("parentSpanId"))
    if "startTimeUnixNano" not in span:
        raise FieldError("startTimeUnixNano: missing")
    start_ns = int64(span["startTimeUnixNano"], "startTimeUnixNano")
    end_ns = int64(span.get("endTimeUnixNano", start_ns), "endTimeUnixNano")
    attributes = attributes_to_dict(span.get("attributes"))
    risk = _optional_int(_first(attributes, "security.risk_score"), "security.risk_score")
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "service": resource.get("service.name"),
        "name": span.get("name") if isinstance(span.get("name"), str) else None,
        "kind": span_kind(span.get("kind")),
        "start_ns": start_ns,
        "end_ns": end_ns,
        "start_ts": start_ns,
        "duration_ms": (end_ns - start_ns) / 1_000_000,
        "status_code": status_code(span.get("status")),
        "attributes": orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS).decode(),
        "resource": orjson.dumps(resource, option=orjson.OPT_SORT_KEYS).decode(),
        "enduser_id": _text(_first(attributes, "enduser.id", "user.id")),
        "tenant_id": _text(_first(attributes, "tenant.id")),
        "auth_method": _text(_first(attributes, "auth.method")),
        "risk_score": risk,
        "signals": _signals(_first(attributes, "security.signals")),
        "http_route": _text(_first(attributes, "http.route", "url.path", "http.target")),
        "http_status_code": _optional_int(
            _first(attributes, "http.response.status_code", "http.status_code"), "http status"
        ),
        "request_id": _text(_first(attributes, "request.id", "http.request_id")),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
