"""Registration of the formats responders export: cloud audit logs, traces and access logs.

Each format is detected from content by a `sniff` test over the file's first bytes. The JSON
tests look at the first record, whatever the layout (JSON lines, an array, a wrapper document
or a document longer than the sample, where they look for the format's own field names).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pyarrow.parquet as pq

from secobs.ingest import accesslogs
from secobs.ingest.accesslogs import read_elb, read_envoy, read_nginx
from secobs.ingest.cloudtrail import read_cloudtrail
from secobs.ingest.cloudtrail_sql import read_cloudtrail_fast
from secobs.ingest.entra import read_entra_signin
from secobs.ingest.formats import Format, register
from secobs.ingest.gcp import read_gcp_audit
from secobs.ingest.generic import (
    TRACE_CONTEXT_FIELDS,
    read_csv_mapped,
    read_ndjson_mapped,
    read_parquet_mapped,
)
from secobs.ingest.jaeger import read_jaeger
from secobs.ingest.k8s import read_k8s_audit
from secobs.ingest.ocsf import read_ocsf, read_ocsf_parquet
from secobs.ingest.okta import read_okta
from secobs.ingest.okta_sql import read_okta_fast
from secobs.ingest.source import Sample
from secobs.ingest.zipkin import read_zipkin

PARQUET_MAGIC = b"PAR1"
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_ADDRESS_PORT = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d+$")


def first_record(sample: Sample) -> Any:
    """Return the first record of a JSON sample: a line, an array item or a wrapped record."""
    value = sample.first_json
    if value is None:
        for line in sample.head.splitlines()[1:20]:
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            break
    if isinstance(value, list):
        return value[0] if value else None
    if isinstance(value, dict):
        for key in ("Records", "items", "entries", "records", "value"):
            items = value.get(key)
            if isinstance(items, list) and items and isinstance(items[0], dict):
                return items[0]
        events = value.get("logEvents")
        if isinstance(events, list) and events and isinstance(events[0], dict):
            try:
                return orjson.loads(events[0].get("message") or "")
            except orjson.JSONDecodeError:
                return None
    return value


def _record(sample: Sample) -> dict[str, Any]:
    value = first_record(sample)
    return value if isinstance(value, dict) else {}


def is_cloudtrail(sample: Sample) -> bool:
    record = _record(sample)
    if "eventSource" in record or ("eventName" in record and "userIdentity" in record):
        return True
    if "eventType" in record and "recipientAccountId" in record:
        return True
    head = sample.head
    # A document longer than the sample: look for CloudTrail's own field names.
    return (b'"Records"' in head or b'"logEvents"' in head) and (
        b"eventSource" in head or b"userIdentity" in head
    )


def is_okta(sample: Sample) -> bool:
    record = _record(sample)
    return (
        "eventType" in record
        and isinstance(record.get("actor"), dict)
        and bool(
            {"published", "uuid", "outcome", "legacyEventType", "displayMessage"} & record.keys()
        )
    )


def is_k8s_audit(sample: Sample) -> bool:
    record = _record(sample)
    version = str(record.get("apiVersion", ""))
    return record.get("kind") == "Event" and (
        version.startswith("audit.k8s.io") or bool({"verb", "auditID", "objectRef"} & record.keys())
    )


def is_gcp_audit(sample: Sample) -> bool:
    record = _record(sample)
    return isinstance(record.get("protoPayload", record.get("protopayload")), dict)


def is_entra_signin(sample: Sample) -> bool:
    record = {key.lower(): value for key, value in _record(sample).items()}
    category = str(record.get("category", ""))
    return isinstance(record.get("properties"), dict) and (
        "signin" in category.lower() or "resulttype" in record
    )


def _class_uid(sample: Sample) -> Any:
    return _record(sample).get("class_uid")


def is_ocsf(sample: Sample) -> bool:
    value = _class_uid(sample)
    return isinstance(value, int) and value != 4002


def is_ocsf_http(sample: Sample) -> bool:
    return _class_uid(sample) == 4002


def _parquet_columns(sample: Sample) -> list[str]:
    if not sample.head.startswith(PARQUET_MAGIC) or sample.compressed:
        return []
    try:
        return pq.ParquetFile(sample.path).schema_arrow.names
    except (OSError, ValueError):
        return []


def is_ocsf_parquet(sample: Sample) -> bool:
    return "class_uid" in _parquet_columns(sample)


def is_parquet(sample: Sample) -> bool:
    return bool(_parquet_columns(sample))


def is_jaeger(sample: Sample) -> bool:
    value = sample.first_json
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        traces = value["data"]
        return bool(traces) and isinstance(traces[0], dict) and "spans" in traces[0]
    record = _record(sample)
    if "traceID" in record and ("spans" in record or "spanID" in record):
        return True
    return b'"traceID"' in sample.head and b'"spanID"' in sample.head


def is_zipkin(sample: Sample) -> bool:
    value = sample.first_json
    if isinstance(value, list) and value and isinstance(value[0], list):
        value = value[0]
    if isinstance(value, list):
        first = value[0] if value else {}
        return isinstance(first, dict) and "traceId" in first and "id" in first
    head = sample.head
    return head.lstrip().startswith(b"[") and b'"traceId"' in head and b'"localEndpoint"' in head


def _text_lines(sample: Sample, count: int = 10) -> list[str]:
    return [line for line in sample.text.splitlines() if line.strip()][:count]


def is_nginx(sample: Sample) -> bool:
    lines = _text_lines(sample)
    return bool(lines) and any(accesslogs.NGINX_LINE.match(line) for line in lines)


def is_envoy(sample: Sample) -> bool:
    lines = _text_lines(sample)
    return bool(lines) and any(accesslogs.ENVOY_LINE.match(line) for line in lines)


def is_elb(sample: Sample) -> bool:
    lines = _text_lines(sample, 1)
    if not lines:
        return False
    tokens = accesslogs.TOKEN.findall(lines[0])
    if tokens and tokens[0] in accesslogs.ALB_TYPES:
        tokens = tokens[1:]
    return (
        len(tokens) >= 12
        and bool(_ISO_TIME.match(tokens[0]))
        and bool(_ADDRESS_PORT.match(tokens[2]))
    )


def is_trace_context_csv(sample: Sample) -> bool:
    header = set(sample.csv_header)
    return bool(header & {"ts", "time", "timestamp"}) and bool(header & TRACE_CONTEXT_FIELDS)


FORMATS = [
    Format(
        "cloudtrail",
        "audit_events",
        'AWS CloudTrail: S3 log files {"Records":[...]} (gzip too), JSON lines, '
        "or CloudWatch Logs subscription envelopes",
        '{"Records":[{"eventTime":"2023-07-19T21:25:09Z","eventSource":"iam.amazonaws.com",'
        '"eventName":"CreateUser",...}]}',
        read_cloudtrail_fast,
        is_cloudtrail,
        priority=30,
        fallback=read_cloudtrail,
    ),
    Format(
        "okta",
        "audit_events",
        "Okta System Log: an API page (JSON array of LogEvents) or JSON lines",
        '{"published":"2024-04-02T19:17:37.621Z","eventType":"user.session.start",'
        '"actor":{...},"outcome":{"result":"FAILURE"},...}',
        read_okta_fast,
        is_okta,
        priority=32,
        fallback=read_okta,
    ),
    Format(
        "k8s-audit",
        "audit_events",
        "Kubernetes audit events (audit.k8s.io Event), JSON lines or an EventList",
        '{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"create",'
        '"objectRef":{"resource":"pods",...},...}',
        read_k8s_audit,
        is_k8s_audit,
        priority=34,
    ),
    Format(
        "gcp-audit",
        "audit_events",
        "Google Cloud Audit Logs: LogEntry records with an AuditLog protoPayload",
        '{"timestamp":"2023-03-08T18:52:52.558Z","protoPayload":{"methodName":'
        '"v1.compute.subnetworks.patch",...},...}',
        read_gcp_audit,
        is_gcp_audit,
        priority=36,
    ),
    Format(
        "entra-signin",
        "audit_events",
        "Microsoft Entra ID (Azure AD) sign-in logs in the diagnostic-settings envelope",
        '{"time":"2025-01-15T09:30:45.123Z","category":"SignInLogs","resultType":"50126",'
        '"properties":{...}}',
        read_entra_signin,
        is_entra_signin,
        priority=38,
    ),
    Format(
        "ocsf",
        "audit_events",
        "OCSF Authentication (3002), Account Change (3001), API Activity (6003) as JSON",
        '{"class_uid":3002,"time":1668097474000,"actor":{"user":{"name":"anaya"}},'
        '"status":"Failure",...}',
        read_ocsf,
        is_ocsf,
        priority=40,
    ),
    Format(
        "ocsf-http",
        "request_metrics",
        "OCSF HTTP Activity (4002) as JSON",
        '{"class_uid":4002,"time":1424379036000,"http_request":{...},'
        '"http_response":{"code":206},...}',
        read_ocsf,
        is_ocsf_http,
        priority=41,
    ),
    Format(
        "ocsf-parquet",
        "audit_events",
        "OCSF events in Parquet as Amazon Security Lake writes them (4002 goes to request_metrics)",
        "PAR1 ... columns class_uid, time, actor, api, src_endpoint, ...",
        read_ocsf_parquet,
        is_ocsf_parquet,
        priority=42,
    ),
    Format(
        "jaeger",
        "spans",
        'Jaeger JSON: the query API\'s {"data":[trace]}, a bare trace, or a span array',
        '{"data":[{"traceID":"2be38093ead7a083","spans":[...],"processes":{...}}]}',
        read_jaeger,
        is_jaeger,
        priority=44,
    ),
    Format(
        "zipkin",
        "spans",
        "Zipkin v2 JSON: an array of spans (or of traces)",
        '[{"traceId":"a03ee8fff1dcd9b9","id":"7a778764a0d0b594","kind":"SERVER",'
        '"timestamp":1571896375310740,...}]',
        read_zipkin,
        is_zipkin,
        priority=46,
    ),
    Format(
        "elb",
        "request_metrics",
        "AWS ALB and Classic ELB access logs",
        "https 2018-07-02T22:23:00.186641Z app/my-lb/50dc6c 192.168.131.39:2817 "
        '10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://... HTTP/1.1" ...',
        read_elb,
        is_elb,
        priority=60,
    ),
    Format(
        "envoy",
        "request_metrics",
        "Envoy default access log format, and Istio's variant",
        '[2019-03-06T09:31:27.354Z] "GET /status/418 HTTP/1.1" 418 - 0 135 11 10 "-" '
        '"curl/7.60.0" "d209e46f-..." "httpbin:8000" "172.30.146.73:80"',
        read_envoy,
        is_envoy,
        priority=62,
    ),
    Format(
        "nginx",
        "request_metrics",
        "nginx access log (combined, with request_time and upstream fields)",
        '10.0.0.5 - - [01/Jun/2024:10:00:00 +0000] "GET /api/orders HTTP/1.1" 200 512 '
        'rt=0.020 urt="0.004, 0.012" ust="502, 200"',
        read_nginx,
        is_nginx,
        priority=64,
    ),
    Format(
        "csv",
        "request_metrics",
        "CSV of requests with any column names (--map COLUMN=FIELD); detected when it "
        "carries a trace context column such as traceparent",
        "ts,request_id,method,path,status,traceparent",
        read_csv_mapped,
        is_trace_context_csv,
        priority=85,
        read_mapped=read_csv_mapped,
    ),
    Format(
        "ndjson",
        "request_metrics",
        "JSON lines of requests with any field names (--map COLUMN=FIELD; never detected)",
        '{"time":"2024-06-10T06:13:20.100Z","duration":12.5,"status":200}',
        read_ndjson_mapped,
        None,
        read_mapped=read_ndjson_mapped,
    ),
    Format(
        "parquet",
        "request_metrics",
        "Parquet of requests with any column names (--map COLUMN=FIELD)",
        "PAR1 ... columns time, duration, status, ...",
        read_parquet_mapped,
        is_parquet,
        priority=95,
        read_mapped=read_parquet_mapped,
    ),
]

for _format in FORMATS:
    register(_format)
