"""Load source files into a case: detect, read, quarantine, write the lake, record the manifest."""

from __future__ import annotations

import functools
import getpass
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from secobs import secrets
from secobs.case import Case
from secobs.errors import InputError
from secobs.ingest.formats import FORMATS, detect_format, get_format
from secobs.ingest.writer import LakeWriter, remove_unpublished_parts

log = logging.getLogger("secobs")

__all__ = ["FORMATS", "FileResult", "IngestResult", "ingest", "file_sha256"]


@dataclass
class FileResult:
    path: str
    sha256: str | None = None
    size: int | None = None
    format: str | None = None
    table: str | None = None
    status: str = "loaded"  # loaded, already_ingested or failed
    records_in: int = 0
    loaded: int = 0
    quarantined: int = 0
    redacted: int | None = None  # secrets replaced with markers; None when redaction was off
    error: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class IngestResult:
    case: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def loaded(self) -> dict[str, int]:
        totals = {"audit_events": 0, "request_metrics": 0, "spans": 0}
        for result in self.files:
            if result.table and result.status == "loaded":
                totals[result.table] = totals.get(result.table, 0) + result.loaded
        return totals

    @property
    def quarantined(self) -> int:
        return sum(result.quarantined for result in self.files if result.status == "loaded")

    @property
    def failed(self) -> list[FileResult]:
        return [result for result in self.files if result.status == "failed"]

    def to_json(self) -> dict:
        return {
            "case": self.case,
            "loaded": self.loaded,
            "quarantined": self.quarantined,
            "files": [result.to_json() for result in self.files],
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ingest(
    case_dir: Path | str,
    paths: Iterable[Path | str],
    *,
    format: str | None = None,
    column_map: dict[str, str] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> IngestResult:
    """Ingest source files into a case, creating the case when it does not exist.

    Each file is loaded whole or not at all; a file that cannot be read is reported in its
    FileResult (status "failed") and the other files still load. A file whose SHA-256 is
    already in the manifest is skipped, so ingesting twice adds nothing. `column_map` maps
    canonical columns to source fields for the formats that accept one.
    """
    paths = [Path(path) for path in paths]
    chosen = get_format(format) if format else None
    if not any(path.is_file() for path in paths):
        missing = ", ".join(str(path) for path in paths[:5])
        raise InputError(f"no readable file among the paths given ({missing}); nothing to ingest")
    case = Case.open(case_dir, create=True)
    result = IngestResult(case=str(case.root))
    known = {path.stem for path in case.manifest_dir.glob("*.parquet")}
    for raw_path in paths:
        path = Path(raw_path)
        file_result = FileResult(path=str(path))
        try:
            _ingest_file(case, path, chosen, known, file_result, column_map)
        except InputError as error:
            file_result.status = "failed"
            file_result.error = str(error)
            log.info("ingest failed: %s", error)
        except Exception as error:  # a reader bug must not stop the other files
            file_result.status = "failed"
            file_result.error = (
                f"{path}: reading failed unexpectedly ({type(error).__name__}: {error})"
            )
            log.exception("ingest of %s failed unexpectedly", path)
        result.files.append(file_result)
        if on_file is not None:
            on_file(file_result)
    with case.connect() as con:
        con.execute("CHECKPOINT")
    return result


def _ingest_file(
    case: Case,
    path: Path,
    chosen,
    known: set[str],
    result: FileResult,
    column_map: dict[str, str] | None = None,
) -> None:
    if not path.is_file():
        raise InputError("file not found", path=str(path))
    result.size = path.stat().st_size
    result.sha256 = sha256 = file_sha256(path)
    fmt = chosen or detect_format(path)
    result.format, result.table = fmt.name, fmt.table
    if sha256 in known:
        result.status = "already_ingested"
        manifest = pq.read_table(case.manifest_dir / f"{sha256}.parquet").to_pylist()[0]
        result.records_in = manifest["records_in"]
        result.loaded = manifest["loaded"]
        result.quarantined = manifest["quarantined"]
        return
    removed = remove_unpublished_parts(case, sha256)
    if removed:
        log.info("removed %d part files left by an interrupted ingest of %s", removed, path)

    source_file = str(path.resolve())
    read = fmt.read
    if column_map:
        if fmt.read_mapped is None:
            raise InputError(f"format {fmt.name} does not take a column mapping", path=str(path))
        read = functools.partial(fmt.read_mapped, mapping=column_map)
    try:
        writer = _load(case, path, sha256, source_file, fmt, read)
    except duckdb.Error as error:
        if fmt.fallback is None:
            raise InputError(f"cannot read: {error}", path=str(path)) from error
        log.info("fast reader failed on %s (%s); reading it again in Python", path, error)
        writer = _load(case, path, sha256, source_file, fmt, fmt.fallback)
    loaded = sum(writer.loaded.values())
    result.loaded, result.quarantined = loaded, writer.quarantined
    result.redacted = writer.redacted
    result.records_in = loaded + writer.quarantined
    writer.publish(
        {
            "path": source_file,
            "sha256": sha256,
            "size": result.size,
            "format": fmt.name,
            "table_name": fmt.table,
            "records_in": result.records_in,
            "loaded": loaded,
            "quarantined": writer.quarantined,
            "ingested_at": datetime.now(UTC),
            "ingested_by": getpass.getuser(),
        }
    )
    known.add(sha256)


class _ManifestCountWriter(LakeWriter):
    """A LakeWriter that adds the number of redacted secrets to its manifest row."""

    redacted: int | None = None

    def publish(self, manifest_row: dict) -> None:
        super().publish({**manifest_row, "redacted": self.redacted})


def _load(case: Case, path: Path, sha256: str, source_file: str, fmt, read) -> LakeWriter:
    """Stream every record of the file into a staged LakeWriter; discard it on any error.

    Unless redaction is off (`secobs.secrets.redaction(False)`), every item is redacted
    before it is passed to the writer. Secrets in `raw`, in string columns and in quarantined
    text become `[REDACTED:kind:hmac16]` markers, so they never reach the lake. The audit chain
    hashes `raw` later, so it seals the redacted text. The manifest counts the markers.
    """
    writer = _ManifestCountWriter(case, sha256, source_file, fmt.name)
    redactor = secrets.Redactor.for_case(case.root) if secrets.redaction_enabled() else None
    try:
        items = read(path)
        if redactor is not None:
            items = redactor.redact_stream(items)
        for item in items:
            writer.add(item)
    except (OSError, UnicodeDecodeError) as error:
        writer.discard()
        raise InputError(f"cannot read: {error}", path=str(path)) from error
    except BaseException:
        writer.discard()
        raise
    if redactor is not None:
        writer.redacted = redactor.redacted
        if redactor.redacted:
            kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(redactor.counts.items()))
            log.info("redacted %d secrets in %s (%s)", redactor.redacted, path, kinds)
    return writer
