"""Seal coverage of mapped columns and unrepresentable events, and chain files read in another
layout or mode. Expected digests are computed here with hashlib, rfc8785 and json directly."""

from __future__ import annotations

import hashlib
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rfc8785
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secobs import chain
from secobs.cli import main

from .conftest import write_lines

GENESIS = "0" * 64
PROPERTY = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])


def run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    return result.exit_code, result.stdout


def run_json(*args) -> tuple[int, dict]:
    code, out = run(*args, "--json")
    return code, json.loads(out)


def audit_line(number: int, extra: str = "") -> str:
    """Return one audit.v1 line as received; ``extra`` is appended inside the object."""
    return (
        f'{{"schema": "audit.v1", "ts": "2026-02-23T10:{number:02d}:00Z", '
        f'"event": "auth.login", "result": "success", '
        f'"actor": {{"id": "u-{number}", "tenant_id": "acme"}}{extra}}}'
    )


def make_case(tmp_path: Path, lines: list[str]) -> Path:
    source = write_lines(tmp_path / "audit.ndjson", lines)
    case = tmp_path / "case"
    assert run("ingest", case, source)[0] == 0
    return case


def edit_lake(case: Path, column: str, edit) -> int:
    """Apply ``edit`` to one column of every audit_events Parquet file; return the rows seen."""
    rows = 0
    for part in (case / "lake" / "audit_events").rglob("*.parquet"):
        table = pq.read_table(part)
        index = table.schema.get_field_index(column)
        values = edit(table.column(column).to_pylist())
        table = table.set_column(index, table.schema.field(index), pa.array(values))
        pq.write_table(table, part)
        rows += table.num_rows
    return rows


# Mapped columns


def test_edited_actor_id_is_modified(tmp_path):
    case = make_case(tmp_path, [audit_line(n) for n in range(6)])
    assert run("chain", "seal", case)[0] == 0
    edit_lake(case, "actor_id", lambda ids: ["u-admin" if v == "u-3" else v for v in ids])
    code, out = run_json("chain", "verify", case)
    assert code == 1
    assert out["problem"] == "modified"
    assert out["first_bad"] == 3
    source = f"{tmp_path / 'audit.ndjson'}, record 4"
    assert out["source"] == source
    assert "mapped column actor_id differs" in out["detail"]
    assert source in out["detail"]


def test_edited_ts_is_modified(tmp_path):
    case = make_case(tmp_path, [audit_line(n) for n in range(4)])
    assert run("chain", "seal", case)[0] == 0
    shifted = datetime(2026, 2, 23, 10, 3, 0, 500, tzinfo=UTC)

    def move_last(values):
        return [shifted if v == datetime(2026, 2, 23, 10, 3, tzinfo=UTC) else v for v in values]

    edit_lake(case, "ts", move_last)
    code, out = run_json("chain", "verify", case)
    assert code == 1
    assert out["problem"] == "modified"
    assert out["first_bad"] == 3
    assert "mapped column ts differs" in out["detail"]


def test_seal_json_lists_row_columns(tmp_path):
    case = make_case(tmp_path, [audit_line(n) for n in range(2)])
    code, out = run_json("chain", "seal", case)
    assert code == 0
    assert out["raw_digests"] == 0
    meta = json.loads((case / "evidence" / "chain-seal.json").read_text())
    assert meta["version"] == 2
    assert "actor_id" in meta["row_columns"]
    assert "ts" in meta["row_columns"]
    assert "raw" not in meta["row_columns"]
    assert "source_file" not in meta["row_columns"]
    assert meta["row_columns"] == sorted(meta["row_columns"])


def test_version_1_seal_verifies_with_note(tmp_path):
    case = make_case(tmp_path, [audit_line(n) for n in range(3)])
    assert run("chain", "seal", case)[0] == 0
    evidence = case / "evidence"
    parquet = evidence / "chain-seal.parquet"
    table = pq.read_table(parquet).select(
        ["index", "source_file", "source_record", "digest", "hash"]
    )
    pq.write_table(table, parquet)
    meta = json.loads((evidence / "chain-seal.json").read_text())
    meta["version"] = 1
    del meta["raw_digests"], meta["row_columns"]
    meta["digest_list_sha256"] = hashlib.sha256(parquet.read_bytes()).hexdigest()
    (evidence / "chain-seal.json").write_text(json.dumps(meta))

    code, out = run_json("chain", "verify", case)
    assert code == 0
    assert out["valid"] is True
    assert "does not cover the mapped columns" in out["detail"]
    edit_lake(case, "actor_id", lambda ids: ["u-admin" for _ in ids])
    assert run("chain", "verify", case)[0] == 0


def test_row_digest_is_rfc8785_of_columns():
    ts = datetime(2026, 2, 23, 10, 15, 0, 42, tzinfo=UTC)
    columns = {"ts": ts, "actor_id": "zoë", "roles": ["a", "b"], "mfa": None, "geo_lat": 10.0}
    names = chain.row_columns(columns)
    digest, fingerprints = chain.row_digest(columns, names)
    expected = {
        "actor_id": "zoë",
        "geo_lat": 10,
        "mfa": None,
        "roles": ["a", "b"],
        "ts": "2026-02-23T10:15:00.000042Z",
    }
    assert digest == hashlib.sha256(rfc8785.dumps(expected)).hexdigest()
    assert len(fingerprints) == len(columns) * chain.FINGERPRINT_BYTES
    actor = hashlib.sha256(rfc8785.dumps("zoë")).digest()[: chain.FINGERPRINT_BYTES]
    assert fingerprints[: chain.FINGERPRINT_BYTES] == actor


column_values = st.one_of(st.none(), st.text(max_size=6), st.integers(-1000, 1000))


@PROPERTY
@given(
    rows=st.lists(st.fixed_dictionaries({"a": column_values, "b": column_values}), min_size=1),
    data=st.data(),
)
def test_mapped_column_edit_found_at_record(rows, data):
    items = [
        chain.CaseEvent({"seq": i}, "audit.ndjson", i + 1, None, row) for i, row in enumerate(rows)
    ]
    k = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from(["a", "b"]))
    new_value = data.draw(column_values.filter(lambda v: v != rows[k][column]))
    with tempfile.TemporaryDirectory() as evidence:
        chain.seal_events(items, evidence)
        assert chain.verify_sealed(items, evidence).valid
        edited = list(items)
        edited[k] = items[k]._replace(columns={**rows[k], column: new_value})
        result = chain.verify_sealed(edited, evidence)
    assert result.problem == "modified"
    assert result.first_bad == k
    assert result.source == f"audit.ndjson, record {k + 1}"
    assert f"mapped column {column} differs" in result.detail


# Unrepresentable events


def test_big_integer_case_seals_and_verifies(tmp_path):
    big = 2**60 + 1
    lines = [audit_line(n) for n in range(4)]
    lines[2] = audit_line(2, f', "trace_ns": {big}')
    case = make_case(tmp_path, lines)
    code, out = run_json("chain", "seal", case)
    assert code == 0
    assert out["raw_digests"] == 1
    code, text = run("chain", "seal", case)
    assert "1 events were sealed by their received text" in text

    table = pq.read_table(case / "evidence" / "chain-seal.parquet")
    assert table.column("digest_kind").to_pylist() == ["jcs", "jcs", "raw", "jcs"]
    assert table.column("digest").to_pylist()[2] == hashlib.sha256(lines[2].encode()).hexdigest()
    previous = table.column("hash").to_pylist()[1]
    expected = hashlib.sha256((previous + lines[2]).encode()).hexdigest()
    assert table.column("hash").to_pylist()[2] == expected

    code, out = run_json("chain", "verify", case)
    assert code == 0
    assert "1 of them were sealed by their received text" in out["detail"]

    proof_path = tmp_path / "proof.json"
    assert run("chain", "prove", case, "--record", 2, "--out", proof_path)[0] == 0
    proof = json.loads(proof_path.read_text())
    assert proof["digest_kind"] == "raw"
    assert proof["event"]["trace_ns"] == big
    assert run("chain", "verify-proof", proof_path)[0] == 0
    proof["raw"] = proof["raw"].replace(str(big), str(big + 1))
    proof_path.write_text(json.dumps(proof))
    assert run("chain", "verify-proof", proof_path)[0] == 1


def test_big_integer_tamper_is_found(tmp_path):
    big = 2**62
    lines = [audit_line(n) for n in range(3)]
    lines[1] = audit_line(1, f', "trace_ns": {big}')
    case = make_case(tmp_path, lines)
    assert run("chain", "seal", case)[0] == 0
    # 2**62 and 2**62 + 1 round to the same double, so a rounded hash would miss this edit.
    edit_lake(case, "raw", lambda raws: [r.replace(str(big), str(big + 1)) for r in raws])
    code, out = run_json("chain", "verify", case)
    assert code == 1
    assert out["problem"] == "modified"
    assert out["first_bad"] == 1


@PROPERTY
@given(
    bigs=st.lists(
        st.integers(min_value=2**53, max_value=2**70) | st.integers(max_value=-(2**53)),
        min_size=1,
        max_size=5,
    ),
    data=st.data(),
)
def test_big_integers_sealed_and_tamper_evident(bigs, data):
    raws = [f'{{"n": {value}, "seq": {i}}}' for i, value in enumerate(bigs)]
    items = [
        chain.CaseEvent(json.loads(raw), "big.ndjson", i + 1, raw) for i, raw in enumerate(raws)
    ]
    k = data.draw(st.integers(0, len(bigs) - 1))
    tampered_raw = raws[k].replace(str(bigs[k]), str(bigs[k] + 1))
    with tempfile.TemporaryDirectory() as evidence:
        seal = chain.seal_events(items, evidence)
        assert seal.raw_digests == len(bigs)
        assert chain.verify_sealed(items, evidence).valid
        edited = list(items)
        edited[k] = chain.CaseEvent(json.loads(tampered_raw), "big.ndjson", k + 1, tampered_raw)
        result = chain.verify_sealed(edited, evidence)
    previous = GENESIS
    for raw in raws:
        previous = hashlib.sha256((previous + raw).encode()).hexdigest()
    assert seal.head_hash == previous
    assert result.problem == "modified"
    assert result.first_bad == k


# Chain file layouts and modes


def nested_chain(events: list[dict]) -> list[dict]:
    records = []
    previous = GENESIS
    for event in events:
        digest = hashlib.sha256(previous.encode() + rfc8785.dumps(event)).hexdigest()
        records.append({"event": event, "prev_hash": previous, "hash": digest})
        previous = digest
    return records


def write_records(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_nested_layout_verifies(tmp_path):
    events = [{"event": "auth.login", "n": i} for i in range(5)]
    path = write_records(tmp_path / "nested.ndjson", nested_chain(events))
    code, out = run_json("chain", "verify", path)
    assert code == 0
    assert out["records"] == 5
    assert "nested layout" in out["detail"]


def test_nested_layout_tamper_is_modified(tmp_path):
    records = nested_chain([{"event": "auth.login", "n": i} for i in range(5)])
    records[2]["event"]["n"] = 99
    path = write_records(tmp_path / "nested.ndjson", records)
    result = chain.verify_file(path)
    assert result.problem == "modified"
    assert result.first_bad == 2
    assert "nested layout" in result.detail


def test_nested_layout_change_midway_is_malformed(tmp_path):
    records = nested_chain([{"n": i} for i in range(3)])
    records[1]["extra"] = 1
    result = chain.verify_file(write_records(tmp_path / "nested.ndjson", records))
    assert result.problem == "malformed"
    assert result.first_bad == 1


def test_jcs_export_in_seed_mode_is_wrong_mode(tmp_path):
    lines = [audit_line(n) for n in range(5)]
    lines[3] = audit_line(3, ', "note": "zoë"')
    case = make_case(tmp_path, lines)
    chain_file = tmp_path / "chain.ndjson"
    assert run("chain", "export", case, chain_file)[0] == 0
    code, out = run_json("chain", "verify", chain_file, "--mode", "seed")
    assert code == 1
    assert out["problem"] == "wrong_mode"
    assert out["first_bad"] == 3
    assert "jcs mode" in out["detail"]
    assert "whole chain verifies" in out["detail"]


def test_seed_file_tampered_later_reports_tamper(tmp_path):
    events = [{"n": i, "note": "zoë"} for i in range(4)]
    records = []
    previous = GENESIS
    for event in events:
        text = json.dumps(event, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256((previous + text).encode()).hexdigest()
        records.append({**event, "prev_hash": previous, "hash": digest})
        previous = digest
    records[2]["n"] = 42
    result = chain.verify_file(write_records(tmp_path / "seed.ndjson", records), mode="jcs")
    assert result.problem == "modified"
    assert result.first_bad == 2
    assert result.mode == "seed"


def test_export_help_names_top_level_fields():
    code, text = run("chain", "export", "--help")
    assert code == 0
    assert "top level" in text
    assert "each record: event, prev_hash, hash" not in text


@pytest.mark.parametrize("mode", ["jcs", "seed"])
def test_own_mode_still_valid(tmp_path, mode):
    case = make_case(tmp_path, [audit_line(3, ', "note": "zoë"')])
    chain_file = tmp_path / "chain.ndjson"
    assert run("chain", "export", case, chain_file, "--mode", mode)[0] == 0
    code, out = run_json("chain", "verify", chain_file, "--mode", mode)
    assert code == 0
    assert "flat layout" in out["detail"]
