"""What the audit source readers share: the record loop, lenient times, addresses and JSON text.

External audit exports are messier than audit.v1: hand-made fixtures lack times, timestamps
come in several layouts, and address fields hold service names. The policy, the same for every
source: a record that is a JSON object is loaded; a time that is missing or unreadable gives
a NULL `ts` (the row lands in the `day=unknown` partition and `raw` keeps the original); an
address that is not an IP gives a NULL `client_ip` with the original in `source_host`.
Only records that are not JSON objects, or that a mapper rejects, go to quarantine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from secobs.ingest.jsonstream import iter_json_records
from secobs.ingest.records import FieldError, ReaderOutput, Rejected, Row, describe
from secobs.netaddr import normalize_ip
from secobs.timeutil import parse_timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Values that mean "no address" in the exports seen so far.
_NO_ADDRESS = {"", "-", "null", "none", "unknown", "n/a"}
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?$")

Mapper = Callable[[dict[str, Any]], dict[str, Any]]


def read_audit_source(
    path: Path, fmt: str, mapper: Mapper, containers: tuple[str, ...] = ("Records",)
) -> ReaderOutput:
    """Yield an audit_events row per record, or a Rejected record saying why it was not mapped."""
    for record in iter_json_records(path, containers):
        if record.error is not None:
            yield Rejected(record.number, record.error, record.raw)
            continue
        item = map_record(record.number, record.value, record.raw, fmt, mapper)
        if item is not None:
            yield item


def map_record(
    number: int, value: Any, raw: str, fmt: str, mapper: Mapper
) -> Row | Rejected | None:
    """Map one parsed record with `mapper`, or reject it with the reason."""
    if not isinstance(value, dict):
        return Rejected(number, f"expected a JSON object, got {describe(value)}", raw)
    try:
        values = mapper(value)
    except (FieldError, ValueError, TypeError) as error:
        return Rejected(number, str(error), raw)
    values["source_format"] = fmt
    values["raw"] = raw
    return Row("audit_events", number, values)


def lenient_time(value: Any) -> datetime | None:
    """Read a time written as RFC 3339, "YYYY-MM-DD HH:MM:SS[.f]" or epoch; None if unreadable.

    Numbers are epoch seconds, milliseconds, microseconds or nanoseconds, told apart by size
    (a value below 1e11 is seconds, below 1e14 milliseconds, below 1e17 microseconds).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return epoch_time(value)
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def epoch_time(value: float) -> datetime | None:
    """Convert an epoch number in s, ms, µs or ns (by magnitude) to a UTC datetime."""
    magnitude = abs(value)
    if magnitude < 1e11:
        micros = value * 1_000_000
    elif magnitude < 1e14:
        micros = value * 1000
    elif magnitude < 1e17:
        micros = value
    else:
        micros = value / 1000
    try:
        return _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:
        return None


def first_time(*values: Any) -> datetime | None:
    """Return the first of the values that reads as a time."""
    for value in values:
        parsed = lenient_time(value)
        if parsed is not None:
            return parsed
    return None


def classify_source(value: Any) -> tuple[str | None, str | None, str | None]:
    """Split an address field into (client_ip, source_host, source_kind).

    An IP address is normalised (kind "ip"). "AWS Internal" is kind "aws_internal", a name
    under amazonaws.com "aws_service", another host name "hostname", anything else "invalid".
    Empty, "-" and "null" mean no address at all.
    """
    if value is None or isinstance(value, bool):
        return None, None, None
    text = str(value).strip()
    if text.lower() in _NO_ADDRESS:
        return None, None, None
    ip = normalize_ip(text)
    if ip is not None:
        return ip, None, "ip"
    if text == "AWS Internal":
        return None, text, "aws_internal"
    lowered = text.lower()
    if lowered.endswith(".amazonaws.com") or lowered == "amazonaws.com":
        return None, text, "aws_service"
    if _HOSTNAME.match(text) and "." in text:
        return None, text, "hostname"
    return None, text, "invalid"


def json_text(value: Any) -> str | None:
    """Return a value as compact JSON text, None for JSON null or absent."""
    if value is None:
        return None
    return orjson.dumps(value).decode()


def text(value: Any) -> str | None:
    """Return a scalar as a string (None for null or empty); objects become JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json_text(value)
    return str(value)


def flag(value: Any) -> bool | None:
    """Read a boolean written as true/false, "true"/"false", "Yes"/"No" or 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
    return None


def obj(value: Any) -> dict[str, Any]:
    """Return the value when it is an object, else an empty one (absent or null blocks)."""
    return value if isinstance(value, dict) else {}


def lower_keys(record: dict[str, Any]) -> dict[str, Any]:
    """Return the record with lower-cased top-level keys (some pipelines lower-case them)."""
    return {key.lower(): value for key, value in record.items()}


def ip_and_source(value: Any) -> dict[str, Any]:
    """Return the client_ip, source_host and source_kind columns for an address field."""
    ip, host, kind = classify_source(value)
    return {"client_ip": ip, "source_host": host, "source_kind": kind}
