"""Validate events against a JSON Schema (audit.v1 by default), fast enough for CI on big files.

Every event goes through a validator that `fastjsonschema` compiles to Python code. Only the
events it rejects go through `jsonschema` (Draft 2020-12), which lists every error with its
JSON pointer. Both validators see the schema with `format` as an annotation (the 2020-12
default), so the shipped schema states formats it must enforce as `pattern`. The shipped
schema uses only keywords that mean the same in draft 7, which fastjsonschema implements,
and in 2020-12; a test checks that both validators give the same verdict.

Large plain NDJSON files are split into byte ranges on line boundaries and validated in
parallel processes; the line numbers are put back together afterwards.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from secobs.gates.records import GZIP_MAGIC, iter_records, json_type_name, parse_line
from secobs.schemas import load_schema

# Files smaller than this are validated in the calling process: starting workers costs more.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
MAX_CHUNK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One schema error: where in the event (JSON pointer), the keyword that failed, and why."""

    pointer: str
    keyword: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "keyword": self.keyword, "message": self.message}


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """An event that failed validation, with every error found in it."""

    path: str
    record: int
    errors: tuple[SchemaViolation, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "record": self.record,
            "errors": [error.to_json() for error in self.errors],
        }


@dataclass
class ValidationResult:
    """The outcome of validating files: how many events were read and which were invalid."""

    schema_id: str
    files: list[str] = field(default_factory=list)
    records: int = 0
    invalid: list[InvalidRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.invalid

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema_id,
            "ok": self.ok,
            "files": self.files,
            "records": self.records,
            "invalid_count": len(self.invalid),
            "invalid": [item.to_json() for item in self.invalid],
        }


class EventValidator:
    """A compiled fast validator plus a jsonschema validator that explains each failure."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.fast = fastjsonschema.compile(schema, use_formats=False)
        self.full = Draft202012Validator(schema)

    def check(self, event: Any) -> tuple[SchemaViolation, ...]:
        """Return the errors of one event; an empty tuple when it is valid."""
        try:
            self.fast(event)
        except fastjsonschema.JsonSchemaValueException as error:
            return self.explain(event, error)
        return ()

    def explain(
        self, event: Any, fast_error: fastjsonschema.JsonSchemaValueException | None = None
    ) -> tuple[SchemaViolation, ...]:
        """List every error of an invalid event with jsonschema, deduplicated, in a stable order."""
        found: dict[tuple[str, str], SchemaViolation] = {}
        for error in self.full.iter_errors(event):
            for violation in _violations(error):
                found.setdefault((violation.pointer, violation.keyword), violation)
        if not found and fast_error is not None:
            # The two validators disagree; report what the fast one found rather than nothing.
            pointer = to_pointer(fast_error.path[1:] if fast_error.path else [])
            rule = fast_error.rule or "schema"
            return (SchemaViolation(pointer, rule, f"fails the {rule} constraint"),)
        return tuple(sorted(found.values(), key=lambda item: (item.pointer, item.keyword)))


def validate_files(
    paths: list[Path | str],
    *,
    schema: dict[str, Any] | str | Path | None = None,
    jobs: int | None = None,
) -> ValidationResult:
    """Validate every event of NDJSON or JSON-array files and collect the invalid ones.

    `schema` is a schema object, a shipped schema name or a schema file (default audit.v1).
    `jobs` caps the worker processes for large NDJSON files (default: the CPU count).
    A line that is not JSON counts as an invalid event with the pointer "" (the whole event).
    """
    if schema is None or isinstance(schema, str | Path):
        schema = load_schema(schema or "audit.v1")
    validator = EventValidator(schema)
    result = ValidationResult(schema_id=str(schema.get("$id", "")))
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    for raw_path in paths:
        path = Path(raw_path)
        result.files.append(str(path))
        if workers > 1 and _splittable(path):
            count, invalid = _validate_parallel(path, schema, workers)
        else:
            count, invalid = _validate_serial(path, validator)
        result.records += count
        result.invalid.extend(invalid)
    return result


def _validate_serial(path: Path, validator: EventValidator) -> tuple[int, list[InvalidRecord]]:
    count = 0
    invalid: list[InvalidRecord] = []
    for item in iter_records(path):
        count += 1
        if item.error is not None:
            errors = (SchemaViolation("", "json", item.error),)
        else:
            errors = validator.check(item.event)
        if errors:
            invalid.append(InvalidRecord(str(path), item.record, errors))
    return count, invalid


def _splittable(path: Path) -> bool:
    """Tell whether a file is plain NDJSON large enough to be worth splitting across workers."""
    try:
        if path.stat().st_size < PARALLEL_MIN_BYTES:
            return False
        with path.open("rb") as stream:
            head = stream.read(4096)
    except OSError:
        return False
    return not head.startswith(GZIP_MAGIC) and head.lstrip()[:1] == b"{"


def _chunk_ranges(path: Path, workers: int) -> list[tuple[int, int]]:
    """Split a file into byte ranges that each end just after a newline (or at the end)."""
    size = path.stat().st_size
    chunk = min(MAX_CHUNK_BYTES, max(1, size // (workers * 4)))
    ranges: list[tuple[int, int]] = []
    with path.open("rb") as stream:
        start = 0
        while start < size:
            stream.seek(min(start + chunk, size))
            stream.readline()
            end = min(stream.tell(), size)
            ranges.append((start, end))
            start = end
    return ranges


def _validate_parallel(
    path: Path, schema: dict[str, Any], workers: int
) -> tuple[int, list[InvalidRecord]]:
    ranges = _chunk_ranges(path, workers)
    schema_text = orjson.dumps(schema).decode()
    count = 0
    invalid: list[InvalidRecord] = []
    with ProcessPoolExecutor(max_workers=min(workers, len(ranges))) as pool:
        futures = [
            pool.submit(_validate_range, str(path), start, end, schema_text)
            for start, end in ranges
        ]
        lines_before = 0
        for future in futures:
            lines, records, bad = future.result()
            count += records
            for line, errors in bad:
                invalid.append(InvalidRecord(str(path), lines_before + line, errors))
            lines_before += lines
    return count, invalid


_WORKER_VALIDATORS: dict[str, EventValidator] = {}


def _validate_range(
    path: str, start: int, end: int, schema_text: str
) -> tuple[int, int, list[tuple[int, tuple[SchemaViolation, ...]]]]:
    """Validate the lines in one byte range; return (lines, records, invalid with local lines)."""
    validator = _WORKER_VALIDATORS.get(schema_text)
    if validator is None:
        validator = _WORKER_VALIDATORS[schema_text] = EventValidator(orjson.loads(schema_text))
    with open(path, "rb") as stream:
        stream.seek(start)
        data = stream.read(end - start)
    if start == 0:
        data = data.removeprefix(b"\xef\xbb\xbf")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    records = 0
    bad: list[tuple[int, tuple[SchemaViolation, ...]]] = []
    fast = validator.fast
    for number, line in enumerate(lines, start=1):
        try:
            fast(orjson.loads(line))
            records += 1
            continue
        except (orjson.JSONDecodeError, fastjsonschema.JsonSchemaValueException):
            pass
        if not line.strip():
            continue
        records += 1
        event, error = parse_line(line)
        if error is not None:
            bad.append((number, (SchemaViolation("", "json", error),)))
        else:
            bad.append((number, validator.check(event)))
    return len(lines), records, bad


def to_pointer(parts: Any) -> str:
    """Build a JSON pointer (RFC 6901) from path parts."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _violations(error: ValidationError) -> list[SchemaViolation]:
    """Turn one jsonschema error into violations whose messages never quote the event's values.

    Values may be secrets or attacker-controlled text, so messages describe the value by its
    JSON type and quote only the schema. A missing or unexpected property gets its own pointer.
    """
    pointer = to_pointer(error.absolute_path)
    keyword = str(error.validator)
    expected = error.validator_value
    instance = error.instance
    if keyword == "required" and isinstance(instance, dict):
        missing = [name for name in expected if name not in instance]
        return [
            SchemaViolation(f"{pointer}{to_pointer([name])}", keyword, "required property missing")
            for name in missing
        ]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        extra = [
            name
            for name in instance
            if name not in known and not any(re.search(p, name) for p in patterns)
        ]
        return [
            SchemaViolation(
                f"{pointer}{to_pointer([name])}", keyword, "property not defined by the schema"
            )
            for name in extra
        ]
    return [SchemaViolation(pointer, keyword, _message(keyword, expected, instance))]


def _message(keyword: str, expected: Any, instance: Any) -> str:
    got = json_type_name(instance)
    if keyword == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"expected {' or '.join(types)}, got {got}"
    if keyword == "const":
        return f"expected {orjson.dumps(expected).decode()}"
    if keyword == "enum":
        return "expected one of " + ", ".join(orjson.dumps(value).decode() for value in expected)
    if keyword == "pattern":
        return f"does not match the pattern {expected}"
    if keyword == "minLength":
        return f"shorter than {expected} characters"
    if keyword == "maxLength":
        return f"longer than {expected} characters"
    if keyword == "minimum":
        return f"less than the minimum {expected}"
    if keyword == "maximum":
        return f"greater than the maximum {expected}"
    if keyword == "format":
        return f"not a valid {expected}"
    return f"fails the {keyword} constraint"
