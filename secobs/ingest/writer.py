"""Batched, atomic writes into the lake.

Rows are buffered per table and written as Parquet files with the declared schema, one file
per day partition per batch, into a staging folder. Only when the whole source file has been
read are the files moved into the lake and the manifest row written, so an interrupted ingest
leaves nothing in the lake under its name. Part files carry the source file's SHA-256 prefix,
which lets the next run remove what an interrupted move left behind.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from secobs import tables
from secobs.case import Case
from secobs.ingest.records import Rejected, Row

BATCH_ROWS = 50_000
COMPRESSION = "zstd"


def part_prefix(sha256: str) -> str:
    return f"part-{sha256[:16]}"


class LakeWriter:
    """Buffer rows and rejected records of one source file and publish them together."""

    def __init__(self, case: Case, sha256: str, source_file: str, fmt: str):
        self.case = case
        self.sha256 = sha256
        self.source_file = source_file
        self.format = fmt
        self.staging = case.lake_dir / ".staging" / sha256
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        self.buffers: dict[str, list[Row]] = {}
        self.rejected: list[Rejected] = []
        self.loaded: dict[str, int] = {}
        self.quarantined = 0
        self.sequence = 0
        self.ingested_at = datetime.now(UTC)

    def add(self, item: Row | Rejected) -> None:
        if isinstance(item, Rejected):
            self.rejected.append(item)
            self.quarantined += 1
            if len(self.rejected) >= BATCH_ROWS:
                self._flush_rejected()
            return
        buffer = self.buffers.setdefault(item.table, [])
        buffer.append(item)
        self.loaded[item.table] = self.loaded.get(item.table, 0) + 1
        if len(buffer) >= BATCH_ROWS:
            self._flush_table(item.table)

    def _next_name(self) -> str:
        self.sequence += 1
        return f"{part_prefix(self.sha256)}-{self.sequence:06d}.parquet"

    def _flush_table(self, table: str) -> None:
        rows = self.buffers.pop(table, [])
        if not rows:
            return
        schema, time_column = tables.CANONICAL[table]
        batch = _to_table(rows, schema, self.source_file)
        days = [_day(row.values.get(time_column)) for row in rows]
        distinct_days = sorted(set(days))
        for day in distinct_days:
            if len(distinct_days) == 1:
                part = batch
            else:
                part = batch.filter(pa.array([value == day for value in days]))
            folder = self.staging / table / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(part, folder / self._next_name(), compression=COMPRESSION)

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
        folder = self.staging / "quarantine"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table(columns, schema=tables.QUARANTINE)
        pq.write_table(table, folder / self._next_name(), compression=COMPRESSION)
        self.rejected = []

    def publish(self, manifest_row: dict[str, Any]) -> None:
        """Flush what is buffered, move the staged files into the lake, then write the manifest."""
        for table in list(self.buffers):
            self._flush_table(table)
        self._flush_rejected()
        for staged in sorted(self.staging.rglob("*.parquet")):
            target = self.case.lake_dir / staged.relative_to(self.staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        manifest = pa.Table.from_pylist([manifest_row], schema=tables.MANIFEST)
        write_atomically(manifest, self.case.manifest_dir / f"{self.sha256}.parquet")
        shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
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


def _day(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, int):
        value = datetime.fromtimestamp(value // 1_000_000_000, tz=UTC)
    return value.strftime("%Y-%m-%d")


def _to_table(rows: list[Row], schema: pa.Schema, source_file: str) -> pa.Table:
    columns: dict[str, pa.Array] = {}
    for field in schema:
        name = field.name
        if name == "source_file":
            values: list[Any] = [source_file] * len(rows)
        elif name == "source_record":
            values = [row.record for row in rows]
        else:
            values = [row.values.get(name) for row in rows]
        if field.type == tables.UTC_NANOS:
            columns[name] = pa.array(values, type=pa.int64()).cast(field.type)
        else:
            columns[name] = pa.array(values, type=field.type)
    return pa.table(columns, schema=schema)
