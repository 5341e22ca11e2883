"""Seal, export, verify and prove a case's audit evidence.

The chain covers the audit events as received (the `raw` column), in time order with ties
broken by source file and record number, so the order does not depend on how Parquet files
were written. A seal can be signed into a checkpoint (secobs.checkpoint), and any sealed
record can be proven to belong to a sealed tree with an RFC 9162 inclusion proof.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from secobs import chain, checkpoint, merkle
from secobs.case import Case, quote_identifier
from secobs.errors import InputError, UsageError

FETCH_ROWS = 10_000
INCLUSION_PROOF_FORMAT = "secobs.inclusion-proof"
CONSISTENCY_PROOF_FORMAT = "secobs.consistency-proof"
PROOF_VERSION = 1

CHAIN_ORDER_SQL = """
SELECT raw, source_file, source_record
FROM audit_events
ORDER BY ts, source_file, source_record
"""

EVENT_AT_SQL = CHAIN_ORDER_SQL.strip() + "\nLIMIT 1 OFFSET ?"

# audit_events columns that the row digest leaves out: the received event, which the chain
# covers, and its source position, which the seal stores beside it.
UNMAPPED_COLUMNS = ("raw", "source_file", "source_record")


def case_events(case: Case, row_columns: Sequence[str] | None = None) -> Iterator[chain.CaseEvent]:
    """Yield every audit event in chain order with its received text and mapped columns.

    ``row_columns`` None selects every mapped column (all but UNMAPPED_COLUMNS), as a seal
    does. A sequence selects those columns that the lake still has, as verification against a
    seal does, and an empty one yields events without columns.
    """
    con = case.connect(read_only=False)
    try:
        yield from audit_rows(con, "audit_events", row_columns)
    finally:
        con.close()


def audit_rows(
    con: duckdb.DuckDBPyConnection, relation: str, row_columns: Sequence[str] | None = None
) -> Iterator[chain.CaseEvent]:
    """Yield the audit events of a relation (SQL text) in chain order; see case_events."""
    available = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    if row_columns is None:
        mapped = [name for name in available if name not in UNMAPPED_COLUMNS]
    else:
        mapped = [name for name in row_columns if name in available]
    with_columns = row_columns is None or len(row_columns) > 0
    selected = ", ".join(quote_identifier(name) for name in [*UNMAPPED_COLUMNS, *mapped])
    cursor = con.execute(
        f"SELECT {selected} FROM {relation} ORDER BY ts, source_file, source_record"
    )
    while rows := cursor.fetchmany(FETCH_ROWS):
        for raw, source_file, source_record, *values in rows:
            columns = dict(zip(mapped, values, strict=True)) if with_columns else None
            # The standard json module keeps floats and big integers exactly as written.
            yield chain.CaseEvent(json.loads(raw), source_file, source_record, raw, columns)


def sealed_row_columns(evidence_dir: Path) -> list[str]:
    """Return the mapped columns that a case's seal covers (empty for a version 1 seal)."""
    return chain.read_seal(evidence_dir).get("row_columns") or []


def seal_case(case_dir: Path | str, mode: str = "jcs", key: Path | str | None = None) -> chain.Seal:
    """Seal the case's audit events under CASE/evidence/, and sign a checkpoint with ``key``.

    ``key`` is an Ed25519 private key file (see checkpoint.generate_key_pair). It is read
    before sealing, so a bad key leaves the previous seal in place.
    """
    case = Case.open(case_dir)
    private_key = checkpoint.load_private_key(key) if key is not None else None
    seal = chain.seal_events(case_events(case), case.evidence_dir, mode=mode)
    if private_key is None:
        return seal
    signed = checkpoint.build_checkpoint(chain.read_seal(case.evidence_dir), private_key)
    path = checkpoint.write_checkpoint(signed, case.evidence_dir)
    return replace(seal, checkpoint=path)


def export_case(case_dir: Path | str, out: Path | str, mode: str = "jcs") -> chain.ChainExport:
    """Write the case's audit events as a chain file.

    Each record is the event's fields at top level next to ``prev_hash`` and ``hash``.
    """
    case = Case.open(case_dir)
    return chain.export_chain(case_events(case, row_columns=()), Path(out), mode=mode)


def verify(
    path: Path | str,
    mode: str | None = None,
    checkpoint_path: Path | str | None = None,
    public_key: Path | str | None = None,
) -> chain.Verification:
    """Verify a case against its seal, or a chain file by its own links.

    With ``checkpoint_path`` the result is also compared with that signed checkpoint, which
    needs ``public_key``. A checkpoint that is not authentic gives bad_signature or
    forged_checkpoint. Fewer records than the checkpoint give truncated for a chain file and
    rollback for a case whose seal matches its events. Records that differ from the signed
    ones give rollback. ``mode`` applies to chain files and defaults to the checkpoint's mode,
    else jcs.
    """
    target = Path(path)
    if checkpoint_path is None:
        return _verify_target(target, mode or "jcs")
    if public_key is None:
        raise UsageError("checking a checkpoint needs the signer's public key (--public-key)")

    signed = checkpoint.read_checkpoint(checkpoint_path)
    summary = checkpoint.summary(signed, checkpoint_path)
    key = checkpoint.load_public_key(public_key)
    try:
        checkpoint.verify_signature(signed, key)
    except checkpoint.CheckpointProblem as exc:
        file_mode = mode or "jcs"
        return chain.Verification(
            False, 0, None, exc.problem, file_mode, exc.detail, None, str(checkpoint_path), summary
        )

    result = _verify_target(target, mode or signed["mode"])
    result = replace(result, checkpoint=summary)
    if not result.valid:
        return result
    if target.is_dir():
        prefix = chain.sealed_prefix(Case.open(target).evidence_dir, signed["records"])
        return _compare(result, signed, prefix, "case")
    prefix = chain.file_prefix(target, signed["records"])
    return _compare(result, signed, prefix, "file")


def _verify_target(target: Path, mode: str) -> chain.Verification:
    if target.is_dir():
        case = Case.open(target)
        columns = sealed_row_columns(case.evidence_dir)
        return chain.verify_sealed(case_events(case, columns), case.evidence_dir)
    return chain.verify_file(target, mode=mode)


def _compare(
    result: chain.Verification, signed: dict[str, Any], prefix: chain.ChainPrefix, kind: str
) -> chain.Verification:
    """Compare a verified case or chain file with an authentic checkpoint."""
    signed_records = signed["records"]
    when = signed["checkpoint_at"]
    if prefix.records < signed_records:
        missing = signed_records - prefix.records
        if kind == "file":
            detail = (
                f"The chain file has {prefix.records} records but the checkpoint of {when} "
                f"signed {signed_records}, so the last {missing} records were cut off."
            )
            return replace(
                result,
                valid=False,
                problem="truncated",
                first_bad=prefix.records,
                detail=detail,
                source=None,
            )
        detail = (
            f"The case and its seal hold {prefix.records} records but the checkpoint of {when} "
            f"signed {signed_records}, so the evidence was rolled back to an older state or "
            "cut and sealed again."
        )
        return replace(
            result,
            valid=False,
            problem="rollback",
            first_bad=prefix.records,
            detail=detail,
            source=None,
        )

    if prefix.hash_at_size != signed["head_hash"] or prefix.root_at_size != signed["merkle_root"]:
        detail = (
            f"The first {signed_records} records do not match the checkpoint of {when}: their "
            "head hash or Merkle root differs, so the records the checkpoint signed were "
            "replaced by a different or older history."
        )
        return replace(
            result, valid=False, problem="rollback", first_bad=None, detail=detail, source=None
        )

    extra = prefix.records - signed_records
    addition = f", and {extra} later records extend it" if extra else ""
    detail = (
        f"{result.detail} The first {signed_records} records match the checkpoint of {when}"
        f"{addition}."
    )
    return replace(result, detail=detail)


# Proofs


def prove_inclusion(case_dir: Path | str, record: int) -> dict[str, Any]:
    """Return an RFC 9162 inclusion proof that sealed record ``record`` is in the sealed tree.

    The proof carries the event, its prev_hash and chain hash, so a third party can recompute
    the leaf from the event (see verify_inclusion_proof) and compare the root with a signed
    checkpoint. ``record`` is the 0-based chain index that verification reports as first_bad.
    """
    case = Case.open(case_dir)
    seal = chain.read_seal(case.evidence_dir)
    row = chain.sealed_record(case.evidence_dir, record)
    size = seal["records"]
    proof = merkle.inclusion_proof(chain.sealed_leaves(case.evidence_dir), record, size)
    root = bytes.fromhex(seal["merkle_root"])
    leaf = chain.chain_leaf_hash(row["hash"])
    merkle.verify_inclusion(record, size, leaf, proof, root)
    raw = _raw_at(case, record)
    document = {
        "format": INCLUSION_PROOF_FORMAT,
        "version": PROOF_VERSION,
        "mode": seal["mode"],
        "leaf_index": record,
        "tree_size": size,
        "root_hash": seal["merkle_root"],
        "merkle_leaf": chain.MERKLE_LEAF,
        "leaf_hash": leaf.hex(),
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
        "source_file": row["source_file"],
        "source_record": row["source_record"],
        "event": json.loads(raw) if raw is not None else None,
        "proof": [node.hex() for node in proof],
    }
    if row["digest_kind"] == chain.RAW_DIGEST:
        # The event has no canonical form in the seal's mode, so its hash covers this text.
        document["digest_kind"] = chain.RAW_DIGEST
        document["raw"] = raw
    return document


def _raw_at(case: Case, index: int) -> str | None:
    con = case.connect(read_only=False)
    try:
        found = con.execute(EVENT_AT_SQL, [index]).fetchone()
    finally:
        con.close()
    return found[0] if found is not None else None


def verify_inclusion_proof(proof: dict[str, Any]) -> None:
    """Check an inclusion proof document offline. Raises merkle.ProofError when it fails.

    When the document carries the event, its chain hash is recomputed from the event and
    prev_hash, so the proof covers the event's content and not only a hash. For a record sealed
    by its received text (``digest_kind`` ``raw``) the hash is recomputed from ``raw``, which
    must parse to ``event``.
    """
    try:
        index, size = proof["leaf_index"], proof["tree_size"]
        chain_hash = proof["hash"]
        nodes = [bytes.fromhex(node) for node in proof["proof"]]
        root = bytes.fromhex(proof["root_hash"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"the inclusion proof is malformed: {exc}") from None
    if proof.get("digest_kind") == chain.RAW_DIGEST:
        raw = proof.get("raw")
        if not isinstance(raw, str):
            raise InputError("the inclusion proof has digest_kind raw but no raw text")
        if proof.get("event") is not None and json.loads(raw) != proof["event"]:
            raise merkle.ProofError("event_mismatch", "the raw text does not parse to the event")
        recomputed = hashlib.sha256((proof["prev_hash"] + raw).encode("utf-8")).hexdigest()
        if recomputed != chain_hash:
            raise merkle.ProofError("event_mismatch", "the raw text does not hash to the leaf")
    elif proof.get("event") is not None:
        recomputed = chain.hash_event(proof["prev_hash"], proof["event"], proof.get("mode", "jcs"))
        if recomputed != chain_hash:
            raise merkle.ProofError("event_mismatch", "the event does not hash to the leaf")
    merkle.verify_inclusion(index, size, chain.chain_leaf_hash(chain_hash), nodes, root)


def prove_consistency(
    case_dir: Path | str,
    old_checkpoint: Path | str,
    new_checkpoint: Path | str,
    public_key: Path | str | None = None,
) -> dict[str, Any]:
    """Return and check the RFC 9162 proof that the newer checkpoint extends the older one.

    The proof is computed from the case's current seal, which must still hold the newer
    checkpoint's records. With ``public_key`` both checkpoints' signatures are checked first.
    Raises merkle.ProofError when the checkpoints are not consistent.
    """
    old = checkpoint.read_checkpoint(old_checkpoint)
    new = checkpoint.read_checkpoint(new_checkpoint)
    if public_key is not None:
        key = checkpoint.load_public_key(public_key)
        for signed in (old, new):
            try:
                checkpoint.verify_signature(signed, key)
            except checkpoint.CheckpointProblem as exc:
                raise merkle.ProofError(exc.problem, exc.detail) from None
    old_size, new_size = old["records"], new["records"]
    case = Case.open(case_dir)
    prefix = chain.sealed_prefix(case.evidence_dir, new_size)
    if prefix.root_at_size != new["merkle_root"]:
        raise merkle.ProofError(
            "root2_mismatch",
            f"the case's seal does not contain the newer checkpoint's {new_size} records",
        )
    leaves = chain.sealed_leaves(case.evidence_dir)
    nodes = merkle.consistency_proof(leaves, old_size, new_size) if old_size else []
    document = {
        "format": CONSISTENCY_PROOF_FORMAT,
        "version": PROOF_VERSION,
        "old_size": old_size,
        "new_size": new_size,
        "old_root": old["merkle_root"],
        "new_root": new["merkle_root"],
        "proof": [node.hex() for node in nodes],
    }
    verify_consistency_proof(document)
    return document


def verify_consistency_proof(proof: dict[str, Any]) -> None:
    """Check a consistency proof document offline. Raises merkle.ProofError when it fails.

    An old size of 0 is accepted with an empty proof, because every tree extends the empty one.
    """
    try:
        old_size, new_size = proof["old_size"], proof["new_size"]
        nodes = [bytes.fromhex(node) for node in proof["proof"]]
        old_root, new_root = bytes.fromhex(proof["old_root"]), bytes.fromhex(proof["new_root"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"the consistency proof is malformed: {exc}") from None
    if old_size == 0 and 0 <= new_size and not nodes and old_root == merkle.EMPTY_ROOT:
        return
    merkle.verify_consistency(old_size, new_size, nodes, old_root, new_root)


def verify_proof_file(path: Path | str) -> str:
    """Check an inclusion or consistency proof file and return its kind.

    Raises merkle.ProofError when the proof fails and InputError when the file is not a proof.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read the proof: {exc}", path=str(path)) from None
    kind = document.get("format") if isinstance(document, dict) else None
    if kind == INCLUSION_PROOF_FORMAT:
        verify_inclusion_proof(document)
        return "inclusion"
    if kind == CONSISTENCY_PROOF_FORMAT:
        verify_consistency_proof(document)
        return "consistency"
    raise InputError("not a secobs inclusion or consistency proof", path=str(path))
