"""The evidence-integrity playbook: does the audit evidence still match its seal?

`notebooks/evidence_integrity.ipynb` drives this class. It verifies the hash chain over the
case's audit events against the seal in CASE/evidence/, lists the checkpoints stored there and
shows the manifest of ingested source files with their SHA-256 hashes. A case without a seal is
never sealed silently: the playbook offers a button, because sealing records the evidence as it
is now and a responder must decide that it has not been tampered with already.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import polars as pl

from secobs.chain import SEAL_JSON, Verification
from secobs.charts import source_files_chart
from secobs.errors import SecobsError
from secobs.evidence import seal_case, verify
from secobs.playbooks.base import Playbook, escape

log = logging.getLogger("secobs")

MANIFEST_SQL = """
SELECT path, sha256, size, format, table_name, records_in, loaded, quarantined, ingested_at
FROM manifest
ORDER BY path
"""
CHECKPOINT_GLOB = "checkpoint-*.json"
HASH_BLOCK = 1 << 20
CHECKPOINT_SCHEMA = {
    "file": pl.String,
    "sha256": pl.String,
    "records": pl.Int64,
    "head_hash": pl.String,
    "merkle_root": pl.String,
    "time": pl.String,
    "key_id": pl.String,
    "matches_chain": pl.Boolean,
    "problem": pl.String,
}


class EvidenceIntegrityPlaybook(Playbook):
    """Chain verification, checkpoints and the manifest of one case, with buttons to act.

    `verification` is the result of verifying the case against its seal, or None while the case
    has no seal. `seal_button` seals the case (only enabled without a seal) and then verifies.
    `verify_button` verifies again. `check_button` re-hashes the source files that the manifest
    lists and fills `source_check` with present/changed/missing per file.
    """

    slug = "evidence_integrity"

    def __init__(self, case_dir: Path | str, *, verify_now: bool = True):
        super().__init__(case_dir)
        self.verification: Verification | None = None
        self.manifest: pl.DataFrame | None = None
        self.checkpoints: pl.DataFrame | None = None
        self.source_check: pl.DataFrame | None = None
        self._verify_requested = verify_now

        self.seal_button = widgets.Button(
            description="Seal the case now",
            icon="lock",
            button_style="warning",
            tooltip="Record the chain of the audit events as they are now in CASE/evidence/",
        )
        self.verify_button = widgets.Button(description="Verify again", icon="check")
        self.check_button = widgets.Button(description="Re-hash source files", icon="refresh")
        self.seal_button.on_click(self._on_seal)
        self.verify_button.on_click(self._on_verify)
        self.check_button.on_click(self._on_check)
        self._start([widgets.HBox([self.seal_button, self.verify_button, self.check_button])])

    @property
    def sealed(self) -> bool:
        """Whether the case has a chain seal."""
        return (self.case.evidence_dir / SEAL_JSON).is_file()

    def _on_seal(self, _button: widgets.Button | None = None) -> None:
        if self.sealed:
            self.status.value = "The case is already sealed; nothing was changed."
            return
        try:
            seal = seal_case(self.case.root)
        except SecobsError as error:
            log.warning("sealing %s failed: %s", self.case.root, error)
            self.status.value = f"Sealing failed: {escape(error)}"
            return
        log.info("sealed %s: %d audit events", self.case.root, seal.records)
        self.status.value = f"Sealed {seal.records:,} audit events."
        self._verify_requested = True
        self.refresh()

    def _on_verify(self, _button: widgets.Button | None = None) -> None:
        self._verify_requested = True
        self.refresh()

    def _on_check(self, _button: widgets.Button | None = None) -> None:
        if self.manifest is None:
            return
        self.source_check = check_sources(self.manifest)
        changed = self.source_check.filter(pl.col("status") != "unchanged").height
        self.status.value = f"Re-hashed {self.source_check.height} source files: {changed} differ."
        self.tables["source_check"] = self.source_check
        self._draw()

    def _run(self) -> None:
        with self.case.connect() as con:
            manifest = con.sql(MANIFEST_SQL).pl()
        if not self.sealed:
            self.verification = None
        elif self._verify_requested:
            self.verification = verify(self.case.root)
            self._verify_requested = False
        self.seal_button.disabled = self.sealed
        self.verify_button.disabled = not self.sealed
        self.manifest = manifest
        self.checkpoints = read_checkpoints(self.case.evidence_dir, self.verification)
        self.tables = {"manifest": manifest, "checkpoints": self.checkpoints}
        if self.source_check is not None:
            self.tables["source_check"] = self.source_check
        self.charts = {"source_files": source_files_chart(manifest)} if manifest.height else {}

    def _summary_html(self) -> str:
        result = self.verification
        if not self.sealed:
            state = (
                "<b>The case has no seal</b>, so its audit evidence cannot be verified yet. "
                "Press <i>Seal the case now</i> to record the chain of the audit events as they "
                "are now (only do this if you trust the current files)."
            )
        elif result is None:
            state = "The case is sealed. Press <i>Verify again</i> to check it."
        elif result.valid:
            state = (
                f"<b>Verified</b>: the hash chain over {result.records:,} audit events matches "
                f"the seal ({escape(result.mode)} mode). Head hash "
                f"<code>{escape(result.head_hash)}</code>."
            )
        else:
            state = (
                f"<b>Verification failed</b>: {escape(result.problem)} at record "
                f"{result.first_bad}. {escape(result.detail or '')}"
            )
        files = 0 if self.manifest is None else self.manifest.height
        checkpoints = 0 if self.checkpoints is None else self.checkpoints.height
        return "<br>".join(
            [state, f"{files} source files in the manifest, {checkpoints} checkpoint file(s)."]
        )

    def _shown_tables(self) -> dict[str, tuple[str, pl.DataFrame]]:
        shown = {}
        if self.checkpoints is not None and self.checkpoints.height:
            shown["checkpoints"] = ("Checkpoints", self.checkpoints)
        if self.source_check is not None:
            shown["source_check"] = ("Source files re-hashed", self.source_check)
        if self.manifest is not None:
            shown["manifest"] = ("Manifest of source files", self.manifest)
        return shown


def read_checkpoints(evidence_dir: Path, verification: Verification | None) -> pl.DataFrame:
    """List the checkpoint files in `evidence_dir` with their main fields.

    `matches_chain` compares a checkpoint's head hash with the verified chain when both cover
    the same number of records, and is null otherwise. A file that is not a JSON object gets a
    `problem` instead of fields.
    """
    rows = []
    for path in sorted(evidence_dir.glob(CHECKPOINT_GLOB)):
        content = path.read_bytes()
        row: dict[str, Any] = {name: None for name in CHECKPOINT_SCHEMA}
        row["file"] = path.name
        row["sha256"] = hashlib.sha256(content).hexdigest()
        try:
            data = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            row["problem"] = f"not valid JSON: {error}"
            rows.append(row)
            continue
        if not isinstance(data, dict):
            row["problem"] = "not a JSON object"
            rows.append(row)
            continue
        body = data.get("checkpoint") if isinstance(data.get("checkpoint"), dict) else data
        row["records"] = _int(body.get("records"))
        row["head_hash"] = _text(body.get("head_hash") or body.get("head"))
        row["merkle_root"] = _text(body.get("merkle_root") or body.get("root"))
        row["time"] = _text(body.get("time") or body.get("created") or body.get("ts"))
        row["key_id"] = _text(body.get("key_id") or data.get("key_id"))
        if (
            verification is not None
            and verification.valid
            and row["records"] == verification.records
            and row["head_hash"] is not None
        ):
            row["matches_chain"] = row["head_hash"] == verification.head_hash
        rows.append(row)
    return pl.DataFrame(rows, schema=CHECKPOINT_SCHEMA)


def check_sources(manifest: pl.DataFrame) -> pl.DataFrame:
    """Re-hash each source file in the manifest: unchanged, changed or missing."""
    rows = []
    for row in manifest.select("path", "sha256").iter_rows(named=True):
        path = Path(row["path"])
        if not path.is_file():
            rows.append({"path": row["path"], "status": "missing", "sha256_now": None})
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(HASH_BLOCK):
                digest.update(block)
        now = digest.hexdigest()
        status = "unchanged" if now == row["sha256"] else "changed"
        rows.append({"path": row["path"], "status": status, "sha256_now": now})
    schema = {"path": pl.String, "status": pl.String, "sha256_now": pl.String}
    return pl.DataFrame(rows, schema=schema)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
