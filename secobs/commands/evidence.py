"""Signing keys and evidence bundles: `secobs keys new`, `secobs evidence export|verify`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secobs.commands.base import EXIT_FINDING, emit_json, main


@main.group()
def keys() -> None:
    """Create the Ed25519 keys that sign evidence checkpoints."""


@keys.command("new")
@click.option(
    "--out",
    "prefix",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Path prefix: writes PREFIX.key (private, mode 0600) and PREFIX.pub.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def keys_new(prefix: Path, as_json: bool) -> None:
    """Write a new Ed25519 key pair. Never overwrites an existing key."""
    from secobs.checkpoint import generate_key_pair

    pair = generate_key_pair(prefix)
    if as_json:
        emit_json(pair.to_json())
    else:
        click.echo(f"private key {pair.private_path} (keep it secret)")
        click.echo(f"public key  {pair.public_path}; key id {pair.key_id}")


@main.group()
def evidence() -> None:
    """Export a case's evidence as a self-checking bundle and verify bundles offline."""


@evidence.command("export")
@click.argument(
    "case_dir", metavar="CASE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def evidence_export(case_dir: Path, out: Path, as_json: bool) -> None:
    """Write CASE's lake, manifest, seal and checkpoints with a report of every file's SHA-256.

    OUT is a folder, or a file ending in .tar, .tar.gz or .zip.
    """
    from secobs.bundle import export_bundle

    result = export_bundle(case_dir, out)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(f"exported {result.files} files ({result.bytes} bytes) to {result.path}")


@evidence.command("verify")
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ed25519 public key (PREFIX.pub) to check the bundle's checkpoint signatures with.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def evidence_verify(bundle: Path, public_key: Path | None, as_json: bool) -> None:
    """Re-check a bundle offline: every file's SHA-256, the chain and the checkpoints.

    Exits 1 on any difference.
    """
    from secobs.bundle import verify_bundle

    result = verify_bundle(bundle, public_key=public_key)
    if as_json:
        emit_json(result.to_json())
    else:
        for difference in result.differences:
            click.echo(f"{difference.kind:<10} {difference.path}: {difference.detail}")
            if difference.kind == "changed":
                click.echo(f"{'':<10} expected SHA-256 {difference.expected_sha256}")
                click.echo(f"{'':<10} actual   SHA-256 {difference.actual_sha256}")
        state = "valid" if result.valid else "INVALID"
        click.echo(f"{state}: {result.files_checked} files checked; {result.chain_detail}")
    if not result.valid:
        sys.exit(EXIT_FINDING)
