"""Commands that load source files: `secobs ingest` and `secobs formats`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secobs.commands.base import EXIT_FINDING, EXIT_USAGE, emit_json, main


@main.command()
@click.argument("case_dir", metavar="CASE", type=click.Path(file_okay=False, path_type=Path))
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--format", "fmt", metavar="NAME", help="Read every PATH as this format (see `secobs formats`)."
)
@click.option(
    "--map",
    "mappings",
    metavar="COLUMN=FIELD",
    multiple=True,
    help="Read the canonical COLUMN from the source FIELD (formats csv, ndjson, parquet); "
    "repeatable. FIELD may name a nested field with dots and alternatives with '|'.",
)
@click.option(
    "--no-redact",
    is_flag=True,
    help="Store secrets as found in the files; by default they are replaced with keyed markers.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def ingest(
    case_dir: Path,
    paths: tuple[Path, ...],
    fmt: str | None,
    mappings: tuple[str, ...],
    no_redact: bool,
    as_json: bool,
) -> None:
    """Load source files into CASE (created when missing).

    Exits 0 when everything loaded, 1 when records were quarantined, 2 when a file could not
    be read at all (the other files still load).
    """
    from secobs.ingest import ingest as run_ingest
    from secobs.secrets import redaction

    files = _expand(paths)
    column_map = parse_mappings(mappings)
    with redaction(not no_redact):
        result = run_ingest(case_dir, files, format=fmt, column_map=column_map or None)
    if as_json:
        emit_json(result.to_json())
    else:
        for item in result.files:
            if item.status == "failed":
                click.echo(f"failed    {item.error}", err=True)
                continue
            state = "skipped" if item.status == "already_ingested" else "loaded"
            click.echo(
                f"{state:<9} {item.path} ({item.format} -> {item.table}): "
                f"{item.loaded} loaded, {item.quarantined} quarantined"
                + (f", {item.redacted} redactions" if item.redacted else "")
                + (" (already ingested)" if state == "skipped" else "")
            )
        totals = ", ".join(f"{table} {count}" for table, count in result.loaded.items())
        click.echo(f"case {result.case}: {totals}; {result.quarantined} quarantined")
    if result.failed:
        sys.exit(EXIT_USAGE)
    if result.quarantined:
        sys.exit(EXIT_FINDING)


def parse_mappings(mappings: tuple[str, ...]) -> dict[str, str]:
    """Turn repeated COLUMN=FIELD options into a mapping, or raise a usage error."""
    column_map: dict[str, str] = {}
    for mapping in mappings:
        column, separator, field = mapping.partition("=")
        if not separator or not column.strip() or not field.strip():
            raise click.BadParameter(f"expected COLUMN=FIELD, got {mapping!r}", param_hint="--map")
        column_map[column.strip()] = field.strip()
    return column_map


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Expand folders into the files they contain, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(item for item in path.rglob("*") if item.is_file()))
        else:
            files.append(path)
    return files


@main.command()
def formats() -> None:
    """List the input formats that ingest reads, with an example of each."""
    from secobs.ingest.formats import FORMATS

    for fmt in FORMATS.values():
        click.echo(f"{fmt.name:<14} -> {fmt.table:<16} {fmt.description}")
        click.echo(f"{'':<14}    example: {fmt.example}")
