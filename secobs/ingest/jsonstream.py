"""Records out of JSON files of any common layout, read as a stream.

Exports come as JSON lines, as one JSON array (API pages), as a wrapper document whose array
holds the records (CloudTrail's `{"Records": [...]}`, CloudWatch Logs' `{"logEvents": [...]}`),
or as several such documents one after another. `iter_json_records` yields each record with
its number in the file and its own compact JSON text, whatever the layout, and never holds
more than one record (plus a read buffer) in memory: the array is split with the standard
library's C scanner (`JSONDecoder.raw_decode`) as the bytes arrive, so a 30 MB single-line
document needs no more memory than a small one.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from secobs.ingest.records import decode_raw
from secobs.ingest.source import BOM, open_binary

CHUNK_CHARS = 1 << 20
# A record larger than this that still does not parse is taken as a syntax error, which bounds
# the buffer on a corrupt document.
MAX_RECORD_CHARS = 16 << 20
# Lines up to this size are parsed whole; a longer first line is read as a streamed document.
MAX_LINE_BYTES = 1 << 20

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True, slots=True)
class JsonRecord:
    """One record: its number in the file, its parsed value and its compact JSON text.

    `value` is None and `error` gives the reason when the record is not valid JSON. `container`
    names the wrapper array it came from ("Records", "logEvents", "data", ...) or is None.
    """

    number: int
    value: Any
    raw: str
    error: str | None = None
    container: str | None = None


class _Stream:
    """A text buffer over a byte stream, refilled on demand, with absolute positions."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.buffer = ""
        self.pos = 0
        self.offset = 0  # characters dropped from the front of the buffer
        self.eof = False
        self.first = True

    def fill(self) -> bool:
        if self.eof:
            return False
        data = self.stream.read(CHUNK_CHARS)
        if self.first:
            data = data.removeprefix(BOM)
            self.first = False
        if not data:
            self.eof = True
            self.buffer += self.decoder.decode(b"", final=True)
            return False
        if self.pos > CHUNK_CHARS:
            self.offset += self.pos
            self.buffer = self.buffer[self.pos :]
            self.pos = 0
        self.buffer += self.decoder.decode(data)
        return True

    def peek(self) -> str:
        """Skip whitespace and return the next character, or "" at the end."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self.fill():
                return ""

    def value(self) -> Any:
        """Parse the JSON value at the current position, reading more text as needed."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as error:
                available = len(self.buffer) - self.pos
                if available > MAX_RECORD_CHARS or not self.fill():
                    raise _SyntaxError(self.offset + error.pos, error.msg) from None
                continue
            # A number at the end of the buffer may continue in the next chunk.
            if end == len(self.buffer) and not self.eof and self.fill():
                continue
            self.pos = end
            return value

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            shown = repr(found) if found else "the end of the file"
            raise _SyntaxError(self.offset + self.pos, f"expected {char!r}, found {shown}")
        self.pos += 1


class _SyntaxError(Exception):
    def __init__(self, position: int, message: str):
        super().__init__(f"invalid JSON at character {position}: {message}")
        self.position = position


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def iter_json_records(
    path: Path, containers: tuple[str, ...] = ("Records",)
) -> Iterator[JsonRecord]:
    """Yield every record of a JSON lines file, JSON array or wrapper document.

    `containers` are the keys of wrapper arrays whose elements are the records; a top-level
    object without any of them is a record itself. Records are numbered from 1 in file order.
    """
    with open_binary(path) as stream:
        first = stream.readline(MAX_LINE_BYTES).removeprefix(BOM)
        first_value = (
            _parse_line(first) if first.endswith(b"\n") or len(first) < MAX_LINE_BYTES else None
        )
        stream.seek(0)
        if isinstance(first_value, dict) and not any(key in first_value for key in containers):
            yield from _json_lines(stream, containers)
        else:
            yield from _documents(stream, containers)


def _parse_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def _json_lines(stream: IO[bytes], containers: tuple[str, ...]) -> Iterator[JsonRecord]:
    """JSON lines: one record per line; a line holding a wrapper document is expanded."""
    number = 0
    for index, line in enumerate(stream, start=1):
        if index == 1:
            line = line.removeprefix(BOM)
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            number += 1
            yield JsonRecord(number, None, decode_raw(line), f"line {index}: invalid JSON: {error}")
            continue
        key = _container_of(value, containers)
        if key is None:
            number += 1
            yield JsonRecord(number, value, line.decode("utf-8", errors="replace").strip())
            continue
        for item in value[key]:
            number += 1
            yield JsonRecord(number, item, _compact(item), container=key)


def _container_of(value: Any, containers: tuple[str, ...]) -> str | None:
    if isinstance(value, dict):
        for key in containers:
            if isinstance(value.get(key), list):
                return key
    return None


def _documents(stream: IO[bytes], containers: tuple[str, ...]) -> Iterator[JsonRecord]:
    """One or more JSON documents: arrays of records, wrapper objects or bare records."""
    text = _Stream(stream)
    counter = [0]
    try:
        while (char := text.peek()) != "":
            if char == "[":
                yield from _array(text, counter, None)
            elif char == "{":
                yield from _object(text, counter, containers)
            else:
                value = text.value()
                counter[0] += 1
                yield JsonRecord(counter[0], value, _compact(value))
    except _SyntaxError as error:
        counter[0] += 1
        rest = text.buffer[max(0, error.position - text.offset) :][:4096]
        yield JsonRecord(
            counter[0],
            None,
            rest,
            f"{error}; the rest of the document cannot be split into records",
        )


def _array(text: _Stream, counter: list[int], key: str | None) -> Iterator[JsonRecord]:
    text.expect("[")
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        value = text.value()
        counter[0] += 1
        yield JsonRecord(counter[0], value, _compact(value), container=key)
        separator = text.peek()
        if separator == ",":
            text.pos += 1
            continue
        text.expect("]")
        return


def _object(text: _Stream, counter: list[int], containers: tuple[str, ...]) -> Iterator[JsonRecord]:
    """A top-level object: stream its wrapper arrays, or yield it whole when it has none."""
    text.expect("{")
    members: dict[str, Any] = {}
    streamed = False
    if text.peek() == "}":
        text.pos += 1
    else:
        while True:
            key = text.value()
            if not isinstance(key, str):
                raise _SyntaxError(text.offset + text.pos, "expected a member name")
            text.expect(":")
            if key in containers and text.peek() == "[":
                streamed = True
                yield from _array(text, counter, key)
            else:
                members[key] = text.value()
            if text.peek() == ",":
                text.pos += 1
                continue
            text.expect("}")
            break
    if not streamed:
        counter[0] += 1
        yield JsonRecord(counter[0], members, _compact(members))
