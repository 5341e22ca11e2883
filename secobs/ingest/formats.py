"""The input formats secobs reads, and detection of a file's format from its content.

Each format has a `sniff` test over a `Sample` of the file's first bytes. Detection tries the
formats in order of `priority` (lower first) and takes the first that matches, so specific
formats (an OTLP document) come before general ones (any CSV with canonical columns).
"""

from __future__ import annotations

import csv
import logging
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
from secobs.ingest.source import Sample

log = logging.getLogger("secobs")


@dataclass(frozen=True)
class Format:
    name: str
    table: str
    description: str
    example: str
    read: Callable[[Path], ReaderOutput]
    sniff: Callable[[Sample], bool] | None = None
    priority: int = 50
    # A reader to use when `read` (a DuckDB fast path) fails on the file.
    fallback: Callable[[Path], ReaderOutput] | None = None
    # A reader that takes a column mapping (canonical column -> source field), for generic
    # formats such as CSV or NDJSON with their own column names.
    read_mapped: Callable[[Path, dict[str, str]], ReaderOutput] | None = None


def _is_otlp_traces(sample: Sample) -> bool:
    return b'"resourceSpans"' in sample.head


def _is_audit_v1(sample: Sample) -> bool:
    first = sample.first_json
    if not isinstance(first, dict):
        # A first line that is not JSON (for example cut off) must not hide an audit file.
        for line in sample.head.splitlines()[1:20]:
            try:
                first = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            break
    return isinstance(first, dict) and (
        first.get("schema") == "audit.v1" or {"ts", "event"} <= first.keys()
    )


def _is_spans_csv(sample: Sample) -> bool:
    return {"trace_id", "span_id"} <= set(sample.csv_header)


def _is_requests_csv(sample: Sample) -> bool:
    header = set(sample.csv_header)
    return "ts" in header and bool(header & {"latency_ms", "status_code", "request_id"})


_FORMATS: list[Format] = [
    Format(
        "otlp-json",
        "spans",
        "OTLP/JSON traces: one ExportTraceServiceRequest, or one per line (Collector files)",
        '{"resourceSpans":[{"resource":{...},"scopeSpans":[{"spans":[...]}]}]}',
        read_otlp,
        _is_otlp_traces,
        priority=10,
    ),
    Format(
        "audit.v1",
        "audit_events",
        "audit.v1 NDJSON: one audit event object per line",
        '{"schema":"audit.v1","ts":"2026-02-24T09:14:03.512Z","event":"auth.login",...}',
        read_audit_v1_fast,
        _is_audit_v1,
        priority=20,
        fallback=read_audit_v1,
    ),
    Format(
        "spans-csv",
        "spans",
        "CSV of spans with canonical column names (trace_id, span_id, parent_span_id, ...)",
        "trace_id,span_id,parent_span_id,service,name,start_ns,end_ns",
        read_spans_csv,
        _is_spans_csv,
        priority=80,
    ),
    Format(
        "requests-csv",
        "request_metrics",
        "CSV of request metrics with canonical column names (ts, latency_ms, ...)",
        "ts,request_id,trace_id,service,route,method,status_code,latency_ms,...",
        read_requests_csv,
        _is_requests_csv,
        priority=90,
    ),
]


def register(fmt: Format) -> None:
    """Add a format to the registry (used by the modules that define more formats)."""
    _FORMATS.append(fmt)
    FORMATS[fmt.name] = fmt


FORMATS: dict[str, Format] = {fmt.name: fmt for fmt in _FORMATS}


def get_format(name: str) -> Format:
    """Return the format named `name`, or raise InputError listing the known names."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise InputError(f"unknown format {name!r}; known formats: {known}") from None


def _describe_start(head: bytes) -> str:
    """Show how a file starts: its first characters, or its first bytes in hex if binary."""
    start = head.lstrip()[:60]
    try:
        text = start.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or any(ord(c) < 32 and c not in "\t\r\n" for c in text):
        return f"binary bytes {start[:16].hex(' ')}"
    return repr(text.splitlines()[0] if text.strip() else text)


def _sniff(fmt: Format, sample: Sample) -> bool:
    """Run one format's sniff test; a test that fails on odd bytes means "not this format"."""
    try:
        return bool(fmt.sniff(sample))
    except (ValueError, TypeError, UnicodeError, csv.Error) as error:
        log.debug("sniff test of %s failed on %s: %s", fmt.name, sample.path, error)
        return False


def detect_format(path: Path) -> Format:
    """Detect a file's format from its first bytes, or raise InputError saying what was seen."""
    sample = Sample.read(path)
    if not sample.head.strip():
        raise InputError("the file is empty; nothing to ingest", path=str(path))
    for signal in (b'"resourceLogs"', b'"resourceMetrics"'):
        if signal in sample.head and b'"resourceSpans"' not in sample.head:
            raise InputError(
                f"OTLP {signal.decode().strip(chr(34))} are not supported; "
                "secobs loads OTLP traces (resourceSpans)",
                path=str(path),
            )
    for fmt in sorted(FORMATS.values(), key=lambda candidate: candidate.priority):
        if fmt.sniff is not None and _sniff(fmt, sample):
            return fmt
    raise InputError(
        f"unrecognised format (starts with {_describe_start(sample.head)}); name one with --format "
        f"({', '.join(sorted(FORMATS))})",
        path=str(path),
    )


from secobs.ingest import sources as _sources  # noqa: E402, F401  (registers more formats)
