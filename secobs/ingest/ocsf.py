"""Reader for OCSF events as JSON (lines, arrays) and as the Parquet Amazon Security Lake writes.

Authentication (3002), Account Change (3001), API Activity (6003, 3005 in OCSF 1.0.0-rc.2)
and the pre-1.0 Cloud API class (5001) load into audit_events. HTTP Activity (4002) loads
into request_metrics, because it carries what that table is for: route, status code and
duration.

OCSF specifies `duration` in milliseconds. Some producers write nanoseconds there (the
DataDog nginx mapping writes 2.02e8 for 0.202 s), so a duration of more than one hour on an
HTTP exchange is read as nanoseconds; `start_time`/`end_time`, when both are present, win.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from secobs.ingest.auditmap import (
    epoch_time,
    flag,
    ip_and_source,
    map_record,
    obj,
    text,
)
from secobs.ingest.jsonstream import iter_json_records
from secobs.ingest.records import FieldError, ReaderOutput, Rejected, Row, describe

FORMAT = "ocsf"
# 3005 is API Activity in OCSF 1.0.0-rc.2 (later 6003); 5001 is the pre-1.0 Cloud API class.
AUDIT_CLASSES = {3001, 3002, 3005, 5001, 6003}
HTTP_ACTIVITY = 4002
PARQUET_BATCH_ROWS = 10_000
HOUR_MS = 3_600_000


def read_ocsf(path: Path) -> ReaderOutput:
    """Yield rows for OCSF events in JSON lines, a JSON array or single documents."""
    for record in iter_json_records(path, containers=()):
        if record.error is not None:
            yield Rejected(record.number, record.error, record.raw)
            continue
        yield map_ocsf(record.number, record.value, record.raw)


def read_ocsf_parquet(path: Path) -> ReaderOutput:
    """Yield rows for OCSF events in Parquet, reading a batch of rows at a time."""
    number = 0
    for row in _parquet_rows(path):
        number += 1
        raw = orjson.dumps(row, default=str).decode()
        yield map_ocsf(number, row, raw)


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            yield _plain(row)


def _plain(value: Any) -> Any:
    """Turn Arrow map columns (lists of (key, value) pairs) back into objects."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
            return {str(key): _plain(item) for key, item in value}
        return [_plain(item) for item in value]
    return value


def map_ocsf(number: int, event: Any, raw: str) -> Row | Rejected:
    """Map one OCSF event to a row of audit_events or request_metrics by its class."""
    if not isinstance(event, dict):
        return Rejected(number, f"expected a JSON object, got {describe(event)}", raw)
    class_uid = event.get("class_uid")
    if class_uid == HTTP_ACTIVITY:
        try:
            return Row("request_metrics", number, map_http_activity(event))
        except (FieldError, ValueError, TypeError) as error:
            return Rejected(number, str(error), raw)
    if class_uid not in AUDIT_CLASSES:
        return Rejected(
            number,
            f"class_uid: expected one of 3001, 3002, 3005, 4002, 5001, 6003, got {class_uid!r}",
            raw,
        )
    item = map_record(number, event, raw, FORMAT, map_ocsf_audit)
    assert item is not None
    return item


def unmapped(event: dict[str, Any]) -> dict[str, Any]:
    """Return `unmapped` as an object; pre-1.0 producers write a list of [key, value] pairs."""
    value = event.get("unmapped")
    if isinstance(value, list):
        pairs = [item for item in value if isinstance(item, list | tuple) and len(item) == 2]
        return {str(key): item for key, item in pairs}
    return obj(value)


def ocsf_result(event: dict[str, Any]) -> str | None:
    """Map status (or status_id 1/2) to success/failure; other statuses are lower-cased."""
    status = text(event.get("status"))
    status_id = event.get("status_id")
    if status_id == 1 or (status and status.lower() == "success"):
        return "success"
    if status_id == 2 or (status and status.lower() == "failure"):
        return "failure"
    return status.lower() if status else None


def map_ocsf_audit(event: dict[str, Any]) -> dict[str, Any]:
    """Map an OCSF audit class event (3001, 3002, 5001, 6003) to audit_events columns."""
    api = obj(event.get("api"))
    response = obj(api.get("response"))
    actor = obj(event.get("actor"))
    identity = obj(event.get("identity"))  # pre-1.0 name of `actor`
    user = obj(actor.get("user")) or obj(identity.get("user"))
    session = obj(actor.get("session")) or obj(identity.get("session"))
    metadata = obj(event.get("metadata"))
    source = obj(event.get("src_endpoint"))
    extra = unmapped(event)
    account = text(user.get("account_uid")) or text(obj(user.get("account")).get("uid"))
    recipient = text(extra.get("recipientAccountId")) or text(
        obj(obj(event.get("cloud")).get("account")).get("uid")
    )
    result = ocsf_result(event)
    reason = text(event.get("status_detail")) or text(response.get("error"))
    if result == "failure" and reason is None:
        reason = text(response.get("message"))
    address = ip_and_source(source.get("ip"))
    if address["client_ip"] is None and address["source_host"] is None:
        address = ip_and_source(source.get("domain"))
    mfa = event.get("mfa")
    if mfa is None:
        mfa = session.get("mfa")
    return {
        "ts": _time(event),
        "version": text(metadata.get("version")),
        "service": text(obj(api.get("service")).get("name"))
        or text(obj(metadata.get("product")).get("name")),
        "event": text(api.get("operation")) or text(event.get("type_name")),
        "severity": text(event.get("severity")),
        "result": result,
        "reason": reason,
        "event_id": text(metadata.get("uid")) or text(event.get("ref_event_uid")),
        "request_id": text(obj(api.get("request")).get("uid")),
        "actor_id": text(user.get("name")) or text(user.get("uid")),
        "actor_type": text(user.get("type")),
        "actor_account": account,
        "tenant_id": recipient or account,
        "target_account": recipient,
        "user_agent": text(obj(event.get("http_request")).get("user_agent")),
        "auth_method": text(event.get("auth_protocol")),
        "mfa": flag(mfa),
        "request_parameters": text(extra.get("requestParameters")),
        "response_elements": text(extra.get("responseElements")),
        **address,
    }


def _time(event: dict[str, Any]) -> Any:
    value = event.get("time", event.get("_time"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_time(value)
    return None


def http_duration_ms(event: dict[str, Any]) -> float | None:
    """Return the exchange's duration in ms (see the module notes on the unit trap)."""
    start, end = event.get("start_time"), event.get("end_time")
    if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
        return float(end - start)
    duration = event.get("duration")
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        return None
    if duration > HOUR_MS:
        return duration / 1_000_000
    return float(duration)


def map_http_activity(event: dict[str, Any]) -> dict[str, Any]:
    """Map an OCSF HTTP Activity (4002) event to request_metrics columns."""
    request = obj(event.get("http_request"))
    response = obj(event.get("http_response"))
    url = obj(request.get("url"))
    code = response.get("code")
    length = response.get("length")
    address = ip_and_source(obj(event.get("src_endpoint")).get("ip"))
    return {
        "ts": _time(event),
        "service": text(obj(obj(event.get("metadata")).get("product")).get("name")),
        "route": text(url.get("path")),
        "method": text(request.get("http_method")),
        "status_code": code if isinstance(code, int) and not isinstance(code, bool) else None,
        "latency_ms": http_duration_ms(event),
        "bytes": length if isinstance(length, int) and not isinstance(length, bool) else None,
        "client_ip": address["client_ip"],
        "client_ip_raw": address["source_host"],
        "user_agent": text(request.get("user_agent")),
        "request_id": text(request.get("uid")),
    }
