"""Signed checkpoints: keys, signatures, and what a checkpoint catches in a chain file that the
chain alone cannot (a cut-off tail, a rewritten history, a forged checkpoint)."""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secobs import chain, checkpoint, evidence, merkle
from secobs.errors import UsageError

PROPERTY = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
GENESIS = "0" * 64

KEYS = Path(tempfile.mkdtemp(prefix="secobs-test-keys-"))
atexit.register(shutil.rmtree, KEYS, ignore_errors=True)
SIGNER = checkpoint.generate_key_pair(KEYS / "signer")
OTHER = checkpoint.generate_key_pair(KEYS / "other")


def make_events(count: int, tag: str = "") -> list[dict]:
    return [
        {"event": "auth.login", "seq": i, "actor": {"id": f"u-{i % 5}{tag}"}, "reason": None}
        for i in range(count)
    ]


def sourced(events: list[dict]) -> list[tuple[dict, str, int]]:
    return [(event, "audit.ndjson", i + 1) for i, event in enumerate(events)]


def seal_and_sign(events: list[dict], folder: Path, key: Path = SIGNER.private_path) -> Path:
    """Seal events into folder/evidence, sign a checkpoint and return its path."""
    evidence_dir = folder / "evidence"
    chain.seal_events(sourced(events), evidence_dir)
    signed = checkpoint.build_checkpoint(
        chain.read_seal(evidence_dir), checkpoint.load_private_key(key)
    )
    return checkpoint.write_checkpoint(signed, evidence_dir)


def export(events: list[dict], path: Path) -> Path:
    chain.export_chain(sourced(events), path)
    return path


def verify_file(path: Path, checkpoint_path: Path) -> chain.Verification:
    return evidence.verify(path, checkpoint_path=checkpoint_path, public_key=SIGNER.public_path)


# Keys


def test_key_files_and_modes():
    private_pem = SIGNER.private_path.read_bytes()
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert SIGNER.public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert stat.S_IMODE(SIGNER.private_path.stat().st_mode) == 0o600
    assert SIGNER.private_path.name == "signer.key"
    assert SIGNER.public_path.name == "signer.pub"


def test_key_id_is_sha256_of_raw_public_key():
    key = serialization.load_pem_public_key(SIGNER.public_path.read_bytes())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert SIGNER.key_id == hashlib.sha256(raw).hexdigest()


def test_keys_are_never_overwritten():
    before = SIGNER.private_path.read_bytes()
    with pytest.raises(UsageError, match="exists"):
        checkpoint.generate_key_pair(KEYS / "signer")
    assert SIGNER.private_path.read_bytes() == before


def test_key_prefix_is_accepted():
    key = checkpoint.load_private_key(KEYS / "signer")
    assert isinstance(key, Ed25519PrivateKey)


# Signing


def test_checkpoint_fields_and_signature(tmp_path):
    events = make_events(5)
    path = seal_and_sign(events, tmp_path)
    assert path.parent == tmp_path / "evidence"
    assert path.name.startswith("checkpoint-5-")
    signed = json.loads(path.read_text())
    seal = json.loads((tmp_path / "evidence" / "chain-seal.json").read_text())

    assert signed["format"] == "secobs.checkpoint"
    assert signed["version"] == 1
    assert signed["records"] == 5
    assert signed["head_hash"] == seal["head_hash"]
    assert signed["merkle_root"] == seal["merkle_root"]
    assert signed["key_id"] == SIGNER.key_id
    assert signed["checkpoint_at"].endswith("Z")

    # The signature covers the RFC 8785 form of every other field; checked with
    # cryptography and rfc8785 directly.
    body = {name: value for name, value in signed.items() if name != "signature"}
    public = serialization.load_pem_public_key(SIGNER.public_path.read_bytes())
    public.verify(base64.b64decode(signed["signature"]), rfc8785.dumps(body))


def test_seal_merkle_root_is_rfc9162_over_chain_hashes(tmp_path):
    events = make_events(7)
    seal_and_sign(events, tmp_path)
    seal = json.loads((tmp_path / "evidence" / "chain-seal.json").read_text())
    hashes = []
    previous = GENESIS
    for event in events:
        previous = hashlib.sha256(previous.encode() + rfc8785.dumps(event)).hexdigest()
        hashes.append(previous)
    leaves = [hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest() for h in hashes]
    assert seal["merkle_root"] == merkle.tree_head(leaves).root.hex()
    assert seal["merkle_leaf"] == "chain_hash"


# What a checkpoint catches in a chain file


@PROPERTY
@given(count=st.integers(1, 30), data=st.data())
def test_untouched_and_extended_files_match(count, data):
    extra = data.draw(st.integers(0, 5), label="extra")
    events = make_events(count + extra)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        signed = seal_and_sign(events[:count], folder)
        result = verify_file(export(events, folder / "chain.ndjson"), signed)
    assert result.valid
    assert result.problem is None
    assert result.records == count + extra
    assert result.checkpoint["records"] == count


@PROPERTY
@given(count=st.integers(1, 30), data=st.data())
def test_truncated_file_is_found(count, data):
    kept = data.draw(st.integers(0, count - 1), label="kept")
    events = make_events(count)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        signed = seal_and_sign(events, folder)
        path = export(events, folder / "chain.ndjson")
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[:kept]))
        plain = chain.verify_file(path)
        result = verify_file(path, signed)
    assert plain.valid  # the chain alone cannot see a cut-off tail
    assert not result.valid
    assert result.problem == "truncated"
    assert result.first_bad == kept


@PROPERTY
@given(count=st.integers(1, 30), data=st.data())
def test_rewritten_history_is_rollback(count, data):
    changed = data.draw(st.integers(0, count - 1), label="changed")
    events = make_events(count)
    rewritten = [dict(event) for event in events]
    rewritten[changed]["result"] = "rewritten"
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        signed = seal_and_sign(events, folder)
        # A fully re-chained file: every link is valid, only the checkpoint can tell.
        path = export(rewritten, folder / "chain.ndjson")
        plain = chain.verify_file(path)
        result = verify_file(path, signed)
    assert plain.valid
    assert result.problem == "rollback"
    assert not result.valid


@PROPERTY
@given(count=st.integers(2, 20), data=st.data())
def test_modified_record_is_found_before_checkpoint(count, data):
    m = data.draw(st.integers(0, count - 1), label="m")
    events = make_events(count)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        signed = seal_and_sign(events, folder)
        path = export(events, folder / "chain.ndjson")
        lines = path.read_text().splitlines()
        record = json.loads(lines[m])
        record["seq"] = -1
        lines[m] = json.dumps(record)
        path.write_text("\n".join(lines) + "\n")
        result = verify_file(path, signed)
    assert result.problem == "modified"
    assert result.first_bad == m
    assert result.source == f"{path}, line {m + 1}"


FORGEABLE = {
    "records": lambda value: value + 1,
    "head_hash": lambda value: "f" * 64,
    "merkle_root": lambda value: "0" * 64,
    "checkpoint_at": lambda value: "2020-01-01T00:00:00.000000Z",
    "mode": lambda value: "seed",
}


@PROPERTY
@given(count=st.integers(1, 10), name=st.sampled_from(sorted(FORGEABLE)))
def test_altered_checkpoint_has_bad_signature(count, name):
    events = make_events(count)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        signed_path = seal_and_sign(events, folder)
        signed = json.loads(signed_path.read_text())
        signed[name] = FORGEABLE[name](signed[name])
        signed_path.write_text(json.dumps(signed))
        result = verify_file(export(events, folder / "chain.ndjson"), signed_path)
    assert result.problem == "bad_signature"
    assert not result.valid


def test_checkpoint_signed_by_another_key_is_forged(tmp_path):
    events = make_events(3)
    signed = seal_and_sign(events, tmp_path, key=OTHER.private_path)
    result = verify_file(export(events, tmp_path / "chain.ndjson"), signed)
    assert result.problem == "forged_checkpoint"


def test_checkpoint_without_signature_is_forged(tmp_path):
    events = make_events(3)
    signed_path = seal_and_sign(events, tmp_path)
    signed = json.loads(signed_path.read_text())
    del signed["signature"]
    signed_path.write_text(json.dumps(signed))
    result = verify_file(export(events, tmp_path / "chain.ndjson"), signed_path)
    assert result.problem == "forged_checkpoint"


def test_checkpoint_needs_public_key(tmp_path):
    events = make_events(2)
    signed = seal_and_sign(events, tmp_path)
    with pytest.raises(UsageError, match="public key"):
        evidence.verify(export(events, tmp_path / "chain.ndjson"), checkpoint_path=signed)


# Inclusion proofs carried by a finding


@PROPERTY
@given(count=st.integers(1, 40), data=st.data())
def test_inclusion_proof_for_wrong_record_is_rejected(count, data):
    index = data.draw(st.integers(0, count - 1), label="index")
    events = make_events(count)
    with tempfile.TemporaryDirectory() as folder:
        evidence_dir = Path(folder) / "evidence"
        chain.seal_events(sourced(events), evidence_dir)
        seal = chain.read_seal(evidence_dir)
        leaves = list(chain.sealed_leaves(evidence_dir))
    root = bytes.fromhex(seal["merkle_root"])
    proof = merkle.inclusion_proof(leaves, index, count)
    merkle.verify_inclusion(index, count, leaves[index], proof, root)
    if count > 1:
        other = data.draw(st.integers(0, count - 1).filter(lambda i: i != index), label="other")
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, count, leaves[other], proof, root)
