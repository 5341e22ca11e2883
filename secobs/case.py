"""A case folder: the Parquet lake, the manifest and the DuckDB catalog over them.

Layout::

    CASE/
      secobs.duckdb      views over the lake, refreshed each time the case is opened
      lake/<table>/day=YYYY-MM-DD/part-*.parquet
      lake/quarantine/part-*.parquet
      manifest/<sha256>.parquet   one row per ingested source file
      evidence/          chain seals
      reports/           postmortem and charts

Any Parquet reader can use the lake without secobs; the catalog only adds views.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow as pa

from secobs import tables
from secobs.errors import CaseError

log = logging.getLogger("secobs")

CATALOG_NAME = "secobs.duckdb"

LAKE_TABLES = ("audit_events", "request_metrics", "spans")


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier for DuckDB; the one place identifiers enter SQL text."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal for DDL, where DuckDB accepts no bound parameters (view bodies)."""
    return "'" + text.replace("'", "''") + "'"


_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    tables.UTC_MICROS: "TIMESTAMPTZ",
    tables.UTC_NANOS: "TIMESTAMPTZ",
    tables.STRINGS: "VARCHAR[]",
}


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    """Apply session settings: UTC display, and no progress bar (it would corrupt --json output)."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")


def _empty_select(schema: pa.Schema) -> str:
    columns = ", ".join(
        f"CAST(NULL AS {_DUCKDB_TYPES[field.type]}) AS {quote_identifier(field.name)}"
        for field in schema
    )
    return f"SELECT {columns} WHERE false"


class Case:
    """A case folder on disk."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()

    @classmethod
    def open(cls, root: Path | str, *, create: bool = False) -> Case:
        """Open an existing case, or create the folder layout when `create` is true."""
        case = cls(root)
        if create:
            for folder in (case.lake_dir, case.manifest_dir, case.evidence_dir, case.reports_dir):
                folder.mkdir(parents=True, exist_ok=True)
        elif not case.manifest_dir.is_dir() or not case.lake_dir.is_dir():
            raise CaseError(
                f"{case.root} is not a secobs case (no lake/ or manifest/ folder); "
                "create it with `secobs ingest CASE FILE...`"
            )
        return case

    @property
    def lake_dir(self) -> Path:
        return self.root / "lake"

    @property
    def manifest_dir(self) -> Path:
        return self.root / "manifest"

    @property
    def evidence_dir(self) -> Path:
        return self.root / "evidence"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_NAME

    def table_dir(self, table: str) -> Path:
        return self.lake_dir / table

    def parquet_files(self, table: str) -> list[Path]:
        """Return the table's Parquet files in a stable order."""
        folder = self.manifest_dir if table == "manifest" else self.table_dir(table)
        return sorted(folder.glob("**/*.parquet"))

    def view_sql(self, con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> str:
        """Return the SELECT that a view of `table` stands for: its Parquet files, or no rows.

        Files written before a column was added to the schema lack it; the view reads files by
        column name and gives such columns as typed NULLs, so older cases keep working.
        """
        if not self.parquet_files(table):
            return _empty_select(schema)
        folder = self.manifest_dir if table == "manifest" else self.table_dir(table)
        source = (
            f"read_parquet({quote_literal(str(folder / '**' / '*.parquet'))}, "
            "hive_partitioning = false, union_by_name = true)"
        )
        present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        columns = ", ".join(
            quote_identifier(field.name)
            if field.name in present
            else f"CAST(NULL AS {_DUCKDB_TYPES[field.type]}) AS {quote_identifier(field.name)}"
            for field in schema
        )
        return f"SELECT {columns} FROM {source}"

    def register_views(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create or replace the views of the canonical tables, quarantine and manifest."""
        views = {name: schema for name, (schema, _) in tables.CANONICAL.items()}
        views["quarantine"] = tables.QUARANTINE
        views["manifest"] = tables.MANIFEST
        for name, schema in views.items():
            con.execute(
                f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS "
                f"{self.view_sql(con, name, schema)}"
            )
        # Imported here because secobs.detect builds on this module.
        from secobs.detect import register_views as register_derived_views

        register_derived_views(con, self)

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """Open the catalog with fresh views over the lake.

        When another process has the catalog file open (DuckDB allows one writer), this falls back
        to an in-memory database with the same views, so a notebook and the CLI can both read.
        """
        try:
            con = duckdb.connect(str(self.catalog_path), read_only=read_only)
        except duckdb.IOException as error:
            log.info("catalog %s is busy (%s); using an in-memory one", self.catalog_path, error)
            con = duckdb.connect()
        _configure(con)
        try:
            self.register_views(con)
        except duckdb.Error as error:
            if not read_only:
                raise CaseError(f"cannot register views in {self.catalog_path}: {error}") from error
            # A read-only catalog cannot take new views; serve them from memory instead.
            con.close()
            con = duckdb.connect()
            _configure(con)
            self.register_views(con)
        return con
