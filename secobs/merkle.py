"""RFC 9162 Merkle tree over sealed records: tree heads, inclusion and consistency proofs.

Hashing follows RFC 9162 section 2.1 with SHA-256: a leaf hash is ``SHA-256(0x00 || data)``,
an interior node is ``SHA-256(0x01 || left || right)``, the empty tree's root is
``SHA-256("")``, and a tree of n > 1 leaves splits at the largest power of two below n.

The chain seal uses each record's chain hash (32 raw bytes) as the leaf data, so a leaf binds
the event, its position and every record before it. Roots are computed in one pass over the
leaves with a stack of at most log2(n) subtree hashes. Proofs are computed in one pass that
keeps one such stack per proof node, so neither needs the leaf list in memory.

Verifiers raise ProofError and mirror the checks of the transparency-dev/merkle Go verifier,
including the subtree proofs of the Merkle Tree Certificates draft
(draft-ietf-plants-merkle-tree-certs), whose ``[start, end)`` generalises RFC 9162's ``[0, m)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
# bit_ceil of a subtree length above 2**63 overflows 64 bits, so such subtrees are invalid
# unless they start at 0, as in the Go verifier.
_MAX_ALIGNED_LENGTH = 2**63


class ProofError(ValueError):
    """A proof that does not verify; ``check`` names the rule it failed."""

    def __init__(self, check: str, message: str):
        self.check = check
        super().__init__(message)


@dataclass(frozen=True)
class TreeHead:
    """Root hash and size of a Merkle tree."""

    size: int
    root: bytes

    def to_json(self) -> dict[str, object]:
        return {"tree_size": self.size, "root_hash": self.root.hex()}


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 hash of one leaf's data."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 hash of an interior node from its children's hashes."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


class TreeBuilder:
    """Compute a tree's root from leaf hashes appended in order, in O(log n) memory.

    The stack contains the roots of the perfect subtrees that the leaves so far decompose into,
    largest first, which is one entry per set bit of the size.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        """Append a leaf hash (not leaf data)."""
        self._stack.append(leaf)
        self.size += 1
        merges = (self.size & -self.size).bit_length() - 1
        stack = self._stack
        for _ in range(merges):
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)

    def root(self) -> bytes:
        """Return the root of the leaves appended so far (the empty-tree hash for none)."""
        if not self._stack:
            return EMPTY_ROOT
        root = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            root = node_hash(left, root)
        return root

    def head(self) -> TreeHead:
        return TreeHead(self.size, self.root())


def tree_head(leaves: Iterable[bytes]) -> TreeHead:
    """Return the tree head over leaf hashes, streaming them once."""
    builder = TreeBuilder()
    for leaf in leaves:
        builder.append(leaf)
    return builder.head()


# Proof shapes: which subtrees [start, end) a proof carries, bottom-up


def _largest_power_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges whose subtree hashes form the inclusion proof, leaf level first."""
    if not 0 <= index < size:
        raise ProofError("index_out_of_range", f"leaf index {index} is not below tree size {size}")
    siblings = []
    offset, m, n = 0, index, size
    while n > 1:
        k = _largest_power_below(n)
        if m < k:
            siblings.append((offset + k, offset + n))
            n = k
        else:
            siblings.append((offset, offset + k))
            offset, m, n = offset + k, m - k, n - k
    return siblings[::-1]


def _subtree_decisions(start: int, end: int, size: int) -> tuple[list[str], bool, int, int]:
    """Walk down from the root to the node that is subtree [start, end), as RFC 9162 SUBPROOF.

    Returns the steps top-down ("left", "right" or "split"), whether the subtree's own hash
    is still the hash of the node reached (false after a split), and that node's offset and
    size. "split" is the step where the subtree covers the whole left child and part of the
    right one, which only happens for a subtree that starts at 0.
    """
    steps = []
    known = True
    offset = 0
    s, e, n = start, end, size
    while not (s == 0 and e == n):
        k = _largest_power_below(n)
        if e <= k:
            steps.append("left")
            n = k
        elif s >= k:
            steps.append("right")
            offset, s, e, n = offset + k, s - k, e - k, n - k
        else:
            steps.append("split")
            offset, e, n = offset + k, e - k, n - k
            known = False
    return steps, known, offset, n


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges whose subtree hashes form the RFC 9162 consistency proof."""
    if not 0 < old_size <= new_size:
        raise ProofError("size_order", f"no consistency proof from {old_size} to {new_size}")
    if old_size == new_size:
        return []
    return _subtree_ranges(0, old_size, new_size)


def _subtree_ranges(start: int, end: int, size: int) -> list[tuple[int, int]]:
    steps, known, offset, n = _subtree_decisions(start, end, size)
    siblings = []
    node_offset, node_size = 0, size
    for step in steps:
        k = _largest_power_below(node_size)
        if step == "left":
            siblings.append((node_offset + k, node_offset + node_size))
            node_size = k
        else:
            siblings.append((node_offset, node_offset + k))
            node_offset, node_size = node_offset + k, node_size - k
    ranges = siblings[::-1]
    if not known:
        ranges.insert(0, (offset, offset + n))
    return ranges


def range_roots(leaves: Iterable[bytes], ranges: list[tuple[int, int]]) -> list[bytes]:
    """Compute the subtree root of each disjoint leaf range in one pass over the leaf hashes.

    Leaves outside every range are skipped, and memory is O(log n) per range. Raises
    ProofError when the leaves end before a range does.
    """
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    builders = [TreeBuilder() for _ in ranges]
    slot = 0
    for index, leaf in enumerate(leaves):
        while slot < len(order) and index >= ranges[order[slot]][1]:
            slot += 1
        if slot == len(order):
            break
        start, _ = ranges[order[slot]]
        if index >= start:
            builders[order[slot]].append(leaf)
    for (start, end), builder in zip(ranges, builders, strict=True):
        if builder.size != end - start:
            raise ProofError("tree_size", f"the leaf list ends before leaf {end - 1}")
    return [builder.root() for builder in builders]


def inclusion_proof(leaves: Iterable[bytes], index: int, size: int) -> list[bytes]:
    """Return the inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves."""
    return range_roots(leaves, inclusion_ranges(index, size))


def consistency_proof(leaves: Iterable[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Return the proof that the tree of ``old_size`` leaves is a prefix of ``new_size``."""
    return range_roots(leaves, consistency_ranges(old_size, new_size))


def subtree_consistency_proof(
    leaves: Iterable[bytes], start: int, end: int, size: int
) -> list[bytes]:
    """Return the proof that subtree ``[start, end)`` is part of the tree of ``size`` leaves."""
    if not _valid_subtree(start, end) or end > size:
        raise ProofError("invalid_subtree", f"[{start}, {end}) is not a subtree of size {size}")
    if start == end or (start == 0 and end == size):
        return []
    return range_roots(leaves, _subtree_ranges(start, end, size))


# Verification


def _valid_subtree(start: int, end: int) -> bool:
    if start > end:
        return False
    if start == 0 or start == end:
        return True
    length = end - start
    if length > _MAX_ALIGNED_LENGTH:
        return False
    return start % (1 << (length - 1).bit_length()) == 0


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """Check that leaf hash ``leaf`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Raises ProofError when it is not. The proof length must be exact.
    """
    if not 0 <= index < size:
        raise ProofError("index_out_of_range", f"leaf index {index} is not below tree size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError("leaf_hash_length", f"leaf hash has {len(leaf)} bytes, not {HASH_SIZE}")
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        raise ProofError(
            "proof_length", f"proof has {len(proof)} hashes, expected {inner + border}"
        )
    computed = leaf
    for level, sibling in enumerate(proof[:inner]):
        if (index >> level) & 1:
            computed = node_hash(sibling, computed)
        else:
            computed = node_hash(computed, sibling)
    for sibling in proof[inner:]:
        computed = node_hash(sibling, computed)
    if computed != root:
        raise ProofError("root_mismatch", "the proof leads to a different root hash")


def verify_subtree_inclusion(
    index: int, start: int, end: int, leaf: bytes, proof: list[bytes], root: bytes
) -> None:
    """Check that absolute leaf ``index`` is in subtree ``[start, end)`` with hash ``root``."""
    if not _valid_subtree(start, end):
        raise ProofError("invalid_subtree", f"[{start}, {end}) is not a valid subtree")
    if not start <= index < end:
        raise ProofError("index_out_of_range", f"leaf index {index} is outside [{start}, {end})")
    verify_inclusion(index - start, end - start, leaf, proof, root)


def verify_consistency(
    old_size: int, new_size: int, proof: list[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree of ``old_size`` leaves is a prefix of the tree of ``new_size``.

    Raises ProofError when the proof does not show it. The proof length must be exact.
    """
    if new_size < old_size:
        raise ProofError("size_order", f"new size {new_size} is below old size {old_size}")
    if old_size == 0:
        raise ProofError("empty_tree", "a consistency proof from the empty tree is meaningless")
    if old_size == new_size:
        if proof:
            raise ProofError("proof_length", "equal sizes need an empty proof")
        if old_root != new_root:
            raise ProofError("root_mismatch", "equal sizes but different root hashes")
        return
    _verify_subtree_path(0, old_size, new_size, proof, old_root, new_root)


def verify_subtree_consistency(
    start: int, end: int, size: int, proof: list[bytes], subtree_root: bytes, root: bytes
) -> None:
    """Check that ``subtree_root`` is the hash of subtree ``[start, end)`` of the tree ``root``."""
    if start == end:
        if end > size:
            raise ProofError("tree_size", f"empty subtree at {start} is beyond size {size}")
        if proof:
            raise ProofError("proof_length", "an empty subtree needs an empty proof")
        if subtree_root != EMPTY_ROOT:
            raise ProofError("root_mismatch", "an empty subtree has the empty-tree hash")
        return
    if not _valid_subtree(start, end):
        raise ProofError("invalid_subtree", f"[{start}, {end}) is not a valid subtree")
    if size < end:
        raise ProofError("tree_size", f"subtree [{start}, {end}) ends beyond size {size}")
    if start == 0 and end == size:
        if proof:
            raise ProofError("proof_length", "the whole tree needs an empty proof")
        if subtree_root != root:
            raise ProofError("root_mismatch", "whole tree but different root hashes")
        return
    _verify_subtree_path(start, end, size, proof, subtree_root, root)


def _verify_subtree_path(
    start: int, end: int, size: int, proof: list[bytes], subtree_root: bytes, root: bytes
) -> None:
    """Fold a subtree proof into the subtree's hash and the tree's root, and compare both.

    The proof lists, bottom-up, the hash of the node reached when the subtree's own hash is
    not that node's (after a split), then one sibling per step from that node to the root.
    Siblings inside the subtree (those of a split) also fold into the subtree's hash.
    """
    if not proof:
        raise ProofError("proof_length", "empty proof")
    steps, known, _, _ = _subtree_decisions(start, end, size)
    expected = len(steps) + (0 if known else 1)
    if len(proof) != expected:
        raise ProofError("proof_length", f"proof has {len(proof)} hashes, expected {expected}")
    if known:
        seed, siblings = subtree_root, proof
    else:
        seed, siblings = proof[0], proof[1:]
    old_hash = new_hash = seed
    for step, sibling in zip(reversed(steps), siblings, strict=True):
        if step == "left":
            new_hash = node_hash(new_hash, sibling)
        else:
            new_hash = node_hash(sibling, new_hash)
            if step == "split":
                old_hash = node_hash(sibling, old_hash)
    if old_hash != subtree_root:
        raise ProofError("root1_mismatch", "the proof does not lead to the old root hash")
    if new_hash != root:
        raise ProofError("root2_mismatch", "the proof does not lead to the new root hash")
