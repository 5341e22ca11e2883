"""The input formats secobs reads, and detection of a file's format from its content."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from secobs.errors import InputError
from secobs.ingest.audit_sql import read_audit_v1_fast
from secobs.ingest.audit_v1 import read_audit_v1
from secobs.ingest.csv_tables import read_requests_csv, read_spans_csv
from secobs.ingest.otlp import read_otlp
from secobs.ingest.records import ReaderOutput

SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Format:
    name: str
    table: str
    description: str
    example: str
    read: Callable[[Path], ReaderOutput]
    # A reader to use when `read` (a DuckDB fast path) fails on the file.
    fallback: Callable[[Path], ReaderOutput] | None = None


FORMATS = {
    fmt.name: fmt
    for fmt in (
        Format(
            "audit.v1",
            "audit_events",
            "audit.v1 NDJSON: one audit event object per line",
            '{"schema":"audit.v1","ts":"2026-02-24T09:14:03.512Z","event":"auth.login",...}',
            read_audit_v1_fast,
            read_audit_v1,
        ),
        Format(
            "otlp-json",
            "spans",
            "OTLP/JSON traces: one ExportTraceServiceRequest, or one per line (Collector files)",
            '{"resourceSpans":[{"resource":{...},"scopeSpans":[{"spans":[...]}]}]}',
            read_otlp,
        ),
        Format(
            "requests-csv",
            "request_metrics",
            "CSV of request metrics with canonical column names (ts, latency_ms, ...)",
            "ts,request_id,trace_id,service,route,method,status_code,latency_ms,...",
            read_requests_csv,
        ),
        Format(
            "spans-csv",
            "spans",
            "CSV of spans with canonical column names (trace_id, span_id, parent_span_id, ...)",
            "trace_id,span_id,parent_span_id,service,name,start_ns,end_ns",
            read_spans_csv,
        ),
    )
}


def get_format(name: str) -> Format:
    """Return the format named `name`, or raise InputError listing the known names."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise InputError(f"unknown format {name!r}; known formats: {known}") from None


def detect_format(path: Path) -> Format:
    """Detect a file's format from its first bytes, or raise InputError saying what was seen."""
    with path.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)
    text = head.lstrip(b"\xef\xbb\xbf")
    stripped = text.lstrip()
    if not stripped:
        raise InputError("the file is empty; nothing to ingest", path=str(path))
    if b'"resourceSpans"' in text:
        return FORMATS["otlp-json"]
    for signal in (b'"resourceLogs"', b'"resourceMetrics"'):
        if signal in text:
            raise InputError(
                f"OTLP {signal.decode().strip(chr(34))} are not supported; "
                "secobs loads OTLP traces (resourceSpans)",
                path=str(path),
            )
    if stripped[:1] == b"{":
        for line in text.splitlines()[:20]:
            try:
                first = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(first, dict) and (
                first.get("schema") == "audit.v1" or {"ts", "event"} <= first.keys()
            ):
                return FORMATS["audit.v1"]
            break
    else:
        header_line = text.splitlines()[0].decode("utf-8", errors="replace")
        header = {name.strip() for name in next(csv.reader([header_line]), [])}
        if {"trace_id", "span_id"} <= header:
            return FORMATS["spans-csv"]
        if "ts" in header and header & {"latency_ms", "status_code", "request_id"}:
            return FORMATS["requests-csv"]
    seen = stripped[:80].decode("utf-8", errors="replace").splitlines()[0]
    raise InputError(
        f"unrecognised format (starts with {seen!r}); name one with --format "
        f"({', '.join(sorted(FORMATS))})",
        path=str(path),
    )
