"""Reader for Zipkin v2 JSON: an array of spans (or of traces, as `/api/v2/traces` returns).

Times are epoch microseconds. A span without `kind` is a local span and maps to INTERNAL.
Tags are strings and stay strings in `attributes`. A `shared: true` span is the server half
of an RPC whose client half has the same span id: it is kept as its own row with the same
ids, kind SERVER and the attribute `zipkin.shared: true`, so both halves stay visible and
`blast_radius` (which walks distinct span ids) still ends. Records are numbered by span.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from secobs import ids
from secobs.ingest.records import FieldError, ReaderOutput, Rejected, Row, describe
from secobs.ingest.source import open_binary
from secobs.ingest.spanrows import Duplicates, kind_name, micros, span_row
from secobs.netaddr import normalize_ip


def read_zipkin(path: Path) -> ReaderOutput:
    """Yield one spans row per Zipkin span, or a Rejected record naming what is wrong."""
    # NOTE: the document is parsed whole; Zipkin API responses are one page of traces.
    with open_binary(path) as stream:
        data = stream.read()
    try:
        document = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as error:
        yield Rejected(1, f"invalid JSON: {error}", data[:4096].decode("utf-8", "replace"))
        return
    duplicates = Duplicates()
    for number, span in enumerate(_spans(document), start=1):
        raw = orjson.dumps(span).decode()
        try:
            values = map_zipkin_span(span)
        except (FieldError, ValueError) as error:
            yield Rejected(number, str(error), raw)
            continue
        yield duplicates.check(Row("spans", number, values), span, raw)


def _spans(document: Any) -> Iterator[Any]:
    if isinstance(document, list):
        for item in document:
            if isinstance(item, list):
                yield from item
            else:
                yield item
    else:
        yield document


def _endpoint(prefix: str, endpoint: Any, attributes: dict[str, Any]) -> None:
    if not isinstance(endpoint, dict):
        return
    address = normalize_ip(endpoint.get("ipv4")) or normalize_ip(endpoint.get("ipv6"))
    if address:
        attributes[f"{prefix}.ip"] = address
    if endpoint.get("port") is not None:
        attributes[f"{prefix}.port"] = endpoint["port"]
    if prefix == "peer" and isinstance(endpoint.get("serviceName"), str):
        attributes["peer.service"] = endpoint["serviceName"]


def map_zipkin_span(span: Any) -> dict[str, Any]:
    """Map one Zipkin v2 span to spans columns, or raise FieldError naming the bad field."""
    if not isinstance(span, dict):
        raise FieldError(f"expected a span object, got {describe(span)}")
    trace_id = ids.trace_id(span.get("traceId"))
    span_id = ids.span_id(span.get("id"))
    if trace_id is None or span_id is None:
        raise FieldError("traceId and id are required")
    if "timestamp" not in span:
        raise FieldError("timestamp: missing")
    tags = span.get("tags") if isinstance(span.get("tags"), dict) else {}
    attributes: dict[str, Any] = {key: value for key, value in tags.items()}
    local = span.get("localEndpoint") if isinstance(span.get("localEndpoint"), dict) else {}
    _endpoint("local", local, attributes)
    _endpoint("peer", span.get("remoteEndpoint"), attributes)
    if span.get("shared") is True:
        attributes["zipkin.shared"] = True
    annotations = span.get("annotations")
    if isinstance(annotations, list) and annotations:
        attributes["zipkin.annotations"] = annotations
    status = "UNSET"
    if "error" in tags:
        status = "ERROR"
    otel_status = tags.get("otel.status_code")
    if isinstance(otel_status, str) and otel_status.upper() in ("OK", "ERROR"):
        status = otel_status.upper()
    service = local.get("serviceName")
    return span_row(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=ids.parent_span_id(span.get("parentId")),
        service=service if isinstance(service, str) else None,
        name=span.get("name") if isinstance(span.get("name"), str) else None,
        kind=kind_name(span.get("kind"), "INTERNAL"),
        start_us=micros(span["timestamp"], "timestamp"),
        duration_us=micros(span.get("duration", 0), "duration"),
        status_code=status,
        attributes=attributes,
        resource={"service.name": service} if isinstance(service, str) else {},
    )
