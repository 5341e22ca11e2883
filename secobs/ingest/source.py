"""Opening source files: transparent gzip, and the sample of bytes that format detection reads."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import orjson

SNIFF_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"


def is_gzip(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(2) == GZIP_MAGIC


def open_binary(path: Path) -> IO[bytes]:
    """Open a source file for reading bytes, decompressing gzip as a stream."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return path.open("rb")


@dataclass
class Sample:
    """The first bytes of a source file (decompressed, without a byte-order mark)."""

    path: Path
    head: bytes
    compressed: bool = False
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, path: Path) -> Sample:
        compressed = is_gzip(path)
        with open_binary(path) as stream:
            head = stream.read(SNIFF_BYTES)
        return cls(path, head.removeprefix(BOM), compressed)

    @cached_property
    def text(self) -> str:
        return self.head.decode("utf-8", errors="replace")

    @cached_property
    def first_line(self) -> bytes:
        return self.head.lstrip().split(b"\n", 1)[0].strip()

    @cached_property
    def first_json(self) -> Any:
        """The first JSON value: the first line of JSON lines, or the head of a document.

        Returns None when neither parses (a document longer than the sample is not parsed).
        """
        for candidate in (self.first_line, self.head):
            try:
                return orjson.loads(candidate)
            except orjson.JSONDecodeError:
                continue
        return None

    @cached_property
    def csv_header(self) -> list[str]:
        """The first line read as a CSV header, or [] when it is not one."""
        line = self.first_line.decode("utf-8", errors="replace")
        # A bare carriage return ends a record for the csv module; split on it first.
        line = line.split("\r", 1)[0]
        try:
            return [name.strip() for name in next(csv.reader([line]), [])]
        except csv.Error:
            return []
