"""Canonical trace and span ids.

A trace id is 32 lower-case hex characters and a span id 16, whatever the source wrote. The
rule: a value of hex digits no longer than the canonical width is read as hex and left-padded
with zeros (Jaeger trims leading zeros, and 64-bit Jaeger trace ids have 16 digits). Any other
value is read as base64 only when it decodes to exactly the id's byte length (16 or 8), as
some OTLP/JSON exporters send. Anything else is invalid and raises ValueError.
"""

from __future__ import annotations

import base64
import binascii
import re

_HEX = re.compile(r"[0-9a-fA-F]+")
TRACE_ID_WIDTH = 32
SPAN_ID_WIDTH = 16


def _canonical_id(value: object, width: int, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    if len(text) <= width and _HEX.fullmatch(text):
        return text.lower().rjust(width, "0")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == width // 2:
        return raw.hex()
    raise ValueError(
        f"invalid {what} {text[:80]!r}: not hex of at most {width} digits "
        f"and not base64 of {width // 2} bytes"
    )


def trace_id(value: object) -> str | None:
    """Return the canonical trace id, None for a missing one, or raise ValueError."""
    return _canonical_id(value, TRACE_ID_WIDTH, "trace id")


def span_id(value: object) -> str | None:
    """Return the canonical span id, None for a missing one, or raise ValueError."""
    return _canonical_id(value, SPAN_ID_WIDTH, "span id")


def parent_span_id(value: object) -> str | None:
    """Return the canonical parent span id; an empty or all-zero id means a root span."""
    canonical = span_id(value)
    if canonical is None or canonical == "0" * SPAN_ID_WIDTH:
        return None
    return canonical
