"""Ed25519 keys and signed checkpoints of a case seal.

A checkpoint states, under a signature, how many records the evidence chain had, its head
hash and its RFC 9162 Merkle root at one time. Checked against a later copy of the evidence it
catches what the chain alone cannot: a cut-off tail, a rollback to an older state, and a seal
that was rebuilt after the events were changed. The signed bytes are the RFC 8785 form of the
checkpoint object without its ``signature`` field.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secobs import jcs
from secobs.errors import InputError, UsageError

CHECKPOINT_FORMAT = "secobs.checkpoint"
CHECKPOINT_VERSION = 1
SIGNATURE_ALGORITHM = "ed25519"
PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"

_HEX64 = frozenset("0123456789abcdef")
# Fields of a checkpoint besides the signature, and the JSON types each must have.
_FIELDS: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "version": (int,),
    "mode": (str,),
    "records": (int,),
    "head_hash": (str, type(None)),
    "merkle_root": (str,),
    "merkle_leaf": (str,),
    "sealed_at": (str, type(None)),
    "checkpoint_at": (str,),
    "key_id": (str,),
    "signature_algorithm": (str,),
}


@dataclass(frozen=True)
class KeyPair:
    """Paths of a written key pair and the key id of its public key."""

    private_path: Path
    public_path: Path
    key_id: str

    def to_json(self) -> dict[str, str]:
        return {
            "private_key": str(self.private_path),
            "public_key": str(self.public_path),
            "key_id": self.key_id,
        }


class CheckpointProblem(Exception):
    """A checkpoint that is not authentic: ``problem`` is bad_signature or forged_checkpoint."""

    def __init__(self, problem: str, detail: str):
        self.problem = problem
        self.detail = detail
        super().__init__(detail)


# Keys


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the key id: the SHA-256 (hex) of the public key's 32 raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_key_pair(prefix: str | os.PathLike[str]) -> KeyPair:
    """Write a new Ed25519 key pair as PREFIX.key (PKCS8 PEM, mode 0600) and PREFIX.pub (PEM).

    Raises UsageError when either file exists, so a key is never overwritten.
    """
    prefix = Path(prefix)
    private_path = prefix.with_name(prefix.name + PRIVATE_SUFFIX)
    public_path = prefix.with_name(prefix.name + PUBLIC_SUFFIX)
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{path} exists: choose another prefix or move the old key away")
    prefix.parent.mkdir(parents=True, exist_ok=True)

    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # O_EXCL with mode 0600 means the private key is never readable by others, even briefly.
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem)
    os.chmod(private_path, 0o600)
    public_path.write_bytes(public_pem)
    return KeyPair(private_path, public_path, key_id(private_key.public_key()))


def _key_path(path: str | os.PathLike[str], suffix: str) -> Path:
    """Accept a key file path or the PREFIX it was written with."""
    path = Path(path)
    if not path.exists() and path.with_name(path.name + suffix).exists():
        return path.with_name(path.name + suffix)
    return path


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from a PEM file (PREFIX.key or PREFIX)."""
    path = _key_path(path, PRIVATE_SUFFIX)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise InputError("private key file not found", path=str(path)) from None
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"cannot read the private key: {exc}", path=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the private key is not an Ed25519 key", path=str(path))
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Read an Ed25519 public key from a PEM file (PREFIX.pub or PREFIX)."""
    path = _key_path(path, PUBLIC_SUFFIX)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise InputError("public key file not found", path=str(path)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the public key: {exc}", path=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("the public key is not an Ed25519 key", path=str(path))
    return key


# Writing checkpoints


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def signed_bytes(checkpoint: dict[str, Any]) -> bytes:
    """Return the bytes a checkpoint's signature covers: RFC 8785 form without ``signature``."""
    body = {name: value for name, value in checkpoint.items() if name != "signature"}
    return jcs.canonicalize(body)


def build_checkpoint(seal: dict[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return a signed checkpoint of a seal (the dict stored in chain-seal.json)."""
    body = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "mode": seal["mode"],
        "records": seal["records"],
        "head_hash": seal["head_hash"],
        "merkle_root": seal["merkle_root"],
        "merkle_leaf": seal["merkle_leaf"],
        "sealed_at": seal.get("sealed_at"),
        "checkpoint_at": _utc_now(),
        "key_id": key_id(private_key.public_key()),
        "signature_algorithm": SIGNATURE_ALGORITHM,
    }
    signature = private_key.sign(signed_bytes(body))
    return {**body, "signature": base64.b64encode(signature).decode("ascii")}


def write_checkpoint(checkpoint: dict[str, Any], evidence_dir: str | os.PathLike[str]) -> Path:
    """Write a checkpoint as evidence/checkpoint-<records>-<time>.json and return its path.

    The time is the checkpoint's own, in a form that sorts and is safe in file names.
    """
    evidence_dir = Path(evidence_dir)
    evidence_dir.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint["checkpoint_at"].replace("-", "").replace(":", "").replace(".", "")
    path = evidence_dir / f"checkpoint-{checkpoint['records']}-{stamp}.json"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(checkpoint, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


# Reading and checking checkpoints


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint file. Raises InputError when it is missing or not a JSON object.

    The content is not trusted yet: check it with verify_signature.
    """
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("checkpoint file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read the checkpoint: {exc}", path=str(path)) from None
    if not isinstance(value, dict):
        raise InputError("the checkpoint is not a JSON object", path=str(path))
    return value


def verify_signature(checkpoint: dict[str, Any], public_key: Ed25519PublicKey) -> None:
    """Check that a checkpoint is well formed and signed by ``public_key``.

    Raises CheckpointProblem with problem ``forged_checkpoint`` for a checkpoint that is
    malformed or names another key, and ``bad_signature`` for one whose signature does not
    match its content under the key.
    """
    _check_fields(checkpoint)
    expected_id = key_id(public_key)
    if checkpoint["key_id"] != expected_id:
        raise CheckpointProblem(
            "forged_checkpoint",
            f"The checkpoint names key {checkpoint['key_id'][:16]}…, not the given public key "
            f"{expected_id[:16]}…, so it was not signed with that key.",
        )
    try:
        signature = base64.b64decode(checkpoint["signature"], validate=True)
        public_key.verify(signature, signed_bytes(checkpoint))
    except (InvalidSignature, ValueError, jcs.CanonicalizationError):
        raise CheckpointProblem(
            "bad_signature",
            "The checkpoint's signature does not match its content, so the checkpoint was "
            "altered after it was signed or was not signed with this key.",
        ) from None


def _check_fields(checkpoint: dict[str, Any]) -> None:
    def forged(reason: str) -> CheckpointProblem:
        return CheckpointProblem("forged_checkpoint", f"The checkpoint is malformed: {reason}.")

    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise forged(f"its format is not {CHECKPOINT_FORMAT!r}")
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise forged(f"its version is {checkpoint.get('version')!r}, not {CHECKPOINT_VERSION}")
    for name, types in _FIELDS.items():
        value = checkpoint.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise forged(f"field {name!r} is missing or has the wrong type")
    if not isinstance(checkpoint.get("signature"), str):
        raise forged("it has no signature")
    if checkpoint["signature_algorithm"] != SIGNATURE_ALGORITHM:
        raise forged(f"its signature algorithm is not {SIGNATURE_ALGORITHM}")
    if checkpoint["records"] < 0:
        raise forged("its record count is negative")
    for name in ("merkle_root", "head_hash", "key_id"):
        value = checkpoint[name]
        if value is not None and (len(value) != 64 or not set(value) <= _HEX64):
            raise forged(f"field {name!r} is not 64 lower-case hex characters")
    if (checkpoint["head_hash"] is None) != (checkpoint["records"] == 0):
        raise forged("its head_hash does not fit its record count")


def summary(checkpoint: dict[str, Any], path: str | os.PathLike[str] | None = None) -> dict:
    """Return the checkpoint fields a verification result reports."""
    fields = ("records", "head_hash", "merkle_root", "checkpoint_at", "key_id")
    result: dict[str, Any] = {name: checkpoint.get(name) for name in fields}
    if path is not None:
        result["path"] = str(path)
    return result
