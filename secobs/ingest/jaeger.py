"""Reader for Jaeger JSON: the query API's `{"data": [trace, ...]}`, a bare trace, or spans.

A trace is `{traceID, spans, processes}` with each span naming its process by `processID`;
the anonymiser and some exports write a plain array of spans with an inline `process`
instead. Times are epoch microseconds. Ids of 64 bits, or with leading zeros trimmed, are
padded to the canonical width. The parent is the first CHILD_OF reference (else the first
FOLLOWS_FROM one); every reference is also kept in the attribute `jaeger.references`.
Records are numbered by span: the n-th span of the file is record n.
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


def read_jaeger(path: Path) -> ReaderOutput:
    """Yield one spans row per Jaeger span, or a Rejected record naming what is wrong."""
    # NOTE: the document is parsed whole, so memory grows with its size; Jaeger exports are
    # one trace or one query page.
    with open_binary(path) as stream:
        data = stream.read()
    try:
        document = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as error:
        yield Rejected(1, f"invalid JSON: {error}", data[:4096].decode("utf-8", "replace"))
        return
    duplicates = Duplicates()
    number = 0
    for span, processes in _spans(document):
        number += 1
        raw = orjson.dumps(span).decode()
        try:
            values = map_jaeger_span(span, processes)
        except (FieldError, ValueError) as error:
            yield Rejected(number, str(error), raw)
            continue
        yield duplicates.check(Row("spans", number, values), span, raw)


def _spans(document: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        for trace in document["data"]:
            yield from _spans(trace)
    elif isinstance(document, dict) and isinstance(document.get("spans"), list):
        processes = document.get("processes")
        for span in document["spans"]:
            yield span, processes if isinstance(processes, dict) else {}
    elif isinstance(document, list):
        for item in document:
            if isinstance(item, dict) and "spans" in item:
                yield from _spans(item)
            else:
                yield item, {}
    else:
        yield document, {}


def tag_value(tag: dict[str, Any]) -> Any:
    """Return a tag's value in its declared type (a bool tag may arrive as "true")."""
    value = tag.get("value")
    kind = str(tag.get("type", "")).lower()
    if kind == "bool" and isinstance(value, str):
        return value.strip().lower() == "true"
    if kind == "int64" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if kind == "float64" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def tags_to_dict(tags: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for tag in tags or []:
        if isinstance(tag, dict) and isinstance(tag.get("key"), str):
            result[tag["key"]] = tag_value(tag)
    return result


def _parent(span: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    references = [ref for ref in span.get("references") or [] if isinstance(ref, dict)]
    chosen = None
    for kind in ("CHILD_OF", "FOLLOWS_FROM"):
        chosen = next((ref for ref in references if ref.get("refType") == kind), None)
        if chosen is not None:
            break
    if chosen is not None:
        return ids.parent_span_id(chosen.get("spanID")), references
    return ids.parent_span_id(span.get("parentSpanID")), references


def map_jaeger_span(span: Any, processes: dict[str, Any]) -> dict[str, Any]:
    """Map one Jaeger span to spans columns, or raise FieldError naming the bad field."""
    if not isinstance(span, dict):
        raise FieldError(f"expected a span object, got {describe(span)}")
    trace_id = ids.trace_id(span.get("traceID"))
    span_id = ids.span_id(span.get("spanID"))
    if trace_id is None or span_id is None:
        raise FieldError("traceID and spanID are required")
    if "startTime" not in span:
        raise FieldError("startTime: missing")
    parent, references = _parent(span)
    process = span.get("process")
    if not isinstance(process, dict):
        process = processes.get(span.get("processID"), {})
    process = process if isinstance(process, dict) else {}
    attributes = tags_to_dict(span.get("tags"))
    if len(references) > 1 or any(ref.get("refType") != "CHILD_OF" for ref in references):
        attributes["jaeger.references"] = [
            {"refType": ref.get("refType"), "spanID": ids.span_id(ref.get("spanID"))}
            for ref in references
        ]
    status = "UNSET"
    if attributes.get("error") is True:
        status = "ERROR"
    otel_status = attributes.get("otel.status_code")
    if isinstance(otel_status, str) and otel_status.upper() in ("OK", "ERROR"):
        status = otel_status.upper()
    return span_row(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        service=process.get("serviceName") if isinstance(process.get("serviceName"), str) else None,
        name=span.get("operationName") if isinstance(span.get("operationName"), str) else None,
        kind=kind_name(attributes.get("span.kind"), "UNSPECIFIED"),
        start_us=micros(span["startTime"], "startTime"),
        duration_us=micros(span.get("duration", 0), "duration"),
        status_code=status,
        attributes=attributes,
        resource={"service.name": process.get("serviceName"), **tags_to_dict(process.get("tags"))},
    )
