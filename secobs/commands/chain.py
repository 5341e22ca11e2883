"""Evidence chain commands: `secobs chain seal|export|verify|prove|consistency|verify-proof`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from secobs.commands.base import EXIT_FINDING, emit_json, main


@main.group()
def chain() -> None:
    """Seal, export, verify and prove the audit evidence hash chain."""


MODE_CHOICE = click.Choice(["jcs", "seed"])
CASE_ARGUMENT = click.argument(
    "case_dir", metavar="CASE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with the result."
)


@chain.command("seal")
@CASE_ARGUMENT
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ed25519 private key (PREFIX.key from `secobs keys new`) to sign a checkpoint with.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the seal.")
def chain_seal(case_dir: Path, key: Path | None, as_json: bool) -> None:
    """Hash-chain CASE's audit events in time order and store the seal under CASE/evidence/.

    The seal also covers each row's mapped columns. An event that RFC 8785 cannot represent
    exactly (an integer beyond 2^53) is sealed by its received text, and the count is printed.

    With --key, also write a signed checkpoint (record count, head hash, Merkle root, time)
    beside the seal and print its path.
    """
    from secobs.evidence import seal_case

    seal = seal_case(case_dir, key=key)
    if as_json:
        emit_json(seal.to_json())
        return
    click.echo(f"sealed {seal.records} audit events; head {seal.head_hash}; seal {seal.path}")
    if seal.raw_digests:
        click.echo(
            f"{seal.raw_digests} events were sealed by their received text (digest_kind raw), "
            "because RFC 8785 cannot represent them exactly"
        )
    if seal.checkpoint is not None:
        click.echo(f"checkpoint {seal.checkpoint}")


@chain.command("export")
@CASE_ARGUMENT
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mode", type=MODE_CHOICE, default="jcs", show_default=True, help="Canonical form to hash."
)
@JSON_OPTION
def chain_export(case_dir: Path, out: Path, mode: str, as_json: bool) -> None:
    """Write CASE's audit events as an NDJSON chain file.

    Each line is one record: the event's fields at the top level, next to prev_hash and hash.
    """
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
    default=None,
    help="Canonical form of a chain file: jcs (RFC 8785) or seed (sorted json.dumps). "
    "Default: the checkpoint's mode, else jcs.",
)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Signed checkpoint to compare with; catches a cut-off tail and a rollback.",
)
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ed25519 public key (PREFIX.pub) that signed the checkpoint.",
)
@JSON_OPTION
def chain_verify(
    target: Path,
    mode: str | None,
    checkpoint_path: Path | None,
    public_key: Path | None,
    as_json: bool,
) -> None:
    """Verify a case against its seal, or a chain file by its links. Exits 1 when invalid."""
    from secobs.evidence import verify

    result = verify(target, mode=mode, checkpoint_path=checkpoint_path, public_key=public_key)
    if as_json:
        emit_json(result.to_json())
    elif result.valid:
        click.echo(
            f"valid: {result.records} records checked ({result.mode}); head {result.head_hash}"
        )
        if result.checkpoint is not None:
            click.echo(result.detail or "")
    else:
        where = f" at record {result.first_bad}" if result.first_bad is not None else ""
        source = f" ({result.source})" if result.source else ""
        click.echo(
            f"INVALID: {result.problem}{where}{source} after {result.records} checked "
            f"({result.mode}). {result.detail or ''}".rstrip()
        )
    if not result.valid:
        sys.exit(EXIT_FINDING)


@chain.command("prove")
@CASE_ARGUMENT
@click.option(
    "--record",
    type=click.IntRange(min=0),
    required=True,
    help="0-based index of the record in chain order, as verification reports it.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the proof document to this file.",
)
@JSON_OPTION
def chain_prove(case_dir: Path, record: int, out: Path | None, as_json: bool) -> None:
    """Print an RFC 9162 inclusion proof that a sealed record is in CASE's sealed tree."""
    from secobs.evidence import prove_inclusion

    proof = prove_inclusion(case_dir, record)
    if out is not None:
        out.write_text(json.dumps(proof, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if as_json:
        emit_json(proof)
        return
    click.echo(
        f"record {record} ({proof['source_file']}, record {proof['source_record']}) is leaf "
        f"{record} of {proof['tree_size']}; root {proof['root_hash']}; "
        f"{len(proof['proof'])} proof hashes"
    )
    for node in proof["proof"]:
        click.echo(f"  {node}")


@chain.command("consistency")
@CASE_ARGUMENT
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ed25519 public key (PREFIX.pub) to check both checkpoints' signatures with.",
)
@JSON_OPTION
def chain_consistency(
    case_dir: Path, old: Path, new: Path, public_key: Path | None, as_json: bool
) -> None:
    """Prove that checkpoint NEW extends checkpoint OLD (RFC 9162). Exits 1 when it does not."""
    from secobs.evidence import prove_consistency
    from secobs.merkle import ProofError

    try:
        proof = prove_consistency(case_dir, old, new, public_key=public_key)
    except ProofError as exc:
        if as_json:
            emit_json({"valid": False, "problem": exc.check, "detail": str(exc)})
        else:
            click.echo(f"INVALID: {exc.check}: {exc}")
        sys.exit(EXIT_FINDING)
    if as_json:
        emit_json({"valid": True, **proof})
    else:
        click.echo(
            f"consistent: {proof['new_size']} records extend {proof['old_size']}; "
            f"{len(proof['proof'])} proof hashes"
        )


@chain.command("verify-proof")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@JSON_OPTION
def chain_verify_proof(proof_file: Path, as_json: bool) -> None:
    """Check an inclusion or consistency proof file offline. Exits 1 when it fails."""
    from secobs.evidence import verify_proof_file
    from secobs.merkle import ProofError

    try:
        kind = verify_proof_file(proof_file)
    except ProofError as exc:
        if as_json:
            emit_json({"valid": False, "problem": exc.check, "detail": str(exc)})
        else:
            click.echo(f"INVALID: {exc.check}: {exc}")
        sys.exit(EXIT_FINDING)
    if as_json:
        emit_json({"valid": True, "proof": kind})
    else:
        click.echo(f"valid {kind} proof")
