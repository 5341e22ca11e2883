"""Evidence hash chain over audit events: chain files, verification and case seals.

Each record's hash covers the previous record's hash and the event's canonical bytes,
``sha256(prev_hash.encode() + canonical(event)).hexdigest()``, starting from 64 zeros. Two
canonical forms exist:

- ``jcs``: the event's RFC 8785 canonical JSON as UTF-8 (the native mode).
- ``seed``: ``json.dumps(event, sort_keys=True, separators=(",", ":"))``, the form services
  already produce with the standard library. Files written with the default separators
  (``", "`` and ``": "``) are accepted too.

For events with only printable ASCII text, integers and no floats both forms produce the same
bytes, so such a chain verifies in either mode.

A chain file is NDJSON. In the flat layout (the one ``export_chain`` writes) each record is the
event's fields plus ``prev_hash`` and ``hash`` at top level, and the event is the record without
those two fields. In the nested layout each record is ``{"event": {...}, "prev_hash": ...,
"hash": ...}``. Verification reads the layout from the first record. A case seal
(``chain-seal.json`` and ``chain-seal.parquet`` in the case's evidence folder) stores the digest
and chain hash of every event, so a later check can name the event that was modified, deleted,
inserted, reordered or cut off, and a digest of each row's mapped audit_events columns, so an
edit to a column that queries read (``actor_id``, ``ts``) is found as well. The seal also
stores the RFC 9162 Merkle root over the chain hashes (secobs.merkle), which signed checkpoints
and inclusion proofs refer to.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import itertools
import json
import logging
import math
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Generic, NamedTuple, TypeVar

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from secobs import jcs as jcs_form
from secobs import merkle
from secobs.errors import CaseError, InputError, UsageError

logger = logging.getLogger("secobs")

GENESIS_HASH = "0" * 64
MODES = ("jcs", "seed")
CHAIN_FIELDS = ("prev_hash", "hash")
SEAL_JSON = "chain-seal.json"
SEAL_PARQUET = "chain-seal.parquet"
SEAL_FORMAT = "secobs.chain-seal"
SEAL_VERSION = 2
# Version 1 seals have no digest kinds and no row digests, but they still verify.
READABLE_SEAL_VERSIONS = (1, 2)
LAYOUTS = ("flat", "nested")
# Digest kind of an event that the mode cannot represent exactly: its received text is hashed.
RAW_DIGEST = "raw"
# Bytes of SHA-256 kept per mapped column to name the columns of a row that changed. The row
# digest (full SHA-256) decides whether a row changed, and these bytes only name the columns.
FINGERPRINT_BYTES = 2
# Merkle leaf data of a sealed record: the 32 raw bytes of its chain hash.
MERKLE_LEAF = "chain_hash"

# Number of recent record hashes kept while verifying a file. They identify replayed copies of
# earlier records and runs of inserted records that are chained to an earlier record.
RECENT_HASHES = 10_000

_SEED_SEPARATORS = {"compact": (",", ":"), "default": (", ", ": ")}
_SEPARATOR_NAMES = {
    "compact": "compact separators ',' and ':'",
    "default": "default separators ', ' and ': '",
}
_MAX_SAFE_INTEGER = 2**53 - 1
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_BATCH_ROWS = 8192
_SEAL_SCHEMA_V1 = pa.schema(
    [
        ("index", pa.int64()),
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
        ("digest", pa.string()),
        ("hash", pa.string()),
    ]
)
_SEAL_SCHEMA = pa.schema(
    [
        *_SEAL_SCHEMA_V1,
        ("digest_kind", pa.string()),
        ("row_digest", pa.string()),
        ("column_fingerprints", pa.binary()),
    ]
)

Event = dict[str, Any]
SourcedEvent = tuple[Event, str, int]
_T = TypeVar("_T")


class CaseEvent(NamedTuple):
    """An audit event in chain order with its source and, for a case, what the lake stores.

    ``raw`` is the event's text as received (the audit_events ``raw`` column). A seal hashes it
    in place of the canonical form when the mode cannot represent the event exactly. ``columns``
    maps every mapped audit_events column to its value in the lake, for the row digest. A plain
    (event, source_file, source_record) tuple is read as a CaseEvent without both.
    """

    event: Any
    source_file: str
    source_record: int
    raw: str | None = None
    columns: dict[str, Any] | None = None


@dataclass(frozen=True)
class Verification:
    """Outcome of a chain or seal verification.

    ``records`` counts the records read before verification stopped, including the record at
    which it stopped. ``head_hash`` is the chain hash of the last record that verified before
    ``first_bad``, which is the whole chain when ``valid`` is true and None when no record did.
    ``source`` is where record ``first_bad`` comes from: a chain file and line, or for a case
    the audit source file and record number. ``checkpoint`` summarises the signed checkpoint
    that the result was compared with, if any.
    """

    valid: bool
    records: int
    first_bad: int | None
    problem: str | None
    mode: str
    detail: str | None
    head_hash: str | None
    source: str | None = None
    checkpoint: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict; ``source`` and ``checkpoint`` only when set."""
        result = {
            "valid": self.valid,
            "records": self.records,
            "first_bad": self.first_bad,
            "problem": self.problem,
            "mode": self.mode,
            "detail": self.detail,
            "head_hash": self.head_hash,
        }
        if self.source is not None:
            result["source"] = self.source
        if self.checkpoint is not None:
            result["checkpoint"] = self.checkpoint
        return result


@dataclass(frozen=True)
class Seal:
    """A written case seal: record count, chain head, mode, path of chain-seal.json, Merkle root.

    ``merkle_root`` is the RFC 9162 root (hex) over the records' chain hashes, see
    secobs.merkle. ``checkpoint`` is the path of the signed checkpoint written with the seal,
    if any.
    """

    records: int
    head_hash: str | None
    mode: str
    path: Path
    merkle_root: str | None = None
    sealed_at: str | None = None
    checkpoint: Path | None = None
    raw_digests: int = 0
    row_columns: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the seal summary as a JSON-ready dict."""
        return {
            "records": self.records,
            "head_hash": self.head_hash,
            "mode": self.mode,
            "path": str(self.path),
            "merkle_root": self.merkle_root,
            "sealed_at": self.sealed_at,
            "checkpoint": str(self.checkpoint) if self.checkpoint is not None else None,
            "raw_digests": self.raw_digests,
            "row_columns": list(self.row_columns) if self.row_columns is not None else None,
        }


@dataclass(frozen=True)
class ChainExport:
    """A written chain file: record count, chain head, mode and path."""

    records: int
    head_hash: str | None
    mode: str
    path: Path

    def to_json(self) -> dict[str, Any]:
        """Return the export summary as a JSON-ready dict."""
        return {
            "records": self.records,
            "head_hash": self.head_hash,
            "mode": self.mode,
            "path": str(self.path),
        }


class _UnrepresentableEvent(Exception):
    """An event that the mode's canonical form cannot serialise exactly."""


# Canonical bytes and hashes


def jcs(event: Event) -> bytes:
    """Serialise an event as RFC 8785 canonical JSON in UTF-8.

    Raises InputError for values that RFC 8785 cannot represent exactly: integers outside
    ±(2**53 - 1), which I-JSON forbids, integral floats from 2**53 up to 1e21 (RFC 8785 writes
    them as such integers), NaN and infinities, lone surrogates and non-JSON types. Such a value
    is never rounded.
    """
    try:
        return _canonical(event, "jcs")
    except _UnrepresentableEvent as exc:
        raise InputError(f"event cannot be canonicalised with RFC 8785: {exc}") from None


def hash_event(prev_hash: str, event: Event, mode: str = "jcs") -> str:
    """Return the chain hash of an event that follows the record whose hash is ``prev_hash``.

    In ``seed`` mode the event is serialised with the compact separators. Raises InputError
    when the event cannot be serialised exactly in the mode.
    """
    _check_mode(mode)
    try:
        return _chain_hash(prev_hash, _canonical(event, mode))
    except _UnrepresentableEvent as exc:
        raise InputError(f"event cannot be serialised in {mode} mode: {exc}") from None


def _canonical(event: Event, mode: str, separators: str = "compact") -> bytes:
    """Serialise an event in the mode's canonical form, or raise _UnrepresentableEvent."""
    if mode == "jcs":
        # The fast path declines every float that _reject_unsafe_integral_floats looks for,
        # because orjson writes them with an exponent or a ".0" ending.
        fast = jcs_form.canonicalize_fast(event, floats_checked=False)
        if fast is not None:
            return fast
        try:
            _reject_unsafe_integral_floats(event)
            return jcs_form.canonicalize_reference(event)
        except jcs_form.CanonicalizationError as exc:
            raise _UnrepresentableEvent(str(exc)) from None
    try:
        text = json.dumps(event, sort_keys=True, separators=_SEED_SEPARATORS[separators])
    except (TypeError, ValueError, RecursionError) as exc:
        raise _UnrepresentableEvent(str(exc)) from None
    # The default ensure_ascii escaping makes the text ASCII, so this encoding cannot fail.
    return text.encode()


def _reject_unsafe_integral_floats(value: object) -> None:
    """Raise for a float that RFC 8785 writes as an integer outside the I-JSON range.

    RFC 8785 writes an integral float below 1e21 in integer notation, so 1e16 becomes
    10000000000000000. The json module reads that text back as an int, which rfc8785 (0.1.4)
    rejects because I-JSON allows integers only within ±(2**53 - 1). Rejecting the float as
    well means an event that can be sealed or exported also verifies after a round trip.
    """
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and _MAX_SAFE_INTEGER < abs(value) < 1e21:
            raise jcs_form.CanonicalizationError(
                f"{value!r} is written as an integer outside ±(2**53 - 1), which I-JSON forbids"
            )
    elif isinstance(value, dict):
        for item in value.values():
            _reject_unsafe_integral_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_unsafe_integral_floats(item)


def _chain_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise UsageError(f"unknown chain mode {mode!r}: expected 'jcs' or 'seed'")


# Row digests of mapped columns


def row_value(value: Any) -> Any:
    """Convert a mapped column value to the JSON value that its row digest covers.

    Timestamps become RFC 3339 UTC strings with microseconds (naive ones are read as UTC),
    dates ISO 8601 strings, lists stay lists and NULL is null. Values that RFC 8785 cannot
    write exactly become strings: integers outside ±(2**53 - 1), NaN and infinities (``nan``,
    ``inf``, ``-inf``), decimals and bytes (lower-case hex). Each column has one Arrow type in
    the lake, so a string stands for the same value in every row.
    """
    if value is None or type(value) is str:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [row_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): row_value(item) for key, item in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise InputError(
        f"a mapped column has a value of type {type(value).__name__}, which has no JSON form"
    )


def row_columns(columns: Iterable[str]) -> tuple[str, ...]:
    """Return column names in RFC 8785 key order (UTF-16 code units), the row digest's order."""
    return tuple(sorted(columns, key=lambda name: name.encode("utf-16-be")))


def row_digest(columns: dict[str, Any], names: Iterable[str]) -> tuple[str, bytes]:
    """Return the SHA-256 (hex) of a row's mapped columns and the fingerprint of each column.

    The digest covers the RFC 8785 form of ``{name: row_value(columns[name])}`` over ``names``,
    which must be in row_columns order. The fingerprints are the first FINGERPRINT_BYTES bytes
    of the SHA-256 of each value's RFC 8785 form, in the same order.
    """
    members = []
    fingerprints = bytearray()
    for name in names:
        value = _canonical_column(row_value(columns[name]))
        members.append(_member_prefix(name) + value)
        fingerprints += hashlib.sha256(value).digest()[:FINGERPRINT_BYTES]
    canonical = b"{" + b",".join(members) + b"}"
    return hashlib.sha256(canonical).hexdigest(), bytes(fingerprints)


@functools.lru_cache(maxsize=1024)
def _member_prefix(name: str) -> bytes:
    return _canonical_column(name) + b":"


def _canonical_column(value: Any) -> bytes:
    """Return the RFC 8785 form of one column value, writing the common scalars directly.

    orjson escapes a lone string exactly as RFC 8785 does (see secobs.jcs), and a safe integer
    is its decimal digits. Everything else goes through jcs.canonicalize.
    """
    kind = type(value)
    if value is None:
        return b"null"
    if kind is bool:
        return b"true" if value else b"false"
    if kind is str:
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:
            return jcs_form.canonicalize(value)
    if kind is int:
        return str(value).encode()
    return jcs_form.canonicalize(value)


def _differing_columns(names: list[str], current: bytes, sealed: bytes) -> list[str]:
    """Name the columns whose fingerprints differ. Misses a change with odds of 1 in 2**16."""
    width = FINGERPRINT_BYTES
    return [
        name
        for position, name in enumerate(names)
        if current[position * width : (position + 1) * width]
        != sealed[position * width : (position + 1) * width]
    ]


class _Hasher:
    """Record hash checker for one mode, which in seed mode also settles the separators variant.

    The variant is set by the first record whose hash matches one of the two. A record whose
    two serialisations are identical (an empty event) matches both and settles nothing.
    """

    def __init__(self, mode: str):
        self.mode = mode
        self.separators: str | None = None

    def matches(
        self, prev_hash: str, event: Event, stated_hash: str, canonical: bytes | None = None
    ) -> bool:
        if self.mode == "jcs":
            if canonical is None:
                canonical = _canonical(event, "jcs")
            return _chain_hash(prev_hash, canonical) == stated_hash
        if self.separators is not None:
            canonical = _canonical(event, "seed", self.separators)
            return _chain_hash(prev_hash, canonical) == stated_hash
        compact = _canonical(event, "seed", "compact")
        default = _canonical(event, "seed", "default")
        if _chain_hash(prev_hash, compact) == stated_hash:
            if compact != default:
                self.separators = "compact"
            return True
        if _chain_hash(prev_hash, default) == stated_hash:
            self.separators = "default"
            return True
        return False

    def describe_mode(self) -> str:
        if self.mode == "jcs":
            return "jcs mode"
        if self.separators is None:
            return "seed mode, separators not determined"
        return f"seed mode with {_SEPARATOR_NAMES[self.separators]}"


# Reading chain records


@dataclass(frozen=True)
class _Record:
    """One chain record as read, or the reason it is malformed."""

    index: int
    where: str
    event: Event | None = None
    prev_hash: str | None = None
    hash: str | None = None
    error: str | None = None
    canonical: bytes | None = None
    layout: str = "flat"


def _detect_layout(value: object) -> str:
    """Return ``nested`` for a record that is exactly an ``event`` object plus the chain fields."""
    if (
        isinstance(value, dict)
        and value.keys() == {"event", *CHAIN_FIELDS}
        and isinstance(value["event"], dict)
    ):
        return "nested"
    return "flat"


def _to_record(index: int, where: str, value: object, layout: str = "flat") -> _Record:
    if not isinstance(value, dict):
        return _Record(index, where, error="is not a JSON object", layout=layout)
    for field in CHAIN_FIELDS:
        stated = value.get(field)
        if not isinstance(stated, str):
            return _Record(index, where, error=f"has no string {field!r} field", layout=layout)
        if not _HEX_DIGEST.fullmatch(stated):
            error = f"has a {field!r} that is not 64 lower-case hex characters"
            return _Record(index, where, error=error, layout=layout)
    if layout == "nested":
        if _detect_layout(value) != "nested":
            error = (
                "does not have the nested layout of the first record: an 'event' object, "
                "'prev_hash' and 'hash' and no other field"
            )
            return _Record(index, where, error=error, layout=layout)
        event = value["event"]
    else:
        event = dict(value)
        del event["prev_hash"], event["hash"]
    return _Record(index, where, event, value["prev_hash"], value["hash"], layout=layout)


class _LayoutReader:
    """Turn parsed values into records, in a given layout or the one of the first object."""

    def __init__(self, layout: str | None = None):
        self.layout = layout

    def record(self, index: int, where: str, value: object) -> _Record:
        if self.layout is None and isinstance(value, dict):
            self.layout = _detect_layout(value)
        return _to_record(index, where, value, self.layout or "flat")


def _read_chain_lines(handle: BinaryIO, mode: str, layout: str | None = None) -> Iterator[_Record]:
    """Parse NDJSON chain records one line at a time, skipping blank lines.

    Lines are split on LF only, as NDJSON requires, so a U+2028 inside a string stays in its
    record. Numbers go through the standard json module, which keeps floats and integers
    exact, unless the jcs fast path applies (see _read_jcs_fast). Mode ``hashes`` reads only
    the chain fields and leaves ``canonical`` unset. ``layout`` None takes the layout of the
    first JSON object.
    """
    reader = _LayoutReader(layout)
    index = 0
    for line_number, raw in enumerate(handle, start=1):
        if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if not raw.strip():
            continue
        where = f"line {line_number}"
        if mode == "hashes":
            record = _read_hashes(reader, index, where, raw)
            if record is not None:
                yield record
                index += 1
                continue
        if mode == "jcs":
            record = _read_jcs_fast(reader, index, where, raw)
            if record is not None:
                yield record
                index += 1
                continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield _Record(index, where, error="is not valid UTF-8")
        except (ValueError, RecursionError) as exc:
            yield _Record(index, where, error=f"is not valid JSON ({exc})")
        else:
            yield reader.record(index, where, value)
        index += 1


def _read_hashes(reader: _LayoutReader, index: int, where: str, raw: bytes) -> _Record | None:
    """Parse a record for its chain fields only, or return None to read it with json."""
    try:
        return reader.record(index, where, jcs_form.loads_fast(raw))
    except ValueError:
        return None


def _read_jcs_fast(reader: _LayoutReader, index: int, where: str, raw: bytes) -> _Record | None:
    """Parse a record with orjson and canonicalise its event, or return None to read it slowly.

    The canonical bytes are kept only when jcs.canonicalize_fast vouches for them, which rules
    out the integers that orjson would have read as rounded floats.
    """
    try:
        value = jcs_form.loads_fast(raw)
    except ValueError:
        return None
    record = reader.record(index, where, value)
    if record.error is not None:
        return None
    canonical = jcs_form.canonicalize_fast(record.event, floats_checked=True)
    if canonical is None:
        return None
    return replace(record, canonical=canonical)


class _Lookahead(Generic[_T]):
    """An iterator that can show its next item without consuming it."""

    _EMPTY = object()

    def __init__(self, items: Iterable[_T]):
        self._items = iter(items)
        self._next: Any = self._EMPTY

    def __iter__(self) -> Iterator[_T]:
        return self

    def __next__(self) -> _T:
        if self._next is not self._EMPTY:
            item, self._next = self._next, self._EMPTY
            return item
        return next(self._items)

    def peek(self) -> _T | None:
        """Return the next item, or None at the end, without consuming it."""
        if self._next is self._EMPTY:
            try:
                self._next = next(self._items)
            except StopIteration:
                return None
        return self._next


class _RecentHashes:
    """Hashes of the last ``limit`` verified records, plus the genesis hash at index -1."""

    def __init__(self, limit: int):
        self._limit = limit
        self._order: deque[str] = deque()
        self._by_hash: dict[str, tuple[int, str]] = {GENESIS_HASH: (-1, "genesis")}
        self._last_index = -1

    def add(self, record: _Record) -> None:
        self._by_hash[record.hash] = (record.index, record.where)
        self._order.append(record.hash)
        self._last_index = record.index
        if len(self._order) > self._limit:
            self._by_hash.pop(self._order.popleft(), None)

    def where_of(self, index: int) -> str | None:
        """Return the position of a recent record by index, or None when it is not kept."""
        offset = index - (self._last_index - len(self._order) + 1)
        if not 0 <= offset < len(self._order):
            return None
        found = self._by_hash.get(self._order[offset])
        return found[1] if found is not None and found[0] == index else None

    def find(self, chain_hash: str) -> tuple[int, str] | None:
        return self._by_hash.get(chain_hash)


# Verifying chain files


def verify_file(path: str | os.PathLike[str], mode: str = "jcs") -> Verification:
    """Verify an NDJSON chain file, streaming it line by line.

    A truncated tail cannot be seen from the file alone: a chain cut after any record is still
    a valid chain. Compare ``head_hash`` with a value recorded elsewhere, verify a case seal,
    or compare with a signed checkpoint (secobs.evidence.verify) to detect it. Blank lines are
    skipped. ``first_bad`` is a 0-based record index, and ``detail`` and ``source`` name the
    file line. The layout (flat or nested) is read from the first record. When the first record
    that fails matches its hash in the other mode or layout, the file is read again that way:
    the result is ``wrong_mode`` if it then verifies, and otherwise the problem found that way.
    """
    _check_mode(mode)
    path = Path(path)

    def read(read_mode: str, layout: str | None) -> tuple[Verification, tuple[str, str] | None]:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise InputError("chain file not found", path=str(path)) from None
        except IsADirectoryError:
            raise InputError("expected a chain file, found a directory", path=str(path)) from None
        except OSError as exc:
            raise InputError(f"cannot read chain file: {exc.strerror}", path=str(path)) from None
        with handle:
            records = _read_chain_lines(handle, read_mode, layout)
            return _verify_stream(records, read_mode, f"{path}, ")

    result, alternative = read(mode, None)
    if alternative is None:
        return result
    return _settle_wrong_mode(result, read(*alternative)[0])


def verify_records(records: Iterable[dict[str, Any]], mode: str = "jcs") -> Verification:
    """Verify chain records that were already parsed, in chain order.

    Each record is the event's fields plus ``prev_hash`` and ``hash`` (flat layout), or
    ``{"event": {...}, "prev_hash": ..., "hash": ...}`` (nested layout, detected from the first
    record). Parse them with the standard json module: a parser that turns numbers into other
    types (decimals, rounded floats) changes the bytes that are hashed. ``detail`` names
    records by 0-based index. A list is read a second time to settle a ``wrong_mode`` result,
    as verify_file does; other iterables get ``wrong_mode`` from the first failing record.
    """
    _check_mode(mode)

    def read(read_mode: str, layout: str | None) -> tuple[Verification, tuple[str, str] | None]:
        reader = _LayoutReader(layout)
        parsed = (
            reader.record(index, f"index {index}", record) for index, record in enumerate(records)
        )
        return _verify_stream(parsed, read_mode)

    result, alternative = read(mode, None)
    if alternative is None or not isinstance(records, list | tuple):
        return result
    return _settle_wrong_mode(result, read(*alternative)[0])


def _settle_wrong_mode(first: Verification, other: Verification) -> Verification:
    """Combine a ``wrong_mode`` result with the result of reading the chain the other way."""
    if other.valid:
        detail = f"{first.detail} The whole chain verifies that way: {other.detail}"
        return replace(first, detail=detail)
    if other.first_bad is not None and first.first_bad is not None:
        if other.first_bad > first.first_bad:
            detail = (
                f"The chain is not in {first.mode} mode as read first, so it was read again. "
                f"{other.detail}"
            )
            return replace(other, detail=detail)
    detail = (
        f"{first.detail} Read that way, the chain fails earlier, so it mixes modes or layouts: "
        f"{other.detail}"
    )
    return replace(first, detail=detail)


def _alternative_reading(record: _Record, mode: str) -> tuple[str, str, str] | None:
    """Return (mode, layout, description) of another reading under which a record hashes right.

    Checks the other mode in the record's layout, then the record's mode in the other layout,
    then both. The flat reading of a nested record is the event ``{"event": {...}}``.
    """
    other_mode = "seed" if mode == "jcs" else "jcs"
    events = {record.layout: record.event}
    if record.layout == "nested":
        events["flat"] = {"event": record.event}
    elif record.event.keys() == {"event"} and isinstance(record.event["event"], dict):
        events["nested"] = record.event["event"]
    candidates = [(other_mode, record.layout)]
    candidates += [(mode, layout) for layout in events if layout != record.layout]
    candidates += [(other_mode, layout) for layout in events if layout != record.layout]
    for candidate_mode, layout in candidates:
        hasher = _Hasher(candidate_mode)
        try:
            matched = hasher.matches(record.prev_hash, events[layout], record.hash)
        except _UnrepresentableEvent:
            continue
        if matched:
            return candidate_mode, layout, f"{hasher.describe_mode()}, {layout} layout"
    return None


def _verify_stream(
    records: Iterable[_Record], mode: str, source_prefix: str = ""
) -> tuple[Verification, tuple[str, str] | None]:
    """Walk the chain and classify the first record that breaks it.

    Returns the result and, for ``wrong_mode``, the (mode, layout) under which the failing
    record matches its hash. Memory stays bounded: one record of lookahead, the last
    RECENT_HASHES record hashes and, after a break, one more pass over the rest of the stream
    to look for a later record that the broken link points to.
    """
    hasher = _Hasher(mode)
    ahead = _Lookahead(records)
    recent = _RecentHashes(RECENT_HASHES)
    previous = GENESIS_HASH
    checked = 0
    layout = None

    def fail(problem: str, first_bad: int, detail: str, head: str | None) -> Verification:
        if head == GENESIS_HASH:
            head = None
        sentence = f"{detail} ({hasher.describe_mode()}, {layout or 'flat'} layout)."
        where = record.where if first_bad == record.index else recent.where_of(first_bad)
        source = source_prefix + where if where is not None else None
        return Verification(False, checked, first_bad, problem, mode, sentence, head, source)

    record = None
    for record in ahead:
        checked += 1
        head = previous if record.index > 0 else None
        if layout is None and record.error is None:
            layout = record.layout
        if record.error is not None:
            detail = f"The record at {record.where} {record.error}"
            return fail("malformed", record.index, detail, head), None
        try:
            own_hash_ok = hasher.matches(
                record.prev_hash, record.event, record.hash, record.canonical
            )
        except _UnrepresentableEvent as exc:
            detail = f"The record at {record.where} cannot be hashed exactly: {exc}"
            return fail("unrepresentable", record.index, detail, head), None
        if not own_hash_ok:
            alternative = _alternative_reading(record, mode)
            if alternative is not None:
                other_mode, other_layout, description = alternative
                detail = (
                    f"The record at {record.where} does not match its hash as read, but does "
                    f"in {description}, so the chain was written that way and not tampered "
                    f"with here: verify it with --mode {other_mode}"
                )
                return fail("wrong_mode", record.index, detail, head), (other_mode, other_layout)
            return fail(*_classify_bad_hash(record, ahead.peek(), previous), head), None
        if record.prev_hash != previous:
            problem, first_bad, detail, head = _classify_broken_link(record, ahead, recent)
            return fail(problem, first_bad, detail, head if head is not None else previous), None
        recent.add(record)
        previous = record.hash

    detail = f"Verified {checked} records in {hasher.describe_mode()}, {layout or 'flat'} layout."
    if checked == 0:
        detail = "The chain contains no records."
    head_hash = previous if checked else None
    return Verification(True, checked, None, None, mode, detail, head_hash), None


def _classify_bad_hash(
    record: _Record, following: _Record | None, previous: str
) -> tuple[str, int, str]:
    """Classify a record whose hash does not match its own event and prev_hash."""
    if following is not None and following.error is None and following.prev_hash == previous:
        return (
            "inserted",
            record.index,
            f"The record at {record.where} has a hash that does not match its content, and the "
            f"record after it links to the record before it, so it was inserted",
        )
    return (
        "modified",
        record.index,
        f"The record at {record.where} has a hash that does not match its event and prev_hash, "
        "so the record was changed after it was hashed",
    )


def _classify_broken_link(
    record: _Record, ahead: _Lookahead[_Record], recent: _RecentHashes
) -> tuple[str, int, str, str | None]:
    """Classify a record whose own hash matches but whose prev_hash skips the record before it.

    Returns the problem, first_bad, detail and the head hash when it differs from the hash of
    the record before this one. The checks run in this order. A copy of a recent record was
    inserted. A link to an earlier record means the records in between were inserted. A copy
    of a later record was inserted, and a link to a later record means records were reordered.
    Anything else is a deletion.
    """
    subject = f"The record at {record.where}"
    copy_of = recent.find(record.hash)
    if copy_of is not None:
        detail = f"{subject} is a copy of the record at {copy_of[1]}, so it was inserted"
        return "inserted", record.index, detail, None
    linked = recent.find(record.prev_hash)
    if linked is not None:
        first_inserted = linked[0] + 1
        count = record.index - first_inserted
        records = "the record" if count == 1 else f"the {count} records"
        if first_inserted == 0:
            detail = f"{subject} has the genesis prev_hash, so {records} before it"
        else:
            detail = f"{subject} links to the record at {linked[1]}, so {records} between"
        verb = "was" if count == 1 else "were"
        return "inserted", first_inserted, f"{detail} {verb} inserted", record.prev_hash

    # NOTE: this reads the rest of the stream once. A record that copies or links to a record
    # more than RECENT_HASHES records back is reported as deleted, at the right index.
    later_link = None
    for later in ahead:
        if later.error is not None:
            continue
        if later.hash == record.hash:
            detail = f"{subject} is a copy of the record at {later.where}, so it was inserted"
            return "inserted", record.index, detail, None
        if later_link is None and later.hash == record.prev_hash:
            later_link = later
    if later_link is not None:
        detail = (
            f"{subject} links to the record at {later_link.where}, which comes later, "
            "so the records are out of order"
        )
        return "reordered", record.index, detail, None
    detail = (
        f"{subject} has a prev_hash that matches no record in the stream, so the record that "
        "should precede it was deleted"
    )
    return "deleted", record.index, detail, None


# Writing chain files and seals


@dataclass(frozen=True)
class _Digest:
    """One event's digests and chain hash, or the reason it cannot be hashed.

    ``digest_kind`` is the mode, or RAW_DIGEST when ``digest`` covers the received text.
    ``row_digest`` and ``fingerprints`` cover the mapped columns (see row_digest), and
    ``missing_columns`` lists sealed columns that the current row lacks.
    """

    index: int
    source: str
    source_file: str
    source_record: int
    digest: str | None
    hash: str | None
    error: str | None = None
    digest_kind: str | None = None
    row_digest: str | None = None
    fingerprints: bytes | None = None
    missing_columns: tuple[str, ...] = ()


def _digest_events(
    events: Iterable[SourcedEvent | CaseEvent], mode: str, names: tuple[str, ...] | None
) -> Iterator[_Digest]:
    """Compute the digests and chain hash of each event. Stops after the first unhashable one.

    An event that the mode cannot represent exactly is hashed by its received text (the UTF-8
    bytes of ``raw``) when it has one: its digest is the SHA-256 of those bytes and its chain
    hash ``sha256(prev_hash + raw bytes)``. Such text never equals the canonical form of any
    event, because it parses to an event that has no canonical form. ``names`` lists the mapped
    columns that the row digest covers, in row_columns order, or None for no row digest.
    """
    previous = GENESIS_HASH
    for index, item in enumerate(events):
        event, source_file, source_record, raw, columns = CaseEvent(*item)
        source = f"{source_file}, record {source_record}"
        kind = mode
        try:
            canonical = _canonical(event, mode)
        except _UnrepresentableEvent as exc:
            if raw is None:
                yield _Digest(index, source, source_file, source_record, None, None, str(exc))
                return
            canonical = raw.encode("utf-8")
            kind = RAW_DIGEST
        previous = _chain_hash(previous, canonical)
        digest = hashlib.sha256(canonical).hexdigest()
        row = fingerprints = None
        missing: tuple[str, ...] = ()
        if columns is not None and names is not None:
            missing = tuple(name for name in names if name not in columns)
            if not missing:
                row, fingerprints = row_digest(columns, names)
        yield _Digest(
            index,
            source,
            source_file,
            source_record,
            digest,
            previous,
            None,
            kind,
            row,
            fingerprints,
            missing,
        )


def _sealable(digest: _Digest, mode: str, names: tuple[str, ...] | None) -> _Digest:
    if digest.error is not None:
        raise InputError(
            f"event cannot be hashed exactly in {mode} mode and has no received text to hash "
            f"instead: {digest.error}",
            path=digest.source_file,
            record=digest.source_record,
        )
    if names is not None and digest.row_digest is None:
        missing = ", ".join(digest.missing_columns) or "all mapped columns"
        raise InputError(
            f"event lacks the mapped columns {missing}, which the first event has",
            path=digest.source_file,
            record=digest.source_record,
        )
    return digest


@contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` and move it into place only on success."""
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def export_chain(
    events: Iterable[SourcedEvent | CaseEvent], out: str | os.PathLike[str], mode: str = "jcs"
) -> ChainExport:
    """Write events as an NDJSON chain file, atomically and one record at a time.

    In ``jcs`` mode each line is the record's RFC 8785 form, and in ``seed`` mode the sorted
    compact json.dumps form. Raises InputError, naming the source record, for an event that
    cannot be hashed exactly or that has a top-level ``prev_hash`` or ``hash`` field, because
    the chain layout reserves those names.
    """
    _check_mode(mode)
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"{out} is a directory: give the path of the chain file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    records = 0
    previous = GENESIS_HASH
    with _atomic_path(out) as temporary, temporary.open("wb") as handle:
        for item in events:
            event, source_file, source_record = CaseEvent(*item)[:3]
            reserved = [field for field in CHAIN_FIELDS if field in event]
            if reserved:
                raise InputError(
                    f"event has a top-level {reserved[0]!r} field, which the chain file layout "
                    "reserves for the chain hashes",
                    path=source_file,
                    record=source_record,
                )
            try:
                canonical = _canonical(event, mode)
            except _UnrepresentableEvent as exc:
                raise InputError(
                    f"event cannot be hashed exactly in {mode} mode: {exc}",
                    path=source_file,
                    record=source_record,
                ) from None
            chain_hash = _chain_hash(previous, canonical)
            record = {**event, "prev_hash": previous, "hash": chain_hash}
            if mode == "jcs":
                line = jcs_form.canonicalize(record)
            else:
                line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
            handle.write(line + b"\n")
            previous = chain_hash
            records += 1

    head_hash = previous if records else None
    logger.info("exported %d chain records to %s", records, out)
    return ChainExport(records, head_hash, mode, out)


def seal_events(
    events: Iterable[SourcedEvent | CaseEvent],
    evidence_dir: str | os.PathLike[str],
    mode: str = "jcs",
) -> Seal:
    """Seal a case's events: write their digests and chain hashes to the evidence folder.

    Writes ``chain-seal.parquet`` (index, source_file, source_record, digest, hash,
    digest_kind, row_digest, column_fingerprints; one row per event in chain order) and then
    ``chain-seal.json``. Each file is written to a temporary file and moved into place, and
    events stream through in batches. ``digest`` is the SHA-256 of the event's canonical bytes,
    or of its received text for an event that the mode cannot represent (see _digest_events).
    The row digest covers the mapped columns of the first event's ``columns``, which every
    event must have. Raises InputError, naming the source record, for an event that cannot be
    hashed exactly and has no received text.
    """
    _check_mode(mode)
    evidence_dir = Path(evidence_dir)
    evidence_dir.mkdir(parents=True, exist_ok=True)
    parquet_path = evidence_dir / SEAL_PARQUET
    json_path = evidence_dir / SEAL_JSON

    ahead = _Lookahead(events)
    first = ahead.peek()
    first_columns = CaseEvent(*first).columns if first is not None else None
    names = row_columns(first_columns) if first_columns is not None else None
    records = 0
    raw_digests = 0
    head_hash = None
    tree = merkle.TreeBuilder()
    with _atomic_path(parquet_path) as temporary:
        with pq.ParquetWriter(temporary, _SEAL_SCHEMA) as writer:
            digests = (
                _sealable(digest, mode, names) for digest in _digest_events(ahead, mode, names)
            )
            for batch in _batched(digests, _BATCH_ROWS):
                writer.write_table(_seal_table(batch))
                for digest in batch:
                    tree.append(chain_leaf_hash(digest.hash))
                    raw_digests += digest.digest_kind == RAW_DIGEST
                records += len(batch)
                head_hash = batch[-1].hash

    sealed_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    merkle_root = tree.root().hex()
    seal = {
        "format": SEAL_FORMAT,
        "version": SEAL_VERSION,
        "mode": mode,
        "records": records,
        "head_hash": head_hash,
        "merkle_root": merkle_root,
        "merkle_leaf": MERKLE_LEAF,
        "sealed_at": sealed_at,
        "raw_digests": raw_digests,
        "row_columns": list(names) if names is not None else None,
        "digest_list": SEAL_PARQUET,
        "digest_list_sha256": _file_sha256(parquet_path),
    }
    with _atomic_path(json_path) as temporary:
        temporary.write_text(json.dumps(seal, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "sealed %d chain records in %s (%d by their received text)",
        records,
        evidence_dir,
        raw_digests,
    )
    return Seal(
        records, head_hash, mode, json_path, merkle_root, sealed_at, None, raw_digests, names
    )


def chain_leaf_hash(chain_hash: str) -> bytes:
    """Return the Merkle leaf hash of a record: RFC 9162's leaf hash of its raw chain hash."""
    return merkle.leaf_hash(bytes.fromhex(chain_hash))


def sealed_leaves(evidence_dir: str | os.PathLike[str]) -> Iterator[bytes]:
    """Stream the Merkle leaf hashes of a case seal, in chain order, from its Parquet file."""
    evidence_dir = Path(evidence_dir)
    seal = _read_seal(evidence_dir)
    for row in _read_sealed_rows(evidence_dir / SEAL_PARQUET, seal):
        yield chain_leaf_hash(row.hash)


def read_seal(evidence_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read chain-seal.json after checking that the Parquet digest list is the one it names.

    Raises CaseError when there is no seal or its two files disagree.
    """
    return _read_seal(Path(evidence_dir))


def _batched(items: Iterable[_T], size: int) -> Iterator[tuple[_T, ...]]:
    # itertools.batched exists only from Python 3.12 on.
    iterator = iter(items)
    while batch := tuple(itertools.islice(iterator, size)):
        yield batch


def _seal_table(batch: tuple[_Digest, ...]) -> pa.Table:
    columns = {
        "index": [digest.index for digest in batch],
        "source_file": [digest.source_file for digest in batch],
        "source_record": [digest.source_record for digest in batch],
        "digest": [digest.digest for digest in batch],
        "hash": [digest.hash for digest in batch],
        "digest_kind": [digest.digest_kind for digest in batch],
        "row_digest": [digest.row_digest for digest in batch],
        "column_fingerprints": [digest.fingerprints for digest in batch],
    }
    return pa.table(columns, schema=_SEAL_SCHEMA)


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


# Verifying against a seal


def verify_sealed(
    events: Iterable[SourcedEvent | CaseEvent], evidence_dir: str | os.PathLike[str]
) -> Verification:
    """Compare a case's current events, in chain order, with its seal.

    Streams the events and the sealed digest list side by side with one record of lookahead.
    At the first digest that differs, with current digests ``b`` and sealed digests ``a``:
    ``b[k] == a[k+1]`` and ``b[k+1] == a[k]`` is reordered, ``b[k] == a[k+1]`` alone is deleted,
    ``b[k+1] == a[k]`` alone is inserted, and anything else is modified. Current events that
    end early are truncated, and extra current events are inserted. An event whose digest
    matches but whose mapped columns (``CaseEvent.columns``) differ from the sealed row digest
    is modified, and the detail names the columns. Raises CaseError when no seal exists or when
    the seal files disagree with each other.
    """
    evidence_dir = Path(evidence_dir)
    seal = _read_seal(evidence_dir)
    mode = seal["mode"]
    sealed_records = seal["records"]
    names = tuple(seal["row_columns"]) if seal.get("row_columns") is not None else None
    current = _Lookahead(_digest_events(events, mode, names))
    sealed = _Lookahead(_read_sealed_rows(evidence_dir / SEAL_PARQUET, seal))
    tree = merkle.TreeBuilder()
    previous: str | None = None
    rows_unchecked = 0

    def fail(problem: str, first_bad: int, checked: int, detail: str, source: str) -> Verification:
        return Verification(False, checked, first_bad, problem, mode, detail, previous, source)

    for k in itertools.count():
        now = next(current, None)
        then = next(sealed, None)
        if now is None and then is None:
            break
        if now is not None and now.error is not None:
            detail = f"Event {k} ({now.source}) contains a value that cannot be hashed exactly: "
            return fail("unrepresentable", k, k + 1, detail + now.error + ".", now.source)
        if now is None:
            detail = (
                f"The current events end after {k} records but the seal has {sealed_records}, "
                f"so sealed event {k} ({then.source}) and those after it are missing."
            )
            return fail("truncated", k, k, detail, then.source)
        if then is None:
            detail = f"Event {k} ({now.source}) comes after the last sealed event."
            return fail("inserted", k, k + 1, detail, now.source)
        if now.digest == then.digest:
            if now.hash != then.hash:
                raise CaseError(
                    f"the chain seal in {evidence_dir} is inconsistent: row {k} has the digest "
                    "of the current event but a different chain hash, so the seal was altered"
                )
            if then.row_digest is not None and names is not None:
                if now.missing_columns:
                    missing = ", ".join(now.missing_columns)
                    detail = (
                        f"Event {k} ({now.source}) has no column {missing} in the lake, but "
                        "the seal covers it, so the lake's columns were changed after sealing."
                    )
                    return fail("modified", k, k + 1, detail, now.source)
                if now.row_digest is None:
                    rows_unchecked += 1
                elif now.row_digest != then.row_digest:
                    detail = _row_change_detail(k, now, then, names)
                    return fail("modified", k, k + 1, detail, now.source)
            previous = now.hash
            tree.append(chain_leaf_hash(now.hash))
            continue
        problem, detail = _classify_sealed(k, now, then, current.peek(), sealed.peek())
        source = then.source if problem == "deleted" else now.source
        return fail(problem, k, k + 1, detail, source)

    if seal.get("merkle_root") is not None and tree.root().hex() != seal["merkle_root"]:
        raise CaseError(
            f"the chain seal in {evidence_dir} is inconsistent: its merkle_root does not match "
            f"the hashes in {SEAL_PARQUET}, so the seal was altered"
        )
    if previous != seal["head_hash"]:
        raise CaseError(
            f"the chain seal in {evidence_dir} is inconsistent: its head_hash does not match "
            f"the last hash in {SEAL_PARQUET}, so the seal was altered"
        )
    detail = f"All {sealed_records} events match the seal ({mode} mode)."
    raw_digests = seal.get("raw_digests") or 0
    if raw_digests:
        detail += (
            f" {raw_digests} of them were sealed by their received text, because {mode} mode "
            "cannot represent them exactly."
        )
    if names is None:
        detail += (
            " The seal does not cover the mapped columns (version 1 seals and seals of events "
            "without columns cover only the received events), so edits to columns such as "
            "actor_id or ts are not detected: seal the case again to cover them."
        )
    elif rows_unchecked:
        detail += (
            f" The mapped columns of {rows_unchecked} events were not checked because the "
            "events were given without them."
        )
    return Verification(True, sealed_records, None, None, mode, detail, previous)


def _row_change_detail(k: int, now: _Digest, then: _Digest, names: tuple[str, ...]) -> str:
    """Describe a row whose received event matches the seal but whose mapped columns do not."""
    changed = []
    if now.fingerprints is not None and then.fingerprints is not None:
        changed = _differing_columns(list(names), now.fingerprints, then.fingerprints)
    if changed:
        noun = "column" if len(changed) == 1 else "columns"
        what = f"mapped {noun} {', '.join(changed)} differ"
        if len(changed) == 1:
            what = f"mapped column {changed[0]} differs"
    else:
        what = "mapped columns differ (which ones could not be told from the fingerprints)"
    return (
        f"Event {k} ({now.source}) matches its sealed raw event, but its {what} from the "
        "sealed values, so the lake row was edited after sealing."
    )


def _classify_sealed(
    k: int, now: _Digest, then: _Digest, next_now: _Digest | None, next_then: _Digest | None
) -> tuple[str, str]:
    deleted = next_then is not None and now.digest == next_then.digest
    inserted = next_now is not None and next_now.digest is not None
    inserted = inserted and next_now.digest == then.digest
    if deleted and inserted:
        return "reordered", (
            f"Events {k} ({now.source}) and {k + 1} ({next_now.source}) are in the opposite "
            "order from the seal."
        )
    if deleted:
        return "deleted", f"Sealed event {k} ({then.source}) is missing from the current events."
    if inserted:
        return "inserted", f"Event {k} ({now.source}) is not in the seal."
    return "modified", f"Event {k} ({now.source}) differs from sealed event {k} ({then.source})."


def _read_seal(evidence_dir: Path) -> dict[str, Any]:
    """Read chain-seal.json and check that chain-seal.parquet is the file it describes."""
    json_path = evidence_dir / SEAL_JSON
    parquet_path = evidence_dir / SEAL_PARQUET
    if not json_path.is_file():
        raise CaseError(
            f"no chain seal in {evidence_dir}: run `secobs chain seal CASE` first to seal "
            "the case's audit events"
        )
    seal = _read_seal_json(json_path)

    if not parquet_path.is_file():
        raise CaseError(f"the chain seal in {evidence_dir} has no {SEAL_PARQUET}")
    if _file_sha256(parquet_path) != seal.get("digest_list_sha256"):
        raise CaseError(
            f"{parquet_path} does not match the SHA-256 recorded in {SEAL_JSON}, so the seal "
            "was altered or a seal run was interrupted"
        )

    try:
        rows = pq.read_metadata(parquet_path).num_rows
    except (pa.ArrowException, OSError) as exc:
        raise CaseError(f"cannot read {parquet_path}: {exc}") from None
    if rows != seal["records"]:
        raise CaseError(
            f"the chain seal in {evidence_dir} is inconsistent: {SEAL_JSON} counts "
            f"{seal['records']} records but {SEAL_PARQUET} has {rows} rows"
        )
    return seal


def _read_seal_json(json_path: Path) -> dict[str, Any]:
    try:
        seal = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CaseError(f"cannot read the chain seal {json_path}: {exc}") from None
    if not isinstance(seal, dict) or seal.get("format") != SEAL_FORMAT:
        raise CaseError(f"{json_path} is not a secobs chain seal")
    if seal.get("version") not in READABLE_SEAL_VERSIONS:
        raise CaseError(
            f"{json_path} has seal format version {seal.get('version')!r}, but this secobs "
            f"reads versions {', '.join(map(str, READABLE_SEAL_VERSIONS))}: upgrade secobs"
        )
    if seal.get("mode") not in MODES or not isinstance(seal.get("records"), int):
        raise CaseError(f"{json_path} has an invalid mode or record count")
    columns = seal.get("row_columns")
    if columns is not None and (
        not isinstance(columns, list)
        or not all(isinstance(name, str) for name in columns)
        or tuple(columns) != row_columns(columns)
    ):
        raise CaseError(f"{json_path} has an invalid row_columns list")
    return seal


def _read_sealed_rows(parquet_path: Path, seal: dict[str, Any]) -> Iterator[_Digest]:
    """Stream the sealed digest list one row group at a time, checking the index order.

    Reading row groups one by one keeps memory flat. With iter_batches, peak RSS grew by
    about 150 bytes per sealed record (measured with pyarrow 26). Version 1 seals have no
    digest kinds and no row digests.
    """
    schema = _SEAL_SCHEMA if seal["version"] >= 2 else _SEAL_SCHEMA_V1
    columns = [field.name for field in schema]
    expected = 0
    with pq.ParquetFile(parquet_path) as parquet:
        if parquet.schema_arrow != schema:
            raise CaseError(f"{parquet_path} does not have the chain seal columns")
        for group in range(parquet.num_row_groups):
            data = parquet.read_row_group(group, columns=columns, use_threads=False).to_pydict()
            if schema is _SEAL_SCHEMA_V1:
                rows = len(data["index"])
                data["digest_kind"] = [seal["mode"]] * rows
                data["row_digest"] = data["column_fingerprints"] = [None] * rows
            for index, source_file, source_record, digest, chain_hash, kind, row, prints in zip(
                *(data[field.name] for field in _SEAL_SCHEMA), strict=True
            ):
                if index != expected:
                    message = f"{parquet_path} has row index {index} where {expected} belongs"
                    raise CaseError(message)
                source = f"{source_file}, record {source_record}"
                yield _Digest(
                    index,
                    source,
                    source_file,
                    source_record,
                    digest,
                    chain_hash,
                    None,
                    kind,
                    row,
                    prints,
                )
                expected += 1


# Prefixes for checkpoints and proofs


@dataclass(frozen=True)
class ChainPrefix:
    """A chain's record count, and the chain hash and Merkle root after its first ``size``.

    ``hash_at_size`` and ``root_at_size`` are None when the chain has fewer than ``size``
    records. For ``size`` 0 they are None and the empty-tree root.
    """

    records: int
    size: int
    hash_at_size: str | None
    root_at_size: str | None


def file_prefix(path: str | os.PathLike[str], size: int) -> ChainPrefix:
    """Read a chain file's stated hashes and summarise its first ``size`` records.

    Only the ``hash`` fields are read, so verify the file first: for a valid chain they are
    the chain hashes.
    """
    path = Path(path)
    tree = merkle.TreeBuilder()
    hash_at = None
    records = 0
    with path.open("rb") as handle:
        for record in _read_chain_lines(handle, "hashes"):
            if record.error is not None:
                raise InputError(f"the record at {record.where} {record.error}", path=str(path))
            if records < size:
                tree.append(chain_leaf_hash(record.hash))
                hash_at = record.hash
            records += 1
    return _prefix(records, size, hash_at, tree)


def sealed_prefix(evidence_dir: str | os.PathLike[str], size: int) -> ChainPrefix:
    """Summarise the first ``size`` records of a case seal from its Parquet digest list."""
    evidence_dir = Path(evidence_dir)
    seal = _read_seal(evidence_dir)
    tree = merkle.TreeBuilder()
    hash_at = None
    for row in _read_sealed_rows(evidence_dir / SEAL_PARQUET, seal):
        if row.index >= size:
            break
        tree.append(chain_leaf_hash(row.hash))
        hash_at = row.hash
    return _prefix(seal["records"], size, hash_at, tree)


def _prefix(records: int, size: int, hash_at: str | None, tree: merkle.TreeBuilder) -> ChainPrefix:
    if records < size:
        return ChainPrefix(records, size, None, None)
    return ChainPrefix(records, size, hash_at, tree.root().hex())


def sealed_record(evidence_dir: str | os.PathLike[str], index: int) -> dict[str, Any]:
    """Return one sealed row (source_file, source_record, digest, digest_kind, hash, prev_hash).

    Raises UsageError when the seal has no record at ``index``.
    """
    evidence_dir = Path(evidence_dir)
    seal = _read_seal(evidence_dir)
    if not 0 <= index < seal["records"]:
        raise UsageError(
            f"record {index} is not in the seal, which has {seal['records']} records "
            "(indexes start at 0)"
        )
    previous = GENESIS_HASH
    for row in _read_sealed_rows(evidence_dir / SEAL_PARQUET, seal):
        if row.index == index:
            return {
                "index": index,
                "source_file": row.source_file,
                "source_record": row.source_record,
                "digest": row.digest,
                "digest_kind": row.digest_kind,
                "prev_hash": previous,
                "hash": row.hash,
            }
        previous = row.hash
    raise CaseError(f"the chain seal in {evidence_dir} ends before record {index}")
