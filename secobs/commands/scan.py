"""Secret scanning for CI: `secobs scan`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secobs.commands.base import EXIT_FINDING, emit_json, main
from secobs.commands.schema import printable


@main.command()
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Hex HMAC key for fingerprints, such as CASE/evidence/redaction.key "
    "(created when missing); default: a random key for this run.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def scan(paths: tuple[Path, ...], key_file: Path | None, as_json: bool) -> None:
    """Find credentials leaked into telemetry files (NDJSON, JSON, CSV, log lines).

    Each finding names the file, record and field (JSON pointer or CSV column) and shows the
    secret masked with a keyed fingerprint, never in clear. Exits 1 when a secret is found.
    """
    from secobs.gates.scan import scan_files

    result = scan_files(list(paths), key_file=key_file)
    if as_json:
        emit_json(result.to_json())
    else:
        for item in result.findings:
            where = printable(item.field) or f"offset {item.offset}"
            click.echo(
                f"{item.path}:{item.record}: {where}: {item.kind} {item.masked} "
                f"fingerprint {item.fingerprint}"
            )
        counts = ", ".join(f"{kind} {count}" for kind, count in result.counts.items())
        click.echo(
            f"{len(result.findings)} secrets in {result.records} records of "
            f"{len(result.files)} files" + (f" ({counts})" if counts else "")
        )
    if not result.ok:
        sys.exit(EXIT_FINDING)
