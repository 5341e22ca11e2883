"""What a format reader yields: canonical rows and rejected records, plus field checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that goes to quarantine: its number in the file, why, and its text as read."""

    record: int
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class Row:
    """A canonical row for `table`, with the number of its record in the source file."""

    table: str
    record: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ArrowBatch:
    """Rows for `table` already in columnar form: every schema column but source_file."""

    table: str
    data: Any  # pyarrow.Table


ReaderOutput = Iterator[Row | Rejected | ArrowBatch]


class FieldError(ValueError):
    """A field with a value of the wrong type or shape; the message names the field."""


def describe(value: Any) -> str:
    """Describe a JSON value for an error message without echoing long or secret text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def optional_str(block: dict, key: str, path: str) -> str | None:
    value = block.get(key)
    if value is None or isinstance(value, str):
        return value
    raise FieldError(f"{path}: expected a string, got {describe(value)}")


def optional_object(block: dict, key: str, path: str) -> dict:
    value = block.get(key)
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise FieldError(f"{path}: expected an object, got {describe(value)}")


def optional_bool(block: dict, key: str, path: str) -> bool | None:
    value = block.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise FieldError(f"{path}: expected true or false, got {describe(value)}")


def optional_number(block: dict, key: str, path: str) -> float | None:
    value = block.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise FieldError(f"{path}: expected a number, got {describe(value)}")


def optional_strings(block: dict, key: str, path: str) -> list[str] | None:
    value = block.get(key)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise FieldError(f"{path}: expected an array of strings, got {describe(value)}")


def risk_score(value: Any, path: str) -> int | None:
    """Return a risk score as an integer from 0 to 100, or raise FieldError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"{path}: expected a number from 0 to 100, got {describe(value)}")
    if not 0 <= value <= 100:
        raise FieldError(f"{path}: expected a number from 0 to 100, got {value!r}")
    return round(value)


def parse_json_line(line: bytes) -> Any:
    """Parse one JSON text, raising FieldError with orjson's reason."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise FieldError(f"invalid JSON: {error}") from None


def decode_raw(line: bytes) -> str:
    """Return the record's text for quarantine, with undecodable bytes replaced."""
    return line.decode("utf-8", errors="replace").rstrip("\r\n")
