"""Merkle tree over sealed records: roots against a recursive reference, proofs for every
record and size, and proofs that must be rejected."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secobs import merkle

PROPERTY = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH from RFC 9162 section 2.1.1, written recursively with hashlib alone."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = reference_root(leaves[:k]), reference_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaves_of(count: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(count)]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100, 1000])
def test_builder_matches_reference(count):
    leaves = leaves_of(count)
    head = merkle.tree_head(leaves)
    assert head.size == count
    assert head.root == reference_root(leaves)


def test_leaf_and_node_prefixes():
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@PROPERTY
@given(size=st.integers(1, 300), data=st.data())
def test_inclusion_proof_verifies_only_its_leaf(size, data):
    leaves = leaves_of(size)
    index = data.draw(st.integers(0, size - 1), label="index")
    root = reference_root(leaves)
    proof = merkle.inclusion_proof(iter(leaves), index, size)
    merkle.verify_inclusion(index, size, leaves[index], proof, root)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(other, size, leaves[index], proof, root)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, leaves[other], proof, root)


@PROPERTY
@given(new_size=st.integers(1, 300), data=st.data())
def test_consistency_proof_verifies(new_size, data):
    leaves = leaves_of(new_size)
    old_size = data.draw(st.integers(1, new_size), label="old_size")
    old_root, new_root = reference_root(leaves[:old_size]), reference_root(leaves)
    proof = merkle.consistency_proof(iter(leaves), old_size, new_size)
    merkle.verify_consistency(old_size, new_size, proof, old_root, new_root)
    if old_size < new_size:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old_size, new_size, proof, new_root, new_root)


@PROPERTY
@given(new_size=st.integers(2, 200), data=st.data())
def test_rewritten_history_fails_consistency(new_size, data):
    leaves = leaves_of(new_size)
    old_size = data.draw(st.integers(1, new_size - 1), label="old_size")
    changed = data.draw(st.integers(0, old_size - 1), label="changed")
    rewritten = list(leaves)
    rewritten[changed] = hashlib.sha256(b"forged").digest()
    proof = merkle.consistency_proof(iter(rewritten), old_size, new_size)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(
            old_size, new_size, proof, reference_root(leaves[:old_size]), reference_root(rewritten)
        )


@PROPERTY
@given(size=st.integers(2, 100), data=st.data())
def test_flipped_proof_bit_is_rejected(size, data):
    leaves = leaves_of(size)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = merkle.inclusion_proof(leaves, index, size)
    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    bit = data.draw(st.integers(0, 255), label="bit")
    altered = list(proof)
    node = bytearray(altered[position])
    node[bit // 8] ^= 1 << (bit % 8)
    altered[position] = bytes(node)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, leaves[index], altered, reference_root(leaves))


def test_builder_memory_is_logarithmic():
    builder = merkle.TreeBuilder()
    for leaf in leaves_of(5000):
        builder.append(leaf)
        assert len(builder._stack) == bin(builder.size).count("1")
