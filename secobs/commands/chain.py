"""Evidence chain commands: `secobs chain seal|export|verify`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secobs.commands.base import EXIT_FINDING, emit_json, main


@main.group()
def chain() -> None:
    """Seal, export and verify the audit evidence hash chain."""


MODE_CHOICE = click.Choice(["jcs", "seed"])


@chain.command("seal")
@click.argument(
    "case_dir", metavar="CASE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the seal.")
def chain_seal(case_dir: Path, as_json: bool) -> None:
    """Hash-chain CASE's audit events in time order and store the seal under CASE/evidence/."""
    from secobs.evidence import seal_case

    seal = seal_case(case_dir)
    if as_json:
        emit_json(seal.to_json())
    else:
        click.echo(f"sealed {seal.records} audit events; head {seal.head_hash}; seal {seal.path}")


@chain.command("export")
@click.argument(
    "case_dir", metavar="CASE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mode", type=MODE_CHOICE, default="jcs", show_default=True, help="Canonical form to hash."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def chain_export(case_dir: Path, out: Path, mode: str, as_json: bool) -> None:
    """Write CASE's audit events as an NDJSON chain file (each record: event, prev_hash, hash)."""
    from secobs.evidence import export_case

    exported = export_case(case_dir, out, mode=mode)
    if as_json:
        emit_json(exported.to_json())
    else:
        click.echo(f"exported {exported.records} records to {out}; head {exported.head_hash}")


@chain.command("verify")
@click.argument("target", metavar="PATH_OR_CASE", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mode",
    type=MODE_CHOICE,
    default="jcs",
    show_default=True,
    help="Canonical form of a chain file: jcs (RFC 8785) or seed (sorted json.dumps).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def chain_verify(target: Path, mode: str, as_json: bool) -> None:
    """Verify a case against its seal, or a chain file by its links. Exits 1 when invalid."""
    from secobs.evidence import verify

    result = verify(target, mode=mode)
    if as_json:
        emit_json(result.to_json())
    elif result.valid:
        click.echo(
            f"valid: {result.records} records checked ({result.mode}); head {result.head_hash}"
        )
    else:
        click.echo(
            f"INVALID: {result.problem} at record {result.first_bad} "
            f"after {result.records} checked ({result.mode}). {result.detail or ''}".rstrip()
        )
    if not result.valid:
        sys.exit(EXIT_FINDING)
