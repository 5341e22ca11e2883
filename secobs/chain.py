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

A chain file is NDJSON. Each record is the event's fields plus ``prev_hash`` and ``hash`` at top
level, and the event is the record without those two fields. A case seal
(``chain-seal.json`` and ``chain-seal.parquet`` in the case's evidence folder) stores the digest
and chain hash of every event, so a later check can name the event that was modified, deleted,
inserted, reordered or cut off. The seal also stores the RFC 9162 Merkle root over the chain
hashes (secobs.merkle), which signed checkpoints and inclusion proofs refer to.
"""

from __future__ import annotations

import codecs
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

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
SEAL_VERSION = 1
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
_SEAL_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
        ("digest", pa.string()),
        ("hash", pa.string()),
    ]
)

Event = dict[str, Any]
SourcedEvent = tuple[Event, str, int]
_T = TypeVar("_T")


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


def _to_record(index: int, where: str, value: object) -> _Record:
    if not isinstance(value, dict):
        return _Record(index, where, error="is not a JSON object")
    for field in CHAIN_FIELDS:
        stated = value.get(field)
        if not isinstance(stated, str):
            return _Record(index, where, error=f"has no string {field!r} field")
        if not _HEX_DIGEST.fullmatch(stated):
            error = f"has a {field!r} that is not 64 lower-case hex characters"
            return _Record(index, where, error=error)
    event = dict(value)
    del event["prev_hash"], event["hash"]
    return _Record(index, where, event, value["prev_hash"], value["hash"])


def _read_chain_lines(handle: BinaryIO, mode: str) -> Iterator[_Record]:
    """Parse NDJSON chain records one line at a time, skipping blank lines.

    Lines are split on LF only, as NDJSON requires, so a U+2028 inside a string stays in its
    record. Numbers go through the standard json module, which keeps floats and integers
    exact, unless the jcs fast path applies (see _read_jcs_fast). Mode ``hashes`` reads only
    the chain fields and leaves ``canonical`` unset.
    """
    index = 0
    for line_number, raw in enumerate(handle, start=1):
        if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if not raw.strip():
            continue
        where = f"line {line_number}"
        if mode == "hashes":
            record = _read_hashes(index, where, raw)
            if record is not None:
                yield record
                index += 1
                continue
        if mode == "jcs":
            record = _read_jcs_fast(index, where, raw)
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
            yield _to_record(index, where, value)
        index += 1


def _read_hashes(index: int, where: str, raw: bytes) -> _Record | None:
    """Parse a record for its chain fields only, or return None to read it with json."""
    try:
        return _to_record(index, where, jcs_form.loads_fast(raw))
    except ValueError:
        return None


def _read_jcs_fast(index: int, where: str, raw: bytes) -> _Record | None:
    """Parse a record with orjson and canonicalise its event, or return None to read it slowly.

    The canonical bytes are kept only when jcs.canonicalize_fast vouches for them, which rules
    out the integers that orjson would have read as rounded floats.
    """
    try:
        value = jcs_form.loads_fast(raw)
    except ValueError:
        return None
    record = _to_record(index, where, value)
    if record.error is not None:
        return None
    canonical = jcs_form.canonicalize_fast(record.event, floats_checked=True)
    if canonical is None:
        return None
    return _Record(index, where, record.event, record.prev_hash, record.hash, None, canonical)


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
    file line.
    """
    _check_mode(mode)
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError("chain file not found", path=str(path)) from None
    except IsADirectoryError:
        raise InputError("expected a chain file, found a directory", path=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read chain file: {exc.strerror}", path=str(path)) from None
    with handle:
        return _verify_stream(_read_chain_lines(handle, mode), mode, f"{path}, ")


def verify_records(records: Iterable[dict[str, Any]], mode: str = "jcs") -> Verification:
    """Verify chain records that were already parsed, in chain order.

    Each record is the event's fields plus ``prev_hash`` and ``hash``. Parse them with the
    standard json module: a parser that turns numbers into other types (decimals, rounded
    floats) changes the bytes that are hashed. ``detail`` names records by 0-based index.
    """
    _check_mode(mode)
    parsed = (_to_record(index, f"index {index}", record) for index, record in enumerate(records))
    return _verify_stream(parsed, mode)


def _verify_stream(records: Iterable[_Record], mode: str, source_prefix: str = "") -> Verification:
    """Walk the chain and classify the first record that breaks it.

    Memory stays bounded: one record of lookahead, the last RECENT_HASHES record hashes and,
    after a break, one more pass over the rest of the stream to look for a later record that
    the broken link points to.
    """
    hasher = _Hasher(mode)
    ahead = _Lookahead(records)
    recent = _RecentHashes(RECENT_HASHES)
    previous = GENESIS_HASH
    checked = 0

    def fail(problem: str, first_bad: int, detail: str, head: str | None) -> Verification:
        if head == GENESIS_HASH:
            head = None
        sentence = f"{detail} ({hasher.describe_mode()})."
        where = record.where if first_bad == record.index else recent.where_of(first_bad)
        source = source_prefix + where if where is not None else None
        return Verification(False, checked, first_bad, problem, mode, sentence, head, source)

    record = None
    for record in ahead:
        checked += 1
        head = previous if record.index > 0 else None
        if record.error is not None:
            detail = f"The record at {record.where} {record.error}"
            return fail("malformed", record.index, detail, head)
        try:
            own_hash_ok = hasher.matches(
                record.prev_hash, record.event, record.hash, record.canonical
            )
        except _UnrepresentableEvent as exc:
            detail = f"The record at {record.where} cannot be hashed exactly: {exc}"
            return fail("unrepresentable", record.index, detail, head)
        if not own_hash_ok:
            return fail(*_classify_bad_hash(record, ahead.peek(), previous), head)
        if record.prev_hash != previous:
            problem, first_bad, detail, head = _classify_broken_link(record, ahead, recent)
            return fail(problem, first_bad, detail, head if head is not None else previous)
        recent.add(record)
        previous = record.hash

    detail = f"Verified {checked} records in {hasher.describe_mode()}."
    if checked == 0:
        detail = "The chain contains no records."
    head_hash = previous if checked else None
    return Verification(True, checked, None, None, mode, detail, head_hash)


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
    """One event's digest and chain hash, or the reason it cannot be hashed."""

    index: int
    source: str
    source_file: str
    source_record: int
    digest: str | None
    hash: str | None
    error: str | None = None


def _digest_events(events: Iterable[SourcedEvent], mode: str) -> Iterator[_Digest]:
    """Compute digest and chain hash of each event. Stops after the first unhashable event."""
    previous = GENESIS_HASH
    for index, (event, source_file, source_record) in enumerate(events):
        source = f"{source_file}, record {source_record}"
        try:
            canonical = _canonical(event, mode)
        except _UnrepresentableEvent as exc:
            yield _Digest(index, source, source_file, source_record, None, None, str(exc))
            return
        previous = _chain_hash(previous, canonical)
        digest = hashlib.sha256(canonical).hexdigest()
        yield _Digest(index, source, source_file, source_record, digest, previous)


def _hashable(digest: _Digest, mode: str) -> _Digest:
    if digest.error is not None:
        raise InputError(
            f"event cannot be hashed exactly in {mode} mode: {digest.error}",
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
    events: Iterable[SourcedEvent], out: str | os.PathLike[str], mode: str = "jcs"
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
        for event, source_file, source_record in events:
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
    events: Iterable[SourcedEvent], evidence_dir: str | os.PathLike[str], mode: str = "jcs"
) -> Seal:
    """Seal a case's events: write their digests and chain hashes to the evidence folder.

    Writes ``chain-seal.parquet`` (index, source_file, source_record, digest, hash, one row per
    event in chain order) and then ``chain-seal.json`` (format, version, mode, records,
    head_hash, sealed_at and the SHA-256 of the Parquet file). Each file is written to a
    temporary file and moved into place, and events stream through in batches. ``digest`` is
    the SHA-256 of the event's canonical bytes. Raises InputError, naming the source record,
    for an event that cannot be hashed exactly.
    """
    _check_mode(mode)
    evidence_dir = Path(evidence_dir)
    evidence_dir.mkdir(parents=True, exist_ok=True)
    parquet_path = evidence_dir / SEAL_PARQUET
    json_path = evidence_dir / SEAL_JSON

    records = 0
    head_hash = None
    tree = merkle.TreeBuilder()
    with _atomic_path(parquet_path) as temporary:
        with pq.ParquetWriter(temporary, _SEAL_SCHEMA) as writer:
            digests = (_hashable(digest, mode) for digest in _digest_events(events, mode))
            for batch in _batched(digests, _BATCH_ROWS):
                writer.write_table(_seal_table(batch))
                for digest in batch:
                    tree.append(chain_leaf_hash(digest.hash))
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
        "digest_list": SEAL_PARQUET,
        "digest_list_sha256": _file_sha256(parquet_path),
    }
    with _atomic_path(json_path) as temporary:
        temporary.write_text(json.dumps(seal, indent=2) + "\n", encoding="utf-8")
    logger.info("sealed %d chain records in %s", records, evidence_dir)
    return Seal(records, head_hash, mode, json_path, merkle_root, sealed_at)


def chain_leaf_hash(chain_hash: str) -> bytes:
    """Return the Merkle leaf hash of a record: RFC 9162's leaf hash of its raw chain hash."""
    return merkle.leaf_hash(bytes.fromhex(chain_hash))


def sealed_leaves(evidence_dir: str | os.PathLike[str]) -> Iterator[bytes]:
    """Stream the Merkle leaf hashes of a case seal, in chain order, from its Parquet file."""
    evidence_dir = Path(evidence_dir)
    _read_seal(evidence_dir)
    for row in _read_sealed_rows(evidence_dir / SEAL_PARQUET):
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
    events: Iterable[SourcedEvent], evidence_dir: str | os.PathLike[str]
) -> Verification:
    """Compare a case's current events, in chain order, with its seal.

    Streams the events and the sealed digest list side by side with one record of lookahead.
    At the first digest that differs, with current digests ``b`` and sealed digests ``a``:
    ``b[k] == a[k+1]`` and ``b[k+1] == a[k]`` is reordered, ``b[k] == a[k+1]`` alone is deleted,
    ``b[k+1] == a[k]`` alone is inserted, and anything else is modified. Current events that
    end early are truncated, and extra current events are inserted. Raises CaseError when no
    seal exists or when the seal files disagree with each other.
    """
    evidence_dir = Path(evidence_dir)
    seal = _read_seal(evidence_dir)
    mode = seal["mode"]
    sealed_records = seal["records"]
    current = _Lookahead(_digest_events(events, mode))
    sealed = _Lookahead(_read_sealed_rows(evidence_dir / SEAL_PARQUET))
    tree = merkle.TreeBuilder()
    previous: str | None = None

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
    return Verification(True, sealed_records, None, None, mode, detail, previous)


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
    if seal.get("version") != SEAL_VERSION:
        raise CaseError(
            f"{json_path} has seal format version {seal.get('version')!r}, but this secobs "
            f"reads version {SEAL_VERSION}: upgrade secobs"
        )
    if seal.get("mode") not in MODES or not isinstance(seal.get("records"), int):
        raise CaseError(f"{json_path} has an invalid mode or record count")
    return seal


def _read_sealed_rows(parquet_path: Path) -> Iterator[_Digest]:
    """Stream the sealed digest list one row group at a time, checking the index order.

    Reading row groups one by one keeps memory flat. With iter_batches, peak RSS grew by
    about 150 bytes per sealed record (measured with pyarrow 26).
    """
    columns = [field.name for field in _SEAL_SCHEMA]
    expected = 0
    with pq.ParquetFile(parquet_path) as parquet:
        if parquet.schema_arrow != _SEAL_SCHEMA:
            raise CaseError(f"{parquet_path} does not have the chain seal columns")
        for group in range(parquet.num_row_groups):
            data = parquet.read_row_group(group, columns=columns, use_threads=False).to_pydict()
            for index, source_file, source_record, digest, chain_hash in zip(
                *(data[name] for name in columns), strict=True
            ):
                if index != expected:
                    message = f"{parquet_path} has row index {index} where {expected} belongs"
                    raise CaseError(message)
                source = f"{source_file}, record {source_record}"
                yield _Digest(index, source, source_file, source_record, digest, chain_hash)
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
    for row in _read_sealed_rows(evidence_dir / SEAL_PARQUET):
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
    """Return one sealed row (source_file, source_record, digest, hash, prev_hash) by index.

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
    for row in _read_sealed_rows(evidence_dir / SEAL_PARQUET):
        if row.index == index:
            return {
                "index": index,
                "source_file": row.source_file,
                "source_record": row.source_record,
                "digest": row.digest,
                "prev_hash": previous,
                "hash": row.hash,
            }
        previous = row.hash
    raise CaseError(f"the chain seal in {evidence_dir} ends before record {index}")
