"""Generic request metrics from CSV, JSON lines or Parquet, with a column mapping.

`--map latency_ms=duration` reads the canonical column `latency_ms` from the source field
`duration`; a field of a nested JSON object is named with dots (`http.status`), and
alternatives are separated by `|` (`trace_id=traceparent|uber_trace_id`: the first non-empty
one wins). Without a mapping each canonical column is read from the field of the same name,
then from common aliases (`time` for ts, `status` for status_code, `path` for route, and the
trace context headers `traceparent`, `uber-trace-id` and `X-Amzn-Trace-Id` for trace_id).
Values are converted from text the way `requests-csv` converts them; `latency_ms` must be in
milliseconds (map a seconds field and it is read as milliseconds).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from secobs.errors import InputError
from secobs.ingest.accesslogs import trace_context
from secobs.ingest.csv_tables import REQUEST_COLUMNS
from secobs.ingest.jsonstream import iter_json_records
from secobs.ingest.records import FieldError, ReaderOutput, Rejected, Row
from secobs.netaddr import normalize_ip

PARQUET_BATCH_ROWS = 50_000
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "time", "timestamp", "@timestamp"),
    "status_code": ("status_code", "status"),
    "route": ("route", "path", "uri"),
    "trace_id": (
        "trace_id",
        "traceparent",
        "uber_trace_id",
        "uber-trace-id",
        "x_amzn_trace_id",
        "X-Amzn-Trace-Id",
    ),
}
TRACE_CONTEXT_FIELDS = frozenset(ALIASES["trace_id"][1:])


def _sources(mapping: dict[str, str] | None) -> dict[str, tuple[str, ...]]:
    sources = {column: ALIASES.get(column, (column,)) for column in REQUEST_COLUMNS}
    for column, field in (mapping or {}).items():
        if column not in REQUEST_COLUMNS:
            known = ", ".join(REQUEST_COLUMNS)
            raise InputError(f"--map {column}=...: unknown request_metrics column; known: {known}")
        sources[column] = tuple(part.strip() for part in field.split("|") if part.strip())
    return sources


def _lookup(record: dict[str, Any], field: str) -> Any:
    if field in record:
        return record[field]
    value: Any = record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def map_request(record: dict[str, Any], sources: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Map one source record to request_metrics columns, or raise FieldError."""
    values: dict[str, Any] = {}
    for column, fields in sources.items():
        raw = ""
        chosen = None
        for field in fields:
            raw = _as_text(_lookup(record, field)).strip()
            if raw:
                chosen = field
                break
        try:
            if column == "trace_id" and chosen in TRACE_CONTEXT_FIELDS:
                values[column] = trace_context(raw)
            else:
                values[column] = REQUEST_COLUMNS[column](raw)
        except ValueError as error:
            raise FieldError(f"column {column} (from {chosen}): {error}") from None
    if values.get("ts") is None:
        raise FieldError(f"column ts: missing value (looked in {', '.join(sources['ts'])})")
    ip = values.get("client_ip")
    if ip is not None:
        values["client_ip"] = normalize_ip(ip)
        if values["client_ip"] is None:
            values["client_ip_raw"] = ip
    return values


def _rows(records: Iterator[tuple[int, Any, str]], mapping: dict[str, str] | None) -> ReaderOutput:
    sources = _sources(mapping)
    for number, record, raw in records:
        if isinstance(record, str):  # the reason a record could not be read
            yield Rejected(number, record, raw)
            continue
        if not isinstance(record, dict):
            yield Rejected(number, "expected an object", raw)
            continue
        try:
            yield Row("request_metrics", number, map_request(record, sources))
        except FieldError as error:
            yield Rejected(number, str(error), raw)


def _csv_records(path: Path) -> Iterator[tuple[int, Any, str]]:
    with path.open("r", encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        header = [name.strip() for name in next(reader, [])]
        line = reader.line_num
        for cells in reader:
            number = line + 1
            line = reader.line_num
            if not cells or cells == [""]:
                continue
            raw = ",".join(cells)
            if len(cells) != len(header):
                yield number, f"expected {len(header)} fields, got {len(cells)}", raw
                continue
            yield number, dict(zip(header, cells, strict=True)), raw


def _json_records(path: Path) -> Iterator[tuple[int, Any, str]]:
    for record in iter_json_records(path, containers=()):
        yield record.number, record.error or record.value, record.raw


def _parquet_records(path: Path) -> Iterator[tuple[int, Any, str]]:
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            number += 1
            yield number, row, orjson.dumps(row, default=str).decode()


def read_csv_mapped(path: Path, mapping: dict[str, str] | None = None) -> ReaderOutput:
    """Yield request_metrics rows from a CSV file, using `mapping` for the column names."""
    return _rows(_csv_records(path), mapping)


def read_ndjson_mapped(path: Path, mapping: dict[str, str] | None = None) -> ReaderOutput:
    """Yield request_metrics rows from JSON lines (or a JSON array), using `mapping`."""
    return _rows(_json_records(path), mapping)


def read_parquet_mapped(path: Path, mapping: dict[str, str] | None = None) -> ReaderOutput:
    """Yield request_metrics rows from a Parquet file, a batch of rows at a time."""
    return _rows(_parquet_records(path), mapping)
