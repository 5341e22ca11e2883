"""Evidence commands as a user runs them on a real case: keys, signed seals, verification
against checkpoints, proofs and bundles."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from secobs.cli import main

from .conftest import write_lines


def run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    return result.exit_code, result.stdout


def run_json(*args) -> tuple[int, dict]:
    code, out = run(*args, "--json")
    return code, json.loads(out)


def audit_line(number: int, day: int = 23) -> str:
    event = {
        "schema": "audit.v1",
        "ts": f"2026-02-{day:02d}T10:{number % 60:02d}:{number // 60:02d}Z",
        "event": "auth.login",
        "result": "success",
        "actor": {"id": f"u-{number}", "tenant_id": "acme"},
        "security": {"risk_score": number % 100},
    }
    return json.dumps(event)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    prefix = tmp_path / "keys" / "signer"
    code, out = run_json("keys", "new", "--out", prefix)
    assert code == 0
    assert out["private_key"] == f"{prefix}.key"
    return prefix


@pytest.fixture
def case(tmp_path: Path) -> Path:
    source = write_lines(tmp_path / "audit.ndjson", [audit_line(n) for n in range(40)])
    case = tmp_path / "case"
    code, _ = run("ingest", case, source)
    assert code == 0
    return case


def seal(case: Path, keys: Path) -> str:
    code, out = run_json("chain", "seal", case, "--key", f"{keys}.key")
    assert code == 0
    return out["checkpoint"]


def add_events(case: Path, tmp_path: Path, name: str, numbers: range, day: int = 24) -> None:
    source = write_lines(tmp_path / name, [audit_line(n, day) for n in numbers])
    assert run("ingest", case, source)[0] == 0


def test_keys_new_writes_private_key_0600(keys):
    assert stat.S_IMODE(Path(f"{keys}.key").stat().st_mode) == 0o600
    assert Path(f"{keys}.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    code, _ = run("keys", "new", "--out", keys)
    assert code == 2


def test_seal_with_key_prints_checkpoint(case, keys):
    code, out = run("chain", "seal", case, "--key", f"{keys}.key")
    assert code == 0
    path = out.strip().splitlines()[-1].removeprefix("checkpoint ")
    assert Path(path).parent == (case / "evidence").resolve()
    assert json.loads(Path(path).read_text())["records"] == 40


def test_verify_case_against_checkpoint(case, keys):
    checkpoint = seal(case, keys)
    code, out = run_json(
        "chain", "verify", case, "--checkpoint", checkpoint, "--public-key", f"{keys}.pub"
    )
    assert code == 0
    assert out["valid"] is True
    assert out["records"] == 40
    assert out["checkpoint"]["records"] == 40
    assert {"valid", "records", "first_bad", "problem", "checkpoint"} <= set(out)


def test_rolled_back_case_is_found(case, keys, tmp_path):
    seal(case, keys)
    old = tmp_path / "old-case"
    shutil.copytree(case, old)
    add_events(case, tmp_path, "later.ndjson", range(100, 110))
    newer = seal(case, keys)
    code, out = run_json(
        "chain", "verify", old, "--checkpoint", newer, "--public-key", f"{keys}.pub"
    )
    assert code == 1
    assert out["problem"] == "rollback"
    assert out["first_bad"] == 40


def test_case_truncated_behind_seal_is_found(case, keys):
    checkpoint = seal(case, keys)
    # Drop the last 5 events from the lake, as a cut-off tail would.
    part = sorted((case / "lake" / "audit_events").rglob("*.parquet"))[-1]
    table = pq.read_table(part)
    table = table.sort_by("ts").slice(0, table.num_rows - 5)
    pq.write_table(table, part)
    code, out = run_json(
        "chain", "verify", case, "--checkpoint", checkpoint, "--public-key", f"{keys}.pub"
    )
    assert code == 1
    assert out["problem"] == "truncated"
    assert out["first_bad"] == 35


def test_exported_file_truncation_and_forgery(case, keys, tmp_path):
    checkpoint = seal(case, keys)
    chain_file = tmp_path / "chain.ndjson"
    assert run("chain", "export", case, chain_file)[0] == 0
    lines = chain_file.read_text().splitlines(keepends=True)
    chain_file.write_text("".join(lines[:30]))
    code, out = run_json(
        "chain", "verify", chain_file, "--checkpoint", checkpoint, "--public-key", f"{keys}.pub"
    )
    assert code == 1
    assert out["problem"] == "truncated"
    assert out["first_bad"] == 30

    forged = json.loads(Path(checkpoint).read_text())
    forged["records"] = 30
    forged_path = tmp_path / "forged.json"
    forged_path.write_text(json.dumps(forged))
    code, out = run_json(
        "chain", "verify", chain_file, "--checkpoint", forged_path, "--public-key", f"{keys}.pub"
    )
    assert code == 1
    assert out["problem"] == "bad_signature"


def test_inclusion_proof_round_trip(case, keys, tmp_path):
    seal(case, keys)
    proof_path = tmp_path / "proof.json"
    code, proof = run_json("chain", "prove", case, "--record", 7, "--out", proof_path)
    assert code == 0
    assert proof["leaf_index"] == 7
    assert proof["tree_size"] == 40
    assert proof["event"]["actor"]["id"] == "u-7"
    assert len(proof["proof"]) == 6  # ceil(log2(40)) for a leaf in the full left subtree
    assert run("chain", "verify-proof", proof_path)[0] == 0

    proof["event"]["result"] = "failure"
    proof_path.write_text(json.dumps(proof))
    code, out = run_json("chain", "verify-proof", proof_path)
    assert code == 1
    assert out["problem"] == "event_mismatch"


def test_prove_rejects_record_outside_seal(case, keys):
    seal(case, keys)
    code, _ = run("chain", "prove", case, "--record", 40)
    assert code == 2


def test_consistency_between_checkpoints(case, keys, tmp_path):
    older = seal(case, keys)
    add_events(case, tmp_path, "later.ndjson", range(100, 110))
    newer = seal(case, keys)
    code, out = run_json("chain", "consistency", case, older, newer, "--public-key", f"{keys}.pub")
    assert code == 0
    assert out["old_size"] == 40
    assert out["new_size"] == 50
    code, out = run_json("chain", "consistency", case, newer, older)
    assert code == 1


def test_events_inserted_before_old_ones_break_consistency(case, keys, tmp_path):
    older = seal(case, keys)
    # Earlier timestamps sort into the middle of the chain, so the old history changes.
    add_events(case, tmp_path, "backdated.ndjson", range(200, 203), day=22)
    newer = seal(case, keys)
    code, out = run_json("chain", "consistency", case, older, newer)
    assert code == 1
    assert out["valid"] is False


# Bundles


@pytest.mark.parametrize("name", ["bundle", "bundle.tar", "bundle.tar.gz", "bundle.zip"])
def test_bundle_export_and_verify(case, keys, tmp_path, name):
    seal(case, keys)
    out = tmp_path / name
    code, exported = run_json("evidence", "export", case, out)
    assert code == 0
    assert exported["chain"]["valid"] is True
    code, result = run_json("evidence", "verify", out, "--public-key", f"{keys}.pub")
    assert code == 0
    assert result["valid"] is True
    assert result["differences"] == []
    assert result["files_checked"] == exported["files"]


def test_bundle_holds_no_key_files(case, keys, tmp_path):
    seal(case, keys)
    (case / "evidence" / "redaction.key").write_text("secret")
    out = tmp_path / "bundle.zip"
    assert run("evidence", "export", case, out)[0] == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert "bundle-report.json" in names
    assert "evidence/chain-seal.json" in names
    assert not [name for name in names if name.endswith(".key")]


def test_bundle_differences_are_named(case, keys, tmp_path):
    seal(case, keys)
    out = tmp_path / "bundle"
    run("evidence", "export", case, out)
    report = json.loads((out / "bundle-report.json").read_text())
    listed = {entry["path"]: entry["sha256"] for entry in report["files"]}

    manifest = next(name for name in listed if name.startswith("manifest/"))
    (out / manifest).unlink()
    checkpoint = next(name for name in listed if name.startswith("evidence/checkpoint-"))
    (out / checkpoint).write_text((out / checkpoint).read_text() + " ")
    (out / "evidence" / "note.txt").write_text("added later")

    code, result = run_json("evidence", "verify", out)
    assert code == 1
    kinds = {(item["kind"], item["path"]) for item in result["differences"]}
    assert ("missing", manifest) in kinds
    assert ("changed", checkpoint) in kinds
    assert ("extra", "evidence/note.txt") in kinds
    changed = next(item for item in result["differences"] if item["kind"] == "changed")
    assert changed["expected_sha256"] == listed[checkpoint]
    assert changed["actual_sha256"] != listed[checkpoint]


def test_bundle_with_rewritten_event_and_report_fails_chain(case, keys, tmp_path):
    seal(case, keys)
    out = tmp_path / "bundle"
    run("evidence", "export", case, out)
    # An attacker edits one event and updates the report's hashes to match.
    part = sorted((out / "lake" / "audit_events").rglob("*.parquet"))[0]
    table = pq.read_table(part)
    raw = table.column("raw").to_pylist()
    raw[3] = raw[3].replace('"success"', '"failure"')
    table = table.set_column(table.schema.get_field_index("raw"), "raw", [raw])
    pq.write_table(table, part)
    report_path = out / "bundle-report.json"
    report = json.loads(report_path.read_text())
    for entry in report["files"]:
        entry["sha256"] = hashlib.sha256((out / entry["path"]).read_bytes()).hexdigest()
    report_path.write_text(json.dumps(report))

    code, result = run_json("evidence", "verify", out)
    assert code == 1
    assert [item["kind"] for item in result["differences"]] == ["chain"]
    assert result["chain"]["problem"] == "modified"


def test_bundle_archive_with_escaping_member_is_rejected(tmp_path):
    evil = tmp_path / "evil.tar"
    payload = tmp_path / "payload"
    payload.write_text("x")
    with tarfile.open(evil, "w") as archive:
        archive.add(payload, arcname="../escape.txt")
    code, _ = run("evidence", "verify", evil)
    assert code == 2
    assert not (tmp_path.parent / "escape.txt").exists()
