"""The command line: JSON output, exit status and messages, as a user runs it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from secobs.cli import main

from .conftest import REPO, write_lines


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def audit_line(number: int, **extra) -> str:
    event = {
        "schema": "audit.v1",
        "ts": f"2026-02-23T10:{number:02d}:00Z",
        "event": "auth.login",
        "result": "success",
        "actor": {"id": f"u-{number}"},
        "security": {"risk_score": 5, "ratio": 0.1},
    }
    event.update(extra)
    return json.dumps(event)


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "audit.ndjson", [audit_line(n) for n in range(1, 6)])


def test_ingest_json_is_one_object(tmp_path, audit_file):
    code, out, _ = run("ingest", tmp_path / "case", audit_file, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["loaded"]["audit_events"] == 5
    assert summary["quarantined"] == 0
    assert summary["files"][0]["sha256"] == hashlib.sha256(audit_file.read_bytes()).hexdigest()


def test_ingest_exit_status_follows_contract(tmp_path, audit_file):
    bad = write_lines(tmp_path / "bad.ndjson", [audit_line(7), "{oops"])
    code, out, _ = run("ingest", tmp_path / "case", bad, "--json")
    assert code == 1
    assert json.loads(out)["quarantined"] == 1

    unknown = tmp_path / "notes.txt"
    unknown.write_text("plain words\n")
    code, _, err = run("ingest", tmp_path / "case", unknown, audit_file)
    assert code == 2
    assert "notes.txt" in err
    assert "unrecognised format" in err


def test_sql_json_prints_array_of_rows(tmp_path, audit_file):
    run("ingest", tmp_path / "case", audit_file)
    code, out, _ = run(
        "sql",
        tmp_path / "case",
        "SELECT actor_id, risk_score FROM audit_events ORDER BY ts LIMIT 2",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out) == [
        {"actor_id": "u-1", "risk_score": 5},
        {"actor_id": "u-2", "risk_score": 5},
    ]


def test_sql_error_is_one_message(tmp_path, audit_file):
    run("ingest", tmp_path / "case", audit_file)
    code, _, err = run("sql", tmp_path / "case", "SELECT nope FROM audit_events")
    assert code == 2
    assert err.startswith("error: ")
    assert "Traceback" not in err


def test_query_list_and_parameters(tmp_path, audit_file):
    code, out, _ = run("query", "--list")
    assert code == 0
    for name in ("risky_logins_with_latency", "actor_timeline", "blast_radius"):
        assert name in out
    run("ingest", tmp_path / "case", audit_file)
    code, out, _ = run(
        "query", tmp_path / "case", "actor_timeline", "--param", "actor_id=u-3", "--format", "json"
    )
    assert code == 0
    assert [row["activity"] for row in json.loads(out)] == ["auth.login"]
    code, _, err = run("query", tmp_path / "case", "blast_radius")
    assert code == 2
    assert "give one of trace_id" in err


def test_seal_verify_and_detect_tampering(tmp_path, audit_file):
    case = tmp_path / "case"
    run("ingest", case, audit_file)
    code, out, _ = run("chain", "seal", case, "--json")
    assert code == 0
    assert json.loads(out)["records"] == 5
    code, out, _ = run("chain", "verify", case, "--json")
    assert code == 0
    assert json.loads(out) | {"detail": None, "head_hash": None, "mode": None} == {
        "valid": True,
        "records": 5,
        "first_bad": None,
        "problem": None,
        "detail": None,
        "head_hash": None,
        "mode": None,
    }

    # Edit the third event (in time order) inside the lake's Parquet file.
    part = next((case / "lake" / "audit_events").rglob("*.parquet"))
    table = pq.read_table(part)
    raws = table.column("raw").to_pylist()
    raws[2] = raws[2].replace('"u-3"', '"u-33"')
    table = table.set_column(table.schema.get_field_index("raw"), "raw", pa.array(raws))
    pq.write_table(table, part)

    code, out, _ = run("chain", "verify", case, "--json")
    assert code == 1
    result = json.loads(out)
    assert (result["valid"], result["first_bad"], result["problem"]) == (False, 2, "modified")


def test_export_and_verify_chain_file(tmp_path, audit_file):
    case = tmp_path / "case"
    run("ingest", case, audit_file)
    exported = tmp_path / "chain.ndjson"
    code, _, _ = run("chain", "export", case, exported)
    assert code == 0
    code, out, _ = run("chain", "verify", exported, "--json")
    assert code == 0
    assert json.loads(out)["records"] == 5

    lines = exported.read_text().splitlines()
    del lines[1]
    exported.write_text("\n".join(lines) + "\n")
    code, out, _ = run("chain", "verify", exported, "--json")
    assert code == 1
    assert (json.loads(out)["first_bad"], json.loads(out)["problem"]) == (1, "deleted")


def test_seed_mode_reads_service_chains(tmp_path):
    """A chain written with the plain sha256(prev + json.dumps(sort_keys=True)) pattern."""
    previous = "0" * 64
    lines = []
    for number in range(4):
        event = {"n": number, "user": "ünï", "ratio": 0.1 * number, "ok": number % 2 == 0}
        text = json.dumps(event, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256((previous + text).encode()).hexdigest()
        lines.append(json.dumps({**event, "prev_hash": previous, "hash": digest}))
        previous = digest
    path = write_lines(tmp_path / "service-chain.ndjson", lines)
    code, out, _ = run("chain", "verify", path, "--mode", "seed", "--json")
    assert code == 0
    assert json.loads(out)["valid"] is True
    code, out, _ = run("chain", "verify", path, "--json")
    assert code == 1


def test_demo_names_the_attack(tmp_path):
    code, out, _ = run("demo", "--case", tmp_path / "demo", "--json")
    assert code == 0
    summary = json.loads(out)
    truth = json.loads((REPO / "sample_data" / "ground_truth.json").read_text())
    assert summary["suspect_actor"] == truth["takeover"]["actor_id"]
    assert summary["token_id"] == truth["token"]["token_id"]
    assert summary["blast_radius"]["actors"] == [truth["takeover"]["actor_id"]]
    assert summary["blast_radius"]["export_traces"] == truth["exports"]["count"]
    assert summary["chain"]["valid"] is True
    assert summary["quarantined"] == 0
    alerts = summary["alerts"]
    spray_ips = {alert["client_ip"] for alert in alerts if alert["detection"] == "password_spray"}
    assert spray_ips == set(truth["spray"]["ips"])
    travel = [alert for alert in alerts if alert["detection"] == "impossible_travel"]
    assert travel and all(alert["actor_id"] == truth["takeover"]["actor_id"] for alert in travel)
    assert any(alert["detection"] == "export_spike" for alert in alerts)
    named = {alert["actor_id"] for alert in alerts if alert["actor_id"]}
    assert named <= set(truth["actors"])
    report = Path(summary["report"]).read_text()
    assert truth["takeover"]["actor_id"] in report
    charts = [Path(path) for path in summary["charts"]]
    assert sorted(path.suffix for path in charts) == [".png", ".png", ".svg", ".svg"]
    for chart in charts:
        assert chart.stat().st_size > 1000
        assert f"]({chart.name})" in report


def test_demo_refuses_to_delete_other_folders(tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    code, _, err = run("demo", "--case", folder)
    assert code == 2
    assert "not a secobs case" in err
    assert (folder / "notes.txt").exists()


def test_terminal_controls_are_escaped(tmp_path):
    hostile = "u-\x1b]0;owned\x07-\x9b31m"
    path = write_lines(tmp_path / "a.ndjson", [audit_line(1, actor={"id": hostile})])
    run("ingest", tmp_path / "case", path)
    for fmt in ("table", "csv"):
        code, out, _ = run(
            "sql", tmp_path / "case", "SELECT actor_id FROM audit_events", "--format", fmt
        )
        assert code == 0
        for control in ("\x1b", "\x07", "\x9b"):
            assert control not in out
        assert "\\x1b]0;owned\\x07" in out
    code, out, _ = run(
        "sql", tmp_path / "case", "SELECT actor_id FROM audit_events", "--format", "json"
    )
    assert json.loads(out) == [{"actor_id": hostile}]


def test_json_errors_are_json(tmp_path):
    empty = tmp_path / "not-a-case"
    empty.mkdir()
    code, out, err = run("chain", "seal", empty, "--json")
    assert code == 2
    assert "not a secobs case" in json.loads(out)["error"]
    assert "not a secobs case" in err


def test_missing_files_create_no_case(tmp_path):
    code, _, err = run("ingest", tmp_path / "case", tmp_path / "missing.ndjson")
    assert code == 2
    assert "no readable file" in err
    assert not (tmp_path / "case").exists()


def test_unreadable_bytes_do_not_stop_a_folder(tmp_path, audit_file):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a-mac.csv").write_bytes(b"ts,request_id,latency_ms\r2024-01-01T00:00:00Z,r1,5\r")
    (folder / "b-random.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "c-audit.ndjson").write_bytes(audit_file.read_bytes())
    code, out, _ = run("ingest", tmp_path / "case", folder, "--json")
    assert code == 2
    files = {Path(item["path"]).name: item for item in json.loads(out)["files"]}
    assert files["a-mac.csv"]["status"] == "loaded"
    assert files["b-random.bin"]["status"] == "failed"
    assert "binary bytes 00 01 02" in files["b-random.bin"]["error"]
    assert files["c-audit.ndjson"]["loaded"] == 5


def test_query_over_missing_view_says_what_to_run(tmp_path, audit_file):
    run("ingest", tmp_path / "case", audit_file)
    code, _, err = run("query", tmp_path / "case", "impossible_travel")
    assert code == 2
    assert "run `secobs detect CASE` first" in err
