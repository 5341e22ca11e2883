"""Evidence bundles: a case's lake, manifest, seal and checkpoints with a verification report.

A bundle is a folder, a tar file (optionally gzip-compressed) or a zip file holding::

    lake/...            the case's Parquet lake, quarantine included
    manifest/...        one Parquet row per ingested source file (SHA-256, size, who, when)
    evidence/...        chain-seal.json, chain-seal.parquet and checkpoint-*.json
    bundle-report.json  the SHA-256 and size of every other file, and the chain verification
                        result at export time

Key files (``*.key``, such as the case's redaction key) are never bundled. The catalog
(secobs.duckdb) is left out because DuckDB rewrites it whenever a case is opened,
and reports are left out because they are derived from the evidence. verify_bundle re-checks
a bundle offline: every file against the report, and the audit events against the seal.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb

from secobs import chain, checkpoint, evidence
from secobs.case import Case, quote_literal
from secobs.errors import CaseError, InputError, UsageError

REPORT_NAME = "bundle-report.json"
BUNDLE_FORMAT = "secobs.evidence-bundle"
BUNDLE_VERSION = 1
BUNDLED_FOLDERS = ("lake", "manifest", "evidence")
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
_FETCH_ROWS = 10_000
SECRET_SUFFIX = ".key"


@dataclass(frozen=True)
class BundleExport:
    """A written bundle: its path, file count and total bytes (the report excluded)."""

    path: Path
    files: int
    bytes: int
    chain: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "files": self.files,
            "bytes": self.bytes,
            "chain": self.chain,
        }


@dataclass(frozen=True)
class Difference:
    """One way a bundle differs from its report or its seal.

    ``kind`` is missing, changed, extra, report, chain or checkpoint.
    """

    kind: str
    path: str
    detail: str
    expected_sha256: str | None = None
    actual_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "detail": self.detail,
            "expected_sha256": self.expected_sha256,
            "actual_sha256": self.actual_sha256,
        }


@dataclass
class BundleVerification:
    """Outcome of verify_bundle: valid only when there is no difference at all."""

    files_checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    chain: dict[str, Any] | None = None
    chain_detail: str = ""

    @property
    def valid(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "files_checked": self.files_checked,
            "differences": [difference.to_json() for difference in self.differences],
            "chain": self.chain,
            "chain_detail": self.chain_detail,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundled_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Yield (bundle path, file) for every file the bundle holds, in a stable order.

    Hidden files (temporary files of an interrupted write) are skipped, and so are key files
    (``*.key``): the case's redaction key and any private signing key stay out of a bundle
    that is meant to be handed over.
    """
    for folder in BUNDLED_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root)
            hidden = any(part.startswith(".") for part in relative.parts)
            if path.is_file() and not hidden and path.suffix != SECRET_SUFFIX:
                yield relative.as_posix(), path


def _archive_kind(out: Path) -> str | None:
    name = out.name.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return "zip" if suffix == ".zip" else "tar"
    return None


# Export


def export_bundle(case_dir: Path | str, out: Path | str) -> BundleExport:
    """Write a case's evidence bundle to a folder or a .tar, .tar.gz or .zip file.

    Verifies the case against its seal first and records the result in the report, which
    therefore states what was true when the bundle was made. Raises CaseError when the case has no
    seal and UsageError when ``out`` exists.
    """
    case = Case.open(case_dir)
    out = Path(out)
    if out.exists():
        raise UsageError(f"{out} exists: give a new folder or archive path for the bundle")
    from secobs.evidence import verify

    result = verify(case.root).to_json()

    entries = []
    total = 0
    for name, path in _bundled_files(case.root):
        size = path.stat().st_size
        entries.append({"path": name, "sha256": _sha256(path), "size": size})
        total += size
    report = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "case": case.root.name,
        "files": entries,
        "chain": result,
    }
    report_bytes = (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()

    kind = _archive_kind(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    try:
        if kind is None:
            _write_folder(case.root, entries, report_bytes, temporary)
        elif kind == "tar":
            _write_tar(case.root, entries, report_bytes, temporary, out.name)
        else:
            _write_zip(case.root, entries, report_bytes, temporary)
        os.replace(temporary, out)
    finally:
        if temporary.is_dir():
            shutil.rmtree(temporary)
        elif temporary.exists():
            temporary.unlink()
    return BundleExport(out, len(entries), total, result)


def _write_folder(root: Path, entries: list[dict], report: bytes, target: Path) -> None:
    for entry in entries:
        destination = target / entry["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / entry["path"], destination)
    (target / REPORT_NAME).write_bytes(report)


def _write_tar(root: Path, entries: list[dict], report: bytes, target: Path, name: str) -> None:
    mode = "w:gz" if name.lower().endswith((".tar.gz", ".tgz")) else "w"
    with tarfile.open(target, mode) as archive:
        for entry in entries:
            archive.add(root / entry["path"], arcname=entry["path"], recursive=False)
        info = tarfile.TarInfo(REPORT_NAME)
        info.size = len(report)
        info.mtime = int(datetime.now(UTC).timestamp())
        with tempfile.TemporaryFile() as buffer:
            buffer.write(report)
            buffer.seek(0)
            archive.addfile(info, buffer)


def _write_zip(root: Path, entries: list[dict], report: bytes, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            archive.write(root / entry["path"], arcname=entry["path"])
        archive.writestr(REPORT_NAME, report)


# Verification


def verify_bundle(bundle: Path | str, public_key: Path | str | None = None) -> BundleVerification:
    """Re-check a bundle offline and list every difference.

    Files are compared with the report (missing, changed with both hashes, extra), the audit
    events in the bundle's lake with its seal, and the seal with each checkpoint in the bundle
    (signatures too when ``public_key`` is given). Archives are unpacked into a temporary
    folder first, rejecting members that are not plain files inside the bundle.
    """
    bundle = Path(bundle)
    if bundle.is_dir():
        return _verify_folder(bundle, public_key)
    kind = _archive_kind(bundle)
    if kind is None:
        raise InputError(
            "expected a bundle folder or a .tar, .tar.gz or .zip file", path=str(bundle)
        )
    with tempfile.TemporaryDirectory(prefix="secobs-bundle-") as folder:
        _unpack(bundle, kind, Path(folder))
        return _verify_folder(Path(folder), public_key)


def _safe_member(name: str, bundle: Path) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise InputError(f"archive member {name!r} points outside the bundle", path=str(bundle))
    return path


def _unpack(bundle: Path, kind: str, target: Path) -> None:
    try:
        if kind == "zip":
            with zipfile.ZipFile(bundle) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    destination = target / _safe_member(info.filename, bundle)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as source, destination.open("wb") as sink:
                        shutil.copyfileobj(source, sink)
            return
        with tarfile.open(bundle) as archive:
            for member in archive:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise InputError(
                        f"archive member {member.name!r} is not a plain file", path=str(bundle)
                    )
                destination = target / _safe_member(member.name, bundle)
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                with source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"cannot read the bundle archive: {exc}", path=str(bundle)) from None


def _verify_folder(root: Path, public_key: Path | str | None) -> BundleVerification:
    result = BundleVerification()
    report = _read_report(root, result)
    if report is not None:
        _compare_files(root, report, result)
    _check_chain(root, result)
    if result.chain is not None and result.chain.get("valid"):
        _check_checkpoints(root, public_key, result)
    return result


def _read_report(root: Path, result: BundleVerification) -> dict[str, Any] | None:
    path = root / REPORT_NAME
    if not path.is_file():
        result.differences.append(Difference("missing", REPORT_NAME, "the bundle has no report"))
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        result.differences.append(Difference("report", REPORT_NAME, f"unreadable: {exc}"))
        return None
    if not isinstance(report, dict) or report.get("format") != BUNDLE_FORMAT:
        result.differences.append(Difference("report", REPORT_NAME, "not a secobs bundle report"))
        return None
    files = report.get("files")
    if not isinstance(files, list) or not all(_is_entry(entry) for entry in files):
        result.differences.append(Difference("report", REPORT_NAME, "its file list is malformed"))
        return None
    return report


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("path"), str)
        and isinstance(entry.get("sha256"), str)
    )


def _compare_files(root: Path, report: dict[str, Any], result: BundleVerification) -> None:
    listed = {entry["path"]: entry for entry in report["files"]}
    present = dict(_bundled_files(root))
    for name, entry in listed.items():
        path = present.get(name)
        if path is None:
            result.differences.append(
                Difference(
                    "missing",
                    name,
                    "listed in the report but not in the bundle",
                    expected_sha256=entry["sha256"],
                )
            )
            continue
        actual = _sha256(path)
        result.files_checked += 1
        if actual != entry["sha256"]:
            result.differences.append(
                Difference(
                    "changed",
                    name,
                    "content differs from the report",
                    expected_sha256=entry["sha256"],
                    actual_sha256=actual,
                )
            )
    for name in sorted(set(present) - set(listed)):
        result.differences.append(
            Difference(
                "extra",
                name,
                "in the bundle but not in the report",
                actual_sha256=_sha256(present[name]),
            )
        )
    stray = [
        path.relative_to(root).as_posix()
        for path in sorted(root.iterdir())
        if path.name not in (*BUNDLED_FOLDERS, REPORT_NAME)
    ]
    for name in stray:
        result.differences.append(Difference("extra", name, "not part of a bundle's layout"))


def bundle_events(root: Path) -> Iterator[chain.CaseEvent]:
    """Yield the bundle's audit events in chain order, read from its Parquet files directly.

    The order and the mapped columns match secobs.evidence.case_events for the columns that
    the bundled seal covers, and no catalog is written into the bundle.
    """
    folder = root / "lake" / "audit_events"
    if not any(folder.glob("**/*.parquet")):
        return
    pattern = quote_literal(str(folder / "**" / "*.parquet"))
    relation = f"read_parquet({pattern}, hive_partitioning = false, union_by_name = true)"
    columns = evidence.sealed_row_columns(root / "evidence")
    con = duckdb.connect()
    try:
        yield from evidence.audit_rows(con, relation, columns)
    finally:
        con.close()


def _check_chain(root: Path, result: BundleVerification) -> None:
    evidence = root / "evidence"
    try:
        verification = chain.verify_sealed(bundle_events(root), evidence)
    except (InputError, CaseError) as exc:
        result.differences.append(Difference("chain", "evidence", str(exc)))
        result.chain_detail = str(exc)
        return
    except duckdb.Error as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        detail = f"cannot read the audit events in the lake: {first_line}"
        result.differences.append(Difference("chain", "lake/audit_events", detail))
        result.chain_detail = detail
        return
    result.chain = verification.to_json()
    result.chain_detail = verification.detail or ""
    if not verification.valid:
        where = f" at record {verification.first_bad}" if verification.first_bad is not None else ""
        result.differences.append(
            Difference(
                "chain",
                verification.source or "evidence",
                f"{verification.problem}{where}: {verification.detail}",
            )
        )


def _check_checkpoints(
    root: Path, public_key: Path | str | None, result: BundleVerification
) -> None:
    evidence = root / "evidence"
    key = checkpoint.load_public_key(public_key) if public_key is not None else None
    seal = chain.read_seal(evidence)
    for path in sorted(evidence.glob("checkpoint-*.json")):
        name = path.relative_to(root).as_posix()
        try:
            signed = checkpoint.read_checkpoint(path)
            if key is not None:
                checkpoint.verify_signature(signed, key)
        except (InputError, checkpoint.CheckpointProblem) as exc:
            result.differences.append(Difference("checkpoint", name, str(exc)))
            continue
        records = signed.get("records")
        if not isinstance(records, int) or records > seal["records"]:
            result.differences.append(
                Difference(
                    "checkpoint",
                    name,
                    f"signed {records} records but the seal holds {seal['records']}: "
                    "the evidence was rolled back or cut off",
                )
            )
            continue
        prefix = chain.sealed_prefix(evidence, records)
        if prefix.root_at_size != signed.get("merkle_root"):
            result.differences.append(
                Difference(
                    "checkpoint",
                    name,
                    "its Merkle root differs from the seal's first "
                    f"{records} records: the signed history was replaced",
                )
            )
    if key is None:
        result.chain_detail += " Checkpoint signatures were not checked (no public key given)."
