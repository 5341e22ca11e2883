"""Readers for access logs: nginx, AWS ALB and Classic ELB, Envoy (and its Istio variant).

Each line is one request. Lines of another kind found in the same stream (nginx error-log
lines, Envoy application-log lines) are quarantined with a reason that names what they are,
never parsed as requests. `route` is the path without the query string, because query
strings carry API keys and tokens.

nginx: the combined format, optionally followed by `$request_time` as a bare number right
after the bytes, and by `key=value` fields: `rt` or `request_time` (seconds), `urt` or
`upstream_response_time`, `ust` or `upstream_status`, `rid` or `request_id`, `traceparent`.
Upstream values list one entry per attempt, separated by ", " (another server) or " : "
(an internal redirect); "-" marks an attempt without a response. `upstream_time_ms` is the
sum of the known times, `upstream_attempts` the number of entries (0 for a lone "-") and
`upstream_status` the last numeric status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from secobs import ids
from secobs.ingest.records import ReaderOutput, Rejected, Row, decode_raw
from secobs.ingest.source import open_binary
from secobs.netaddr import normalize_ip
from secobs.timeutil import parse_timestamp

NGINX_LINE = re.compile(
    r'^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r"(?P<status>\d{3}) (?P<bytes>\d+|-)(?P<rest>.*)$"
)
NGINX_ERROR = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[(?P<level>[a-z]+)\]")
ENVOY_LINE = re.compile(
    r'^\[(?P<time>\d{4}-\d{2}-\d{2}T[^\]]+)\] "(?P<request>[^"]*)" (?P<rest>.*)$'
)
ENVOY_APP_LOG = re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+\]\[\d+\]\[[a-z]+\]")
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
# nginx extras may be key="quoted value with spaces".
NGINX_TOKEN = re.compile(r'[A-Za-z_][\w-]*="(?:[^"\\]|\\.)*"|"(?:[^"\\]|\\.)*"|\S+')
FIELD = re.compile(r'(?P<key>[A-Za-z_][\w-]*)=(?P<value>"(?:[^"\\]|\\.)*"|\S*)')
ALB_TYPES = {"http", "https", "h2", "grpcs", "ws", "wss"}
XRAY_ROOT = re.compile(r"Root=1-(?P<time>[0-9a-fA-F]{8})-(?P<id>[0-9a-fA-F]{24})")

NGINX_RESPONSE_TIME = ("rt", "request_time")
NGINX_UPSTREAM_TIME = ("urt", "upstream_response_time")
NGINX_UPSTREAM_STATUS = ("ust", "upstream_status")
NGINX_REQUEST_ID = ("rid", "request_id", "req_id")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open_binary(path) as stream:
        for number, line in enumerate(stream, start=1):
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            text = decode_raw(line)
            if text.strip():
                yield number, text


def _read(path: Path, parse: Callable[[str], dict[str, Any] | str]) -> ReaderOutput:
    """Yield a request_metrics row per line that `parse` maps; a string result is a rejection."""
    for number, line in _lines(path):
        try:
            result = parse(line)
        except ValueError as error:
            result = str(error)
        if isinstance(result, str):
            yield Rejected(number, result, line)
        else:
            yield Row("request_metrics", number, result)


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return token[1:-1].replace('\\"', '"')
    return token


def _dash(value: str | None) -> str | None:
    return None if value in (None, "", "-") else value


def _request_line(request: str) -> tuple[str | None, str | None]:
    """Split "GET /path?query HTTP/1.1" into method and path (the query string is dropped)."""
    parts = request.split(" ")
    if len(parts) < 2:
        return None, None
    target = parts[1]
    if "://" in target:
        target = urlsplit(target).path or "/"
    return parts[0] or None, target.split("?", 1)[0] or None


def _client(value: str | None) -> dict[str, Any]:
    """Return client_ip (normalised) and, when the value is not an address, client_ip_raw."""
    value = _dash(value)
    if value is None:
        return {"client_ip": None}
    ip = normalize_ip(value)
    return {"client_ip": ip} if ip else {"client_ip": None, "client_ip_raw": value}


def _seconds_to_ms(value: str | None) -> float | None:
    value = _dash(value)
    if value is None:
        return None
    seconds = Decimal(value)
    if seconds < 0:  # AWS writes -1 when the time is not available
        return None
    return float(seconds * 1000)


def upstream_times(value: str | None) -> tuple[float | None, int]:
    """Sum an upstream time list ("0.004, 0.012", "1.500 : 1.499", "-") in ms, and count it."""
    entries = _upstream_entries(value)
    known = [entry for entry in entries if entry != "-"]
    if not known:
        return None, len(entries)
    try:
        total = sum((Decimal(entry) for entry in known), Decimal(0))
    except InvalidOperation:
        raise ValueError(f"upstream response time: expected seconds, got {value!r}") from None
    return float(total * 1000), len(entries)


def upstream_final_status(value: str | None) -> int | None:
    """Return the last numeric status of an upstream status list, or None."""
    statuses = [entry for entry in _upstream_entries(value) if entry.isdigit()]
    return int(statuses[-1]) if statuses else None


def _upstream_entries(value: str | None) -> list[str]:
    if value is None:
        return []
    entries = [entry.strip() for entry in re.split(r"[,:]", value) if entry.strip()]
    return [] if entries == ["-"] else entries


def _nginx_time(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%d/%b/%Y:%H:%M:%S %z")
    except ValueError:
        raise ValueError(f"time: expected dd/Mon/yyyy:HH:MM:SS +zzzz, got {value[:40]!r}") from None


def trace_context(value: str | None) -> str | None:
    """Return the trace id of a W3C traceparent, an uber-trace-id or a plain id; None if none."""
    value = _dash(value)
    if value is None:
        return None
    parts = value.split("-")
    if len(parts) == 4 and len(parts[0]) == 2:
        return ids.trace_id(parts[1])
    if ":" in value:
        return ids.trace_id(value.split(":", 1)[0])
    match = XRAY_ROOT.search(value)
    if match:
        return (match["time"] + match["id"]).lower()
    return ids.trace_id(value)


def parse_nginx(line: str) -> dict[str, Any] | str:
    """Parse one nginx access line, or return why the line is not one."""
    match = NGINX_LINE.match(line)
    if match is None:
        error = NGINX_ERROR.match(line)
        if error:
            return f"nginx error-log line ({error['level']}), not an access log record"
        return "not an nginx access log line (combined format expected)"
    method, route = _request_line(match["request"])
    fields: dict[str, str] = {}
    quoted: list[str] = []
    bare_time = None
    for position, token in enumerate(NGINX_TOKEN.findall(match["rest"])):
        field = FIELD.fullmatch(token)
        if field:
            fields[field["key"]] = _unquote(field["value"])
        elif token.startswith('"'):
            quoted.append(_unquote(token))
        elif position == 0 and re.fullmatch(r"\d+\.\d+", token):
            bare_time = token  # $request_time written right after the bytes
    upstream_ms, attempts = upstream_times(_first(fields, NGINX_UPSTREAM_TIME))
    response_time = _first(fields, NGINX_RESPONSE_TIME) or bare_time
    return {
        "ts": _nginx_time(match["time"]),
        "method": method,
        "route": route,
        "status_code": int(match["status"]),
        "bytes": None if match["bytes"] == "-" else int(match["bytes"]),
        "latency_ms": _seconds_to_ms(response_time),
        "upstream_time_ms": upstream_ms,
        "upstream_attempts": attempts if _first(fields, NGINX_UPSTREAM_TIME) is not None else None,
        "upstream_status": upstream_final_status(_first(fields, NGINX_UPSTREAM_STATUS)),
        "user_agent": _dash(quoted[1]) if len(quoted) > 1 else None,
        "actor_id": _dash(match["user"]),
        "request_id": _dash(_first(fields, NGINX_REQUEST_ID)),
        "trace_id": trace_context(fields.get("traceparent") or fields.get("trace_id")),
        **_client(match["client"]),
    }


def _first(fields: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in fields:
            return fields[name]
    return None


def parse_elb(line: str) -> dict[str, Any] | str:
    """Parse one AWS ALB line, or a Classic ELB line (which has no leading type field)."""
    tokens = TOKEN.findall(line)
    if tokens and tokens[0] in ALB_TYPES:
        tokens = tokens[1:]
        alb = True
    else:
        alb = False
    if len(tokens) < 12:
        return f"not an AWS load balancer access log line ({len(tokens)} fields)"
    (time, name, client, target, request_s, target_s, response_s, status, target_status) = tokens[
        :9
    ]
    parts = [_seconds_to_ms(value) for value in (request_s, target_s, response_s)]
    method, route = _request_line(_unquote(tokens[11]))
    values: dict[str, Any] = {
        "ts": parse_timestamp(time),
        "service": name,
        "method": method,
        "route": route,
        "status_code": _int(status),
        "upstream_status": _int(target_status),
        "latency_ms": None if None in parts else sum(part for part in parts if part is not None),
        "upstream_time_ms": parts[1],
        "upstream_attempts": None if _dash(target) is None else 1,
        "bytes": _int(tokens[10]),
        "user_agent": _dash(_unquote(tokens[12])) if len(tokens) > 12 else None,
        **_client(client),
    }
    if alb and len(tokens) > 16:
        trace_header = _dash(_unquote(tokens[16]))
        values["request_id"] = trace_header
        values["trace_id"] = trace_context(trace_header)
    return values


def _int(value: str) -> int | None:
    value = _dash(value)
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def parse_envoy(line: str) -> dict[str, Any] | str:
    """Parse one line of Envoy's default access log format, or of Istio's variant."""
    match = ENVOY_LINE.match(line)
    if match is None:
        if ENVOY_APP_LOG.match(line):
            return "Envoy application log line, not an access log record"
        return "not an Envoy access log line (default format expected)"
    tokens = TOKEN.findall(match["rest"])
    istio = len(tokens) > 2 and tokens[2].startswith('"')
    if istio:  # Istio writes a quoted field after the response flags
        tokens = tokens[:2] + tokens[3:]
    if len(tokens) < 9:
        return f"not an Envoy access log line ({len(tokens)} fields after the request)"
    method, route = _request_line(match["request"])
    forwarded = _dash(_unquote(tokens[6]))
    client = forwarded.split(",")[0].strip() if forwarded else None
    if client is None and istio and len(tokens) > 14:
        client = tokens[14]
    return {
        "ts": parse_timestamp(match["time"]),
        "method": method,
        "route": route,
        "status_code": _int(tokens[0]),
        "bytes": _int(tokens[3]),
        "latency_ms": _ms(tokens[4]),
        "upstream_time_ms": _ms(tokens[5]),
        "user_agent": _dash(_unquote(tokens[7])),
        "request_id": _dash(_unquote(tokens[8])),
        "service": _dash(_unquote(tokens[9])) if len(tokens) > 9 else None,
        **_client(client),
    }


def _ms(value: str) -> float | None:
    value = _dash(value)
    return None if value is None else float(value)


def read_nginx(path: Path) -> ReaderOutput:
    """Yield request_metrics rows from an nginx access log."""
    return _read(path, parse_nginx)


def read_elb(path: Path) -> ReaderOutput:
    """Yield request_metrics rows from an AWS ALB or Classic ELB access log."""
    return _read(path, parse_elb)


def read_envoy(path: Path) -> ReaderOutput:
    """Yield request_metrics rows from an Envoy or Istio access log."""
    return _read(path, parse_envoy)
