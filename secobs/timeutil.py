"""Timestamps to UTC instants.

Offsets are applied, never dropped. A value without an offset is read as UTC: exports rarely
carry local time without saying so, and guessing a zone would silently shift every event.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# Python 3.11's fromisoformat reads at most 6 fractional digits; longer fractions (nanoseconds)
# are cut to microseconds before parsing, which is the precision of the timestamp columns.
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(value: object) -> datetime:
    """Parse an RFC 3339 or ISO 8601 string into an aware UTC datetime, or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")
    text = _LONG_FRACTION.sub(r"\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid timestamp {value[:64]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def from_unix_nanos(nanos: int) -> datetime:
    """Return the UTC datetime of a Unix time in nanoseconds, cut to microseconds."""
    return _EPOCH + timedelta(microseconds=nanos // 1000)
