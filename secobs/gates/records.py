"""Read the events of an NDJSON file or a JSON array, each with its record number.

A record number is the line number (from 1) in NDJSON, including blank lines, and the index
(from 0) in a JSON array, so a user can go straight to the record. Gzip files are read whole.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from secobs.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One record: its number, the parsed event, or the reason it could not be parsed."""

    record: int
    event: Any = None
    error: str | None = None


def open_bytes(path: Path) -> BinaryIO:
    """Open a file for reading bytes, decompressing it when it starts with the gzip magic."""
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        raise InputError("file not found", path=str(path)) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", path=str(path)) from None
    if stream.read(2) == GZIP_MAGIC:
        stream.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    stream.seek(0)
    return stream


def is_json_array(path: Path) -> bool:
    """Tell whether the file is one JSON array (first non-blank byte `[`) rather than NDJSON."""
    with open_bytes(path) as stream:
        head = stream.read(4096)
    return head.removeprefix(BOM).lstrip()[:1] == b"["


def parse_line(line: bytes) -> tuple[Any, str | None]:
    """Parse one NDJSON line; return (event, None) or (None, reason)."""
    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError as error:
        # orjson's message names the position, never the text itself.
        return None, f"invalid JSON: {error}"


def iter_records(path: Path) -> Iterator[EventRecord]:
    """Yield every record of an NDJSON file or JSON array; blank NDJSON lines are skipped."""
    if is_json_array(path):
        yield from _iter_array(path)
        return
    with open_bytes(path) as stream:
        for number, line in enumerate(stream, start=1):
            if number == 1:
                line = line.removeprefix(BOM)
            if not line.strip():
                continue
            event, error = parse_line(line)
            yield EventRecord(number, event, error)


def _iter_array(path: Path) -> Iterator[EventRecord]:
    with open_bytes(path) as stream:
        data = stream.read().removeprefix(BOM)
    try:
        events = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InputError(f"invalid JSON array: {error}", path=str(path)) from None
    for index, event in enumerate(events):
        yield EventRecord(index, event)


def json_type_name(value: Any) -> str:
    """Return the JSON Schema type name of a parsed JSON value ("integer" before "number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
