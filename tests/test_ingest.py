"""Ingest: quarantine with reasons, manifest counts, idempotence, atomic publish."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from secobs.case import Case
from secobs.errors import CaseError
from secobs.ingest import ingest
from secobs.ingest import writer as writer_module

from .conftest import write_lines


def event(number: int, **overrides) -> dict:
    body = {
        "schema": "audit.v1",
        "ts": f"2026-02-23T10:{number:02d}:00Z",
        "service": "auth",
        "event": "auth.login",
        "result": "success",
        "request": {"request_id": f"req-{number}", "trace_id": "AB" * 16, "span_id": "cd" * 8},
        "actor": {"type": "user", "id": f"u-{number}", "tenant_id": "acme", "roles": ["member"]},
        "client": {"ip": "198.51.100.4", "ua": "agent", "geo": {"country": "DE"}},
        "security": {"auth_method": "password", "mfa": True, "risk_score": 5, "signals": []},
    }
    body.update(overrides)
    return body


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    """Ten lines: six good, four bad in different ways, and one blank line."""
    security_text_score = event(3)
    security_text_score["security"]["risk_score"] = "high"
    bad_trace = event(6)
    bad_trace["request"]["trace_id"] = "not-a-trace"
    lines = [
        json.dumps(event(1)),
        '{"schema":"audit.v1","ts":"2026-02-23T10:02:00Z", "event": ',  # cut off
        json.dumps(security_text_score),
        json.dumps(event(4)),
        "",
        json.dumps(event(5, ts="yesterday")),
        json.dumps(bad_trace),
        json.dumps(event(7)),
        json.dumps(event(8)),
        "[1, 2, 3]",
        json.dumps(event(9)),
    ]
    return write_lines(tmp_path / "mixed.ndjson", lines)


def test_good_records_load_and_bad_ones_are_quarantined(tmp_path, mixed_file):
    result = ingest(tmp_path / "case", [mixed_file])
    file_result = result.files[0]
    assert file_result.format == "audit.v1"
    assert file_result.loaded == 5
    assert file_result.quarantined == 5
    assert file_result.records_in == file_result.loaded + file_result.quarantined

    con = Case.open(tmp_path / "case").connect()
    loaded = con.execute("SELECT actor_id FROM audit_events ORDER BY ts").fetchall()
    assert [row[0] for row in loaded] == ["u-1", "u-4", "u-7", "u-8", "u-9"]
    reasons = dict(con.execute("SELECT source_record, reason FROM quarantine").fetchall())
    assert sorted(reasons) == [2, 3, 6, 7, 10]
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "security.risk_score: expected a number from 0 to 100, got a string"
    assert reasons[6].startswith("ts: invalid timestamp")
    assert reasons[7].startswith("request: invalid trace id")
    assert reasons[10] == "expected a JSON object, got an array"
    source_files = {row[0] for row in con.execute("SELECT source_file FROM quarantine").fetchall()}
    assert source_files == {str(mixed_file.resolve())}


def test_manifest_counts_reconcile(tmp_path, mixed_file):
    ingest(tmp_path / "case", [mixed_file])
    con = Case.open(tmp_path / "case").connect()
    row = con.execute(
        "SELECT records_in, loaded, quarantined, format, sha256, size FROM manifest"
    ).fetchone()
    assert row[0] == row[1] + row[2] == 10
    assert row[3] == "audit.v1"
    assert len(row[4]) == 64
    assert row[5] == mixed_file.stat().st_size
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == row[2]
    assert con.execute("SELECT count(*) FROM audit_events").fetchone()[0] == row[1]


def test_reingest_adds_nothing(tmp_path, mixed_file):
    ingest(tmp_path / "case", [mixed_file])
    copy = tmp_path / "copy-of-mixed.ndjson"
    copy.write_bytes(mixed_file.read_bytes())
    again = ingest(tmp_path / "case", [mixed_file, copy])
    assert [item.status for item in again.files] == ["already_ingested", "already_ingested"]
    assert again.loaded["audit_events"] == 0
    con = Case.open(tmp_path / "case").connect()
    assert con.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 5
    assert con.execute("SELECT count(*) FROM manifest").fetchone()[0] == 1


def test_typed_columns_and_utc(tmp_path):
    path = write_lines(
        tmp_path / "a.ndjson", [json.dumps(event(1, ts="2026-02-23T12:00:00+02:00"))]
    )
    ingest(tmp_path / "case", [path])
    con = Case.open(tmp_path / "case").connect()
    row = con.execute(
        "SELECT strftime(ts, '%Y-%m-%dT%H:%M:%S'), trace_id, span_id, roles, mfa, risk_score "
        "FROM audit_events"
    ).fetchone()
    assert row == ("2026-02-23T10:00:00", "ab" * 16, "cd" * 8, ["member"], True, 5)


def test_lake_files_carry_declared_schema(tmp_path):
    path = write_lines(
        tmp_path / "a.ndjson", [json.dumps({"ts": "2026-02-23T10:00:00Z", "event": "x"})]
    )
    ingest(tmp_path / "case", [path])
    files = list((tmp_path / "case" / "lake" / "audit_events").rglob("*.parquet"))
    assert [file.parent.name for file in files] == ["day=2026-02-23"]
    schema = pq.read_schema(files[0])
    assert str(schema.field("roles").type) == "list<element: string>"
    assert str(schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("mfa").type) == "bool"


def test_interrupted_ingest_leaves_nothing_and_next_run_completes(
    tmp_path, mixed_file, monkeypatch
):
    def crash(self, manifest_row):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module.LakeWriter, "publish", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(tmp_path / "case", [mixed_file])
    monkeypatch.undo()
    assert list((tmp_path / "case" / "lake").rglob("*.parquet")) == []
    result = ingest(tmp_path / "case", [mixed_file])
    assert result.files[0].status == "loaded"
    assert result.files[0].loaded == 5


def test_interrupted_publish_is_cleaned_on_next_run(tmp_path, mixed_file, monkeypatch):
    original = writer_module.write_atomically

    def crash_before_manifest(table, path):
        if path.parent.name == "manifest":
            raise KeyboardInterrupt
        return original(table, path)

    monkeypatch.setattr(writer_module, "write_atomically", crash_before_manifest)
    with pytest.raises(KeyboardInterrupt):
        ingest(tmp_path / "case", [mixed_file])
    monkeypatch.undo()
    result = ingest(tmp_path / "case", [mixed_file])
    assert result.files[0].loaded == 5
    con = Case.open(tmp_path / "case").connect()
    assert con.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 5
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 5


def test_unreadable_file_does_not_stop_the_others(tmp_path, mixed_file):
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello\n")
    result = ingest(tmp_path / "case", [unknown, tmp_path / "missing.ndjson", mixed_file])
    assert [item.status for item in result.files] == ["failed", "failed", "loaded"]
    assert "unrecognised format" in result.files[0].error
    assert "notes.txt" in result.files[0].error
    assert "file not found" in result.files[1].error
    assert result.loaded["audit_events"] == 5


def test_csv_header_without_required_column_fails_whole_file(tmp_path):
    path = write_lines(tmp_path / "r.csv", ["request_id,latency_ms", "r1,5"])
    result = ingest(tmp_path / "case", [path], format="requests-csv")
    assert result.files[0].status == "failed"
    assert "lacks required column(s) ts" in result.files[0].error


def test_request_csv_bad_rows_are_quarantined(tmp_path):
    path = write_lines(
        tmp_path / "r.csv",
        [
            "ts,request_id,route,status_code,latency_ms,user_agent",
            '2026-02-23T10:00:00Z,r1,/v1/a,200,12.5,"Mozilla/5.0 (X11, Linux)"',
            "2026-02-23T10:00:01Z,r2,/v1/a,OK,12.5,ua",
            "2026-02-23T10:00:02Z,r3,/v1/a,200,-4,ua",
            "2026-02-23T10:00:03Z,r4,/v1/a,200",
            "2026-02-23 10:00:04.5,r5,/v1/a,503,1e3,ua",
        ],
    )
    result = ingest(tmp_path / "case", [path])
    assert result.files[0].format == "requests-csv"
    assert (result.files[0].loaded, result.files[0].quarantined) == (2, 3)
    con = Case.open(tmp_path / "case").connect()
    rows = con.execute(
        "SELECT request_id, status_code, latency_ms, user_agent FROM request_metrics ORDER BY ts"
    ).fetchall()
    assert rows == [("r1", 200, 12.5, "Mozilla/5.0 (X11, Linux)"), ("r5", 503, 1000.0, "ua")]
    reasons = dict(con.execute("SELECT source_record, reason FROM quarantine").fetchall())
    assert reasons == {
        3: "column status_code: expected a whole number, got 'OK'",
        4: "column latency_ms: expected a duration of 0 or more, got -4.0",
        5: "expected 6 fields, got 4",
    }


def test_open_missing_case_names_the_fix(tmp_path):
    with pytest.raises(CaseError, match="secobs ingest"):
        Case.open(tmp_path / "nothing")


def test_case_from_an_older_schema_still_opens(tmp_path, monkeypatch):
    """A column added to the schema later reads as NULL from files written before it."""
    import pyarrow as pa

    from secobs import tables

    path = write_lines(tmp_path / "a.ndjson", [json.dumps(event(1))])
    older = pa.schema([field for field in tables.AUDIT_EVENTS if field.name != "geo_city"])
    monkeypatch.setitem(tables.CANONICAL, "audit_events", (older, "ts"))
    ingest(tmp_path / "case", [path])
    monkeypatch.undo()
    con = Case.open(tmp_path / "case").connect()
    assert con.execute("SELECT actor_id, geo_city FROM audit_events").fetchall() == [("u-1", None)]


def test_client_addresses_are_normalised(tmp_path):
    lines = [
        json.dumps(event(1, client={"ip": "::ffff:8.8.8.8"})),
        json.dumps(event(2, client={"ip": "2001:DB8:0::1"})),
        json.dumps(event(3, client={"ip": "not-an-ip"})),
        json.dumps(event(4, client={"ip": "198.51.100.4"})),
    ]
    ingest(tmp_path / "case", [write_lines(tmp_path / "a.ndjson", lines)])
    con = Case.open(tmp_path / "case").connect()
    rows = con.execute(
        "SELECT client_ip, source_host, source_kind FROM audit_events ORDER BY ts"
    ).fetchall()
    assert rows == [
        ("8.8.8.8", None, "ip"),
        ("2001:db8::1", None, "ip"),
        (None, "not-an-ip", "invalid"),
        ("198.51.100.4", None, "ip"),
    ]


def test_request_addresses_are_normalised(tmp_path):
    path = write_lines(
        tmp_path / "r.csv",
        [
            "ts,request_id,client_ip,latency_ms",
            "2026-02-23T10:00:00Z,r1,::FFFF:1.1.1.1,5",
            "2026-02-23T10:00:01Z,r2,-,5",
            "2026-02-23T10:00:02Z,r3,gateway.internal,5",
        ],
    )
    ingest(tmp_path / "case", [path])
    con = Case.open(tmp_path / "case").connect()
    rows = con.execute(
        "SELECT request_id, client_ip, client_ip_raw FROM request_metrics ORDER BY ts"
    ).fetchall()
    assert rows == [("r1", "1.1.1.1", None), ("r2", None, None), ("r3", None, "gateway.internal")]
