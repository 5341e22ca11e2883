"""Batched, atomic writes into the lake.

Rows are converted with the declared schema and appended, batch by batch, to one Parquet file
per table and day partition in a staging folder, so memory contains one batch, not the file.
Only when the whole source file has been read are the files moved into the lake and the
manifest row written, so an interrupted ingest leaves nothing in the lake under its name.
Part files carry the source file's SHA-256 prefix, which lets the next run remove what an
interrupted move left behind.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from secobs import tables
from secobs.case import Case
from secobs.ingest.records import ArrowBatch, Rejected, Row

BATCH_ROWS = 50_000
COMPRESSION = "zstd"
UNKNOWN_DAY = "unknown"


def part_prefix(sha256: str) -> str:
    return f"part-{sha256[:16]}"


class LakeWriter:
    """Stage the rows and rejected records of one source file and publish them together."""

    def __init__(self, case: Case, sha256: str, source_file: str, fmt: str):
        self.case = case
        self.sha256 = sha256
        self.source_file = source_file
        self.format = fmt
        self.staging = case.lake_dir / ".staging" / sha256
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        self.rows: dict[str, list[Row]] = {}
        self.rejected: list[Rejected] = []
        self.writers: dict[tuple[str, str], pq.ParquetWriter] = {}
        self.loaded: dict[str, int] = {}
        self.quarantined = 0
        self.ingested_at = datetime.now(UTC)

    def add(self, item: Row | Rejected | ArrowBatch) -> None:
        if isinstance(item, Rejected):
            self.rejected.append(item)
            self.quarantined += 1
            if len(self.rejected) >= BATCH_ROWS:
                self._flush_rejected()
        elif isinstance(item, ArrowBatch):
            self.loaded[item.table] = self.loaded.get(item.table, 0) + item.data.num_rows
            self._write(item.table, item.data)
        else:
            buffer = self.rows.setdefault(item.table, [])
            buffer.append(item)
            self.loaded[item.table] = self.loaded.get(item.table, 0) + 1
            if len(buffer) >= BATCH_ROWS:
                self._flush_rows(item.table)

    def _writer(self, folder: str, day: str | None, schema: pa.Schema) -> pq.ParquetWriter:
        key = (folder, day or "")
        if key not in self.writers:
            target = self.staging / folder
            if day is not None:
                target = target / f"day={day}"
            target.mkdir(parents=True, exist_ok=True)
            path = target / f"{part_prefix(self.sha256)}-{len(self.writers) + 1:06d}.parquet"
            self.writers[key] = pq.ParquetWriter(path, schema, compression=COMPRESSION)
        return self.writers[key]

    def _write(self, table: str, data: pa.Table) -> None:
        """Append columns (every schema column but source_file) to the table's day files."""
        schema, time_column = tables.CANONICAL[table]
        source = pa.array([self.source_file] * data.num_rows, type=pa.string())
        data = data.append_column("source_file", source)
        for field in schema:  # a reader may leave out columns it has no values for
            if field.name not in data.column_names:
                data = data.append_column(field.name, pa.nulls(data.num_rows, field.type))
        data = data.select(schema.names).cast(schema)
        days = pc.fill_null(pc.strftime(data.column(time_column), format="%Y-%m-%d"), UNKNOWN_DAY)
        distinct = days.unique().to_pylist()
        for day in sorted(distinct):
            part = data if len(distinct) == 1 else data.filter(pc.equal(days, day))
            self._writer(table, day, schema).write_table(part)

    def _flush_rows(self, table: str) -> None:
        rows = self.rows.pop(table, [])
        if rows:
            self._write(table, _rows_to_table(rows, tables.CANONICAL[table][0]))

    def _flush_rejected(self) -> None:
        if not self.rejected:
            return
        columns = {
            "source_file": [self.source_file] * len(self.rejected),
            "source_record": [item.record for item in self.rejected],
            "format": [self.format] * len(self.rejected),
            "reason": [item.reason for item in self.rejected],
            "raw": [item.raw for item in self.rejected],
            "ingested_at": [self.ingested_at] * len(self.rejected),
        }
        table = pa.table(columns, schema=tables.QUARANTINE)
        self._writer("quarantine", None, tables.QUARANTINE).write_table(table)
        self.rejected = []

    def _close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}

    def publish(self, manifest_row: dict[str, Any]) -> None:
        """Flush what is buffered, move the staged files into the lake, then write the manifest."""
        for table in list(self.rows):
            self._flush_rows(table)
        self._flush_rejected()
        self._close()
        for staged in sorted(self.staging.rglob("*.parquet")):
            target = self.case.lake_dir / staged.relative_to(self.staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        manifest = pa.Table.from_pylist([manifest_row], schema=tables.MANIFEST)
        write_atomically(manifest, self.case.manifest_dir / f"{self.sha256}.parquet")
        shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        """Drop everything staged for this source file."""
        try:
            self._close()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)


def write_atomically(table: pa.Table, path: Path) -> None:
    """Write a Parquet file under a temporary name and rename it into place."""
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, temporary, compression=COMPRESSION)
    os.replace(temporary, path)


def remove_unpublished_parts(case: Case, sha256: str) -> int:
    """Delete lake files of a source file that has no manifest row (an interrupted publish)."""
    removed = 0
    for part in case.lake_dir.glob(f"*/**/{part_prefix(sha256)}-*.parquet"):
        if ".staging" in part.parts:
            continue
        part.unlink()
        removed += 1
    return removed


def _rows_to_table(rows: list[Row], schema: pa.Schema) -> pa.Table:
    """Convert rows to columns of `schema`; source_file is added later by the writer."""
    columns: dict[str, pa.Array] = {}
    for field in schema:
        name = field.name
        if name == "source_file":
            continue
        if name == "source_record":
            values: list[Any] = [row.record for row in rows]
        else:
            values = [row.values.get(name) for row in rows]
        if field.type == tables.UTC_NANOS:
            columns[name] = pa.array(values, type=pa.int64()).cast(field.type)
        else:
            columns[name] = pa.array(values, type=field.type)
    return pa.table(columns)
