"""RFC 9162 Merkle tree: the transparency-dev/merkle probe files, the reference tree and the
subtree test vectors of the Merkle Tree Certificates draft."""

from __future__ import annotations

import base64
import csv
import hashlib
import json

import pytest

from secobs import merkle
from tests.conftest import VECTORS, require

RFC9162 = VECTORS / "rfc9162"


def outcomes() -> list[dict[str, str]]:
    path = RFC9162 / "expected_outcomes.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def run_probe(check: str, probe: dict) -> None:
    """Call the verifier that a probe file describes; raises ProofError on rejection."""
    proof = [decode(item) for item in probe["proof"] or []]
    if check == "inclusion":
        merkle.verify_inclusion(
            probe["leafIdx"],
            probe["treeSize"],
            decode(probe["leafHash"]),
            proof,
            decode(probe["root"]),
        )
    elif check == "subtreeinclusion":
        merkle.verify_subtree_inclusion(
            probe["leafIdx"],
            probe["start"],
            probe["end"],
            decode(probe["leafHash"]),
            proof,
            decode(probe["root"]),
        )
    elif check == "consistency":
        merkle.verify_consistency(
            probe["size1"], probe["size2"], proof, decode(probe["root1"]), decode(probe["root2"])
        )
    elif check == "subtreeconsistency":
        merkle.verify_subtree_consistency(
            probe["start"],
            probe["end"],
            probe["size"],
            proof,
            decode(probe["root1"]),
            decode(probe["root2"]),
        )
    else:
        raise AssertionError(f"unknown check {check}")


ROWS = outcomes()


def test_probe_table_is_complete():
    rows = outcomes() or pytest.skip(f"{RFC9162} is not available")
    assert len(rows) == 518
    assert sum(row["expected"] == "accept" for row in rows) == 36
    on_disk = {str(path.relative_to(RFC9162)) for path in RFC9162.glob("*/**/*.json")}
    assert on_disk == {row["path"] for row in rows}


@pytest.mark.parametrize("row", ROWS, ids=[row["path"] for row in ROWS])
def test_probe(row):
    probe = json.loads((require(RFC9162) / row["path"]).read_text())
    assert probe["wantErr"] == (row["expected"] == "reject")
    if row["expected"] == "accept":
        run_probe(row["check"], probe)
    else:
        with pytest.raises(merkle.ProofError):
            run_probe(row["check"], probe)


# The 8-leaf reference tree


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(require(RFC9162 / "reference_roots.json").read_text())


def leaf_hashes(reference: dict) -> list[bytes]:
    return [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in reference["leaves"]]


def test_reference_leaf_hashes(reference):
    assert [h.hex() for h in leaf_hashes(reference)] == reference["leaf_hashes"]


def test_reference_roots_by_size(reference):
    leaves = leaf_hashes(reference)
    for size, root in reference["root_by_size"].items():
        head = merkle.tree_head(leaves[: int(size)])
        assert head.size == int(size)
        assert head.root.hex() == root, size


def test_empty_tree_root():
    assert merkle.tree_head([]).root.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_reference_inclusion_proofs(reference):
    leaves = leaf_hashes(reference)
    for case in reference["inclusion_proofs"]:
        index, size = case["leaf_index"], case["tree_size"]
        proof = merkle.inclusion_proof(leaves, index, size)
        assert [h.hex() for h in proof] == case["proof"], (index, size)
        root = bytes.fromhex(case["root"])
        merkle.verify_inclusion(index, size, bytes.fromhex(case["leaf_hash"]), proof, root)


def test_reference_consistency_proofs(reference):
    leaves = leaf_hashes(reference)
    for case in reference["consistency_proofs"]:
        old, new = case["size1"], case["size2"]
        proof = merkle.consistency_proof(leaves, old, new)
        assert [h.hex() for h in proof] == case["proof"], (old, new)
        roots = bytes.fromhex(case["root1"]), bytes.fromhex(case["root2"])
        merkle.verify_consistency(old, new, proof, *roots)


def test_reference_subtree_consistency_proofs(reference):
    for case in reference["subtree_consistency_proofs"]["cases"]:
        proof = [bytes.fromhex(h) for h in case["proof"]]
        merkle.verify_subtree_consistency(
            case["start"],
            case["end"],
            case["size"],
            proof,
            bytes.fromhex(case["subtree_root"]),
            bytes.fromhex(case["root"]),
        )


# The draft's accumulated subtree vectors over 130 one-byte leaves


def valid_subtree(start: int, end: int) -> bool:
    if start == 0 or start == end:
        return True
    return start % (1 << (end - start - 1).bit_length()) == 0


def subtree_root(leaves: list[bytes], start: int, end: int) -> bytes:
    return merkle.tree_head(leaves[start:end]).root


@pytest.fixture(scope="module")
def tree130(reference) -> tuple[list[bytes], dict]:
    vectors = reference["accumulated_subtree_vectors"]
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(vectors["tree_size"])]
    return leaves, vectors


def test_accumulated_subtree_hashes(tree130):
    leaves, vectors = tree130
    digest = hashlib.sha256()
    for end in range(len(leaves) + 1):
        for start in range(end + 1):
            if valid_subtree(start, end):
                line = f"[{start}, {end}) {subtree_root(leaves, start, end).hex()}\n"
                digest.update(line.encode())
    assert digest.hexdigest() == vectors["subtree_hash"]["sha256"]


def test_accumulated_subtree_inclusion_proofs(tree130):
    leaves, vectors = tree130
    digest = hashlib.sha256()
    for end in range(len(leaves) + 1):
        for start in range(end + 1):
            if not valid_subtree(start, end):
                continue
            for index in range(start, end):
                proof = merkle.inclusion_proof(leaves[start:end], index - start, end - start)
                line = f"{index} [{start}, {end})" + "".join(f" {h.hex()}" for h in proof)
                digest.update((line + "\n").encode())
    assert digest.hexdigest() == vectors["subtree_inclusion_proof"]["sha256"]


def test_accumulated_subtree_consistency_proofs(tree130):
    leaves, vectors = tree130
    digest = hashlib.sha256()
    checked = 0
    for n in range(len(leaves) + 1):
        root = subtree_root(leaves, 0, n)
        for end in range(n + 1):
            for start in range(end + 1):
                if not valid_subtree(start, end):
                    continue
                proof = merkle.subtree_consistency_proof(leaves[:n], start, end, n)
                line = f"[{start}, {end}) {n}" + "".join(f" {h.hex()}" for h in proof)
                digest.update((line + "\n").encode())
                if checked % 97 == 0:
                    merkle.verify_subtree_consistency(
                        start, end, n, proof, subtree_root(leaves, start, end), root
                    )
                checked += 1
    assert digest.hexdigest() == vectors["subtree_consistency_proof"]["sha256"]


def test_range_roots_rejects_short_leaf_list():
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(5)]
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof(leaves, 1, 8)
