"""Readers for CSV files whose header uses canonical column names.

`requests-csv` loads request_metrics (the layout the sample generator and many metric exports
write); `spans-csv` loads spans from a flat span list. Unknown columns are ignored; a missing
required column rejects the whole file before anything is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from secobs import ids
from secobs.errors import InputError
from secobs.ingest.records import FieldError, ReaderOutput, Rejected, Row
from secobs.netaddr import normalize_ip
from secobs.timeutil import parse_timestamp

# CSV fields may hold long user agents or JSON; the csv module's default limit is 128 KiB.
csv.field_size_limit(16 * 1024 * 1024)


def _text(value: str) -> str | None:
    return value if value != "" else None


def _integer(value: str) -> int | None:
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {value[:40]!r}")
    return int(number)


def _number(value: str) -> float | None:
    if value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value[:40]!r}") from None


def _timestamp(value: str) -> Any:
    return None if value == "" else parse_timestamp(value)


def _trace_id(value: str) -> str | None:
    return ids.trace_id(value)


def _span_id(value: str) -> str | None:
    return ids.span_id(value)


def _parent_span_id(value: str) -> str | None:
    return ids.parent_span_id(value)


REQUEST_COLUMNS: dict[str, Callable[[str], Any]] = {
    "ts": _timestamp,
    "request_id": _text,
    "trace_id": _trace_id,
    "service": _text,
    "env": _text,
    "route": _text,
    "method": _text,
    "status_code": _integer,
    "latency_ms": _number,
    "bytes": _integer,
    "client_ip": _text,
    "user_agent": _text,
    "actor_id": _text,
    "tenant_id": _text,
}

SPAN_COLUMNS: dict[str, Callable[[str], Any]] = {
    "trace_id": _trace_id,
    "span_id": _span_id,
    "parent_span_id": _parent_span_id,
    "service": _text,
    "name": _text,
    "kind": _text,
    "start_ns": _integer,
    "end_ns": _integer,
    "status_code": _text,
    "enduser_id": _text,
    "tenant_id": _text,
    "auth_method": _text,
    "risk_score": _integer,
    "http_route": _text,
    "http_status_code": _integer,
    "request_id": _text,
}


def _read_csv(
    path: Path,
    table: str,
    converters: dict[str, Callable[[str], Any]],
    required: tuple[str, ...],
    finish: Callable[[dict[str, Any]], None],
) -> ReaderOutput:
    with path.open("r", encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            return
        header = [name.strip() for name in header]
        missing = [name for name in required if name not in header]
        if missing:
            raise InputError(
                f"CSV header lacks required column(s) {', '.join(missing)} for {table}",
                path=str(path),
                record=1,
            )
        positions = [(index, name) for index, name in enumerate(header) if name in converters]
        line_number = reader.line_num
        for cells in reader:
            record = line_number + 1
            line_number = reader.line_num
            if not cells or cells == [""]:
                continue
            raw = _unparse(cells)
            if len(cells) != len(header):
                yield Rejected(record, f"expected {len(header)} fields, got {len(cells)}", raw)
                continue
            values: dict[str, Any] = {}
            try:
                for index, name in positions:
                    try:
                        values[name] = converters[name](cells[index].strip())
                    except ValueError as error:
                        raise FieldError(f"column {name}: {error}") from None
                for name in required:
                    if values.get(name) is None:
                        raise FieldError(f"column {name}: missing value")
                finish(values)
            except FieldError as error:
                yield Rejected(record, str(error), raw)
                continue
            yield Row(table, record, values)


def _unparse(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def _finish_request(values: dict[str, Any]) -> None:
    address = values.get("client_ip")
    if address is not None and address.strip().lower() in ("-", "null", "none"):
        values["client_ip"] = None  # placeholders that exports write for "no address"
    elif address is not None:
        values["client_ip"] = normalize_ip(address)
        if values["client_ip"] is None:
            values["client_ip_raw"] = address
    latency = values.get("latency_ms")
    if latency is not None and latency < 0:
        raise FieldError(f"column latency_ms: expected a duration of 0 or more, got {latency}")


def _finish_span(values: dict[str, Any]) -> None:
    start, end = values.get("start_ns"), values.get("end_ns")
    values["start_ts"] = start
    if start is not None and end is not None:
        values["duration_ms"] = (end - start) / 1_000_000


def read_requests_csv(path: Path) -> ReaderOutput:
    """Yield request_metrics rows from a CSV with canonical column names."""
    return _read_csv(path, "request_metrics", REQUEST_COLUMNS, ("ts",), _finish_request)


def read_spans_csv(path: Path) -> ReaderOutput:
    """Yield spans rows from a CSV with canonical column names."""
    return _read_csv(path, "spans", SPAN_COLUMNS, ("trace_id", "span_id"), _finish_span)
