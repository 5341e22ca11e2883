"""Scan telemetry files for leaked credentials: NDJSON, JSON, CSV and plain log lines.

A finding names the file, the record and the field (a JSON pointer, a CSV column, or nothing
for a plain log line). It shows the secret only masked, with a keyed fingerprint, so the same
secret can be recognised across findings. No function here returns or logs a secret in clear.
"""

from __future__ import annotations

import csv
import io
import secrets as random_source
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from secobs.errors import InputError
from secobs.gates.records import BOM, open_bytes
from secobs.gates.validate import to_pointer
from secobs.secrets import (
    PATTERNS,
    Redactor,
    SecretMatch,
    candidate_mask,
    find_in_field,
    find_secrets,
    load_or_create_key,
    mask_secret,
    secret_field_kind,
)

CSV_SUFFIXES = {".csv", ".tsv"}
JSON_SUFFIXES = {".json"}
NDJSON_SUFFIXES = {".ndjson", ".jsonl"}
# Pairs such as {"name": "Authorization", "value": "..."} (HAR, OTLP attributes) name a field.
PAIR_NAMES = ("name", "key")
PAIR_VALUES = ("value", "stringValue")
# Selects lines with such a pair whose name ends like a secret's field name, which the text
# patterns alone would not select.
PAIR_PREFILTER = (
    r'(?i)"(?:name|key)"[ \t]*:[ \t]*"[^"]*(?:'
    + "|".join(pattern.key for pattern in PATTERNS if pattern.key)
    + ')"'
)


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """A secret found in a file, described without its value."""

    path: str
    record: int
    field: str
    offset: int
    kind: str
    masked: str
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "record": self.record,
            "field": self.field,
            "offset": self.offset,
            "kind": self.kind,
            "masked": self.masked,
            "fingerprint": self.fingerprint,
        }


@dataclass
class ScanResult:
    """Findings of a scan, with how many files and records were read."""

    files: list[str] = field(default_factory=list)
    records: int = 0
    findings: list[SecretFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(item.kind for item in self.findings).items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "records": self.records,
            "counts": self.counts,
            "findings": [item.to_json() for item in self.findings],
        }


def scan_files(paths: list[Path | str], *, key_file: Path | str | None = None) -> ScanResult:
    """Scan files (folders are read recursively) for secrets.

    Fingerprints are HMAC-SHA256 prefixes under the hex key in `key_file`. A case's
    `evidence/redaction.key` gives the fingerprints of the markers in its lake. Without a key
    file a random key is used, so fingerprints correlate within one scan only.
    """
    key = load_or_create_key(Path(key_file)) if key_file else random_source.token_bytes(32)
    fingerprints = Redactor(key)
    result = ScanResult()
    for path in _expand(paths):
        result.files.append(str(path))
        records: set[int] = set()
        for record, field_name, text, matches in _scan_file(path, records):
            for match in matches:
                value = text[match.start : match.end]
                result.findings.append(
                    SecretFinding(
                        path=str(path),
                        record=record,
                        field=field_name,
                        offset=match.start,
                        kind=match.kind,
                        masked=mask_secret(match.kind, value),
                        fingerprint=fingerprints.fingerprint(value),
                    )
                )
        result.records += len(records)
    return result


Hit = tuple[int, str, str, list[SecretMatch]]


def _expand(paths: list[Path | str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(item for item in path.rglob("*") if item.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError("file not found", path=str(path))
    return files


def _layout(path: Path, head: bytes) -> str:
    """Choose how to read a file: csv, json (one document), or lines (NDJSON or log lines)."""
    suffixes = [suffix.lower() for suffix in path.suffixes if suffix.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in NDJSON_SUFFIXES:
        return "lines"
    first = head.removeprefix(BOM).lstrip()[:1]
    if suffix in JSON_SUFFIXES or first == b"[":
        return "json"
    return "lines"


def _scan_file(path: Path, records: set[int]) -> Iterator[Hit]:
    with open_bytes(path) as stream:
        data = stream.read()
    text = data.removeprefix(BOM).decode("utf-8", errors="replace")
    layout = _layout(path, data[:4096])
    if layout == "csv":
        yield from _scan_csv(path, text, records)
    elif layout == "json":
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            yield from _scan_lines(text, records)
            return
        items = document if isinstance(document, list) else [document]
        for index, item in enumerate(items):
            records.add(index)
            yield from _scan_json(index, item)
    else:
        yield from _scan_lines(text, records)


def _scan_lines(text: str, records: set[int]) -> Iterator[Hit]:
    """Scan NDJSON or log lines: a line that parses as a JSON object is walked field by field."""
    lines = text.split("\n")
    suspects = _suspects(lines)
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        records.add(number)
        if not suspects[number - 1]:
            continue
        if line.lstrip().startswith(("{", "[")):
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                pass
            else:
                yield from _scan_json(number, event)
                continue
        matches = find_secrets(line)
        if matches:
            yield number, "", line, matches


def _scan_json(
    record: int, value: Any, pointer: str = "", name: str | None = None
) -> Iterator[Hit]:
    """Walk a JSON value; each string is checked with the name of the field that holds it."""
    if isinstance(value, dict):
        pair_name = next((value[k] for k in PAIR_NAMES if isinstance(value.get(k), str)), None)
        for key, item in value.items():
            context = (pair_name or name or key) if key in PAIR_VALUES else key
            yield from _scan_json(record, item, pointer + to_pointer([key]), context)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _scan_json(record, item, pointer + to_pointer([index]), name)
    elif isinstance(value, str):
        matches = find_in_field(name, value)
        if matches:
            yield record, pointer, value, matches
    elif isinstance(value, int | float) and not isinstance(value, bool) and name is not None:
        # A number under a secret's name (a numeric password or PIN) is a secret too.
        text = str(value)
        matches = find_in_field(name, text)
        if matches:
            yield record, pointer, text, matches


def _scan_csv(path: Path, text: str, records: set[int]) -> Iterator[Hit]:
    """Scan CSV rows; a cell is checked with its column name, and JSON cells are walked."""
    dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader, None)
    if header is None:
        return
    for column, name in enumerate(header):
        matches = find_secrets(name)
        if matches:
            yield 0, f"header[{column}]", name, matches
    rows = list(reader)
    secret_columns = {i for i, name in enumerate(header) if secret_field_kind(name)}
    suspects = iter(_suspects([cell for row in rows for cell in row]))
    for number, row in enumerate(rows, start=1):
        records.add(number)
        for column, cell in enumerate(row):
            if not next(suspects) and column not in secret_columns:
                continue
            name = header[column] if column < len(header) else f"column{column + 1}"
            if cell.lstrip().startswith(("{", "[")):
                try:
                    document = orjson.loads(cell)
                except orjson.JSONDecodeError:
                    pass
                else:
                    for record, pointer, value, matches in _scan_json(number, document):
                        yield record, name + pointer, value, matches
                    continue
            matches = find_in_field(name, cell)
            if matches:
                yield number, name, cell, matches


def _suspects(texts: list[str]) -> list[bool]:
    """Select, with RE2 over all texts at once, those that may hold a secret."""
    if not texts:
        return []
    array = pa.array(texts, type=pa.string())
    pairs = pc.fill_null(pc.match_substring_regex(array, PAIR_PREFILTER), False)
    return pc.or_(candidate_mask(array), pairs).to_pylist()
