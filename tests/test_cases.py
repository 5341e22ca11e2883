"""Known pitfalls of real telemetry, reproduced from small case files.

Each test fixes a whole kind of fault: time zones, mixed precision, all-null columns,
64-bit integers, id spellings and span kinds. Formats that need other readers (Jaeger,
Zipkin, access logs) are covered where those readers are tested.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from secobs import ids
from secobs.case import Case
from secobs.ingest import ingest
from secobs.timeutil import parse_timestamp

from .conftest import write_lines


def as_audit(record: dict, **mapping: str) -> dict:
    """Wrap a case record into an audit.v1 event; mapping gives audit field -> case key."""
    event = {"schema": "audit.v1", "ts": record.get("ts", "2024-01-01T00:00:00Z")}
    event["event"] = record.get(mapping.get("event", "action"), "case.event")
    event["actor"] = {"id": record.get(mapping.get("actor", "actor"))}
    event["request"] = {"request_id": record.get("event_id")}
    if "signals" in mapping:
        event["security"] = {"signals": record.get(mapping["signals"]), "mfa": record.get("mfa")}
    return event


def test_offsets_are_applied_in_any_session_time_zone(tmp_path, case_inputs):
    records = [json.loads(line) for line in (case_inputs / "C01_tz_offsets.ndjson").open()]
    path = write_lines(tmp_path / "c01.ndjson", [json.dumps(as_audit(r)) for r in records])
    ingest(tmp_path / "case", [path])
    con = Case.open(tmp_path / "case").connect()
    expected_utc = {
        "e1": datetime(2024, 3, 10, 12, 38, tzinfo=UTC),
        "e2": datetime(2024, 3, 10, 12, 40, tzinfo=UTC),
        "e3": datetime(2024, 3, 10, 12, 39, tzinfo=UTC),
        "e4": datetime(2024, 3, 10, 12, 41, 30, 250000, tzinfo=UTC),
    }
    for zone in ("UTC", "Asia/Kolkata"):
        con.execute(f"SET TimeZone = '{zone}'")
        rows = con.execute(
            "SELECT request_id, ts FROM audit_events ORDER BY ts, request_id"
        ).fetchall()
        assert [row[0] for row in rows] == ["e1", "e3", "e2", "e4"]
        assert {row[0]: row[1].astimezone(UTC) for row in rows} == expected_utc

    files = list((tmp_path / "case" / "lake" / "audit_events").rglob("*.parquet"))
    ts_type = pq.read_schema(files[0]).field("ts").type
    assert ts_type.tz == "UTC"  # written as isAdjustedToUTC=true
    metadata = pq.ParquetFile(files[0]).schema.column(0).logical_type.to_json()
    assert json.loads(metadata)["isAdjustedToUTC"] is True


def test_mixed_timestamp_precision(case_inputs):
    records = [json.loads(line) for line in (case_inputs / "C02_mixed_ts_formats.ndjson").open()]
    spans = {
        record["request_id"]: parse_timestamp(record["end"]) - parse_timestamp(record["start"])
        for record in records
    }
    assert spans == {
        "r1": timedelta(milliseconds=250),
        "r2": timedelta(milliseconds=500),
        "r3": timedelta(microseconds=876544),
    }
    assert parse_timestamp("2024-05-19 00:00:00").tzinfo == UTC


def test_mixed_precision_in_one_csv_column(tmp_path, case_inputs):
    records = [json.loads(line) for line in (case_inputs / "C02_mixed_ts_formats.ndjson").open()]
    lines = ["ts,request_id,latency_ms"] + [f"{r['start']},{r['request_id']},1" for r in records]
    result = ingest(tmp_path / "case", [write_lines(tmp_path / "c02.csv", lines)])
    assert result.files[0].loaded == 3
    assert result.files[0].quarantined == 0


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_all_null_file_and_typed_file_union(tmp_path, case_inputs, order):
    paths = []
    for suffix in order:
        source = case_inputs / f"C03{suffix}_{'all_null' if suffix == 'a' else 'typed'}.ndjson"
        records = [json.loads(line) for line in source.open()]
        events = [
            json.dumps(as_audit(r, event="event_id", actor="user_id", signals="tags"))
            for r in records
        ]
        paths.append(write_lines(tmp_path / f"c03{suffix}.ndjson", events))
    for path in paths:  # one ingest per file, so each file becomes its own Parquet file
        ingest(tmp_path / "case", [path])
    con = Case.open(tmp_path / "case").connect()
    rows = con.execute(
        "SELECT request_id, actor_id, signals, mfa FROM audit_events ORDER BY request_id"
    ).fetchall()
    assert rows == [("a1", None, [], None), ("a2", None, [], None), ("b1", "u-17", ["admin"], True)]
    types = dict(
        con.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet($glob))",
            {"glob": str(tmp_path / "case" / "lake" / "audit_events" / "**" / "*.parquet")},
        ).fetchall()
    )
    assert types["actor_id"] == "VARCHAR"
    assert types["signals"] == "VARCHAR[]"
    assert types["mfa"] == "BOOLEAN"


def test_otlp_int64_encodings_are_exact(tmp_path, case_inputs):
    ingest(tmp_path / "case", [case_inputs / "C04_otlp_int64_encodings.json"])
    con = Case.open(tmp_path / "case").connect()
    rows = con.execute(
        "SELECT name, start_ns, end_ns, end_ns - start_ns, attributes FROM spans ORDER BY name"
    ).fetchall()
    by_name = {row[0][0]: row[1:] for row in rows}
    assert by_name["P"][:3] == (1718000000123456789, 1718000000623456789, 500_000_000)
    assert by_name["Q"][:3] == (1718000000223456789, 1718000000423456789, 200_000_000)
    high, low = 400003045, -570383616
    assert by_name["R"][0] == high * 2**32 + (low % 2**32) == 1718000000300000000
    assert by_name["R"][2] == 50_000_000
    attributes = json.loads(by_name["P"][3])
    assert attributes == {"http.response.status_code": 503, "retry.count": 2, "queue.ratio": 0.25}
    assert con.execute("SELECT http_status_code FROM spans WHERE name LIKE 'P%'").fetchone() == (
        503,
    )


def test_trace_id_spellings_become_canonical(tmp_path, case_inputs):
    ingest(
        tmp_path / "case",
        [case_inputs / "C05_otlp_hex_upper.json", case_inputs / "C05_otlp_base64.json"],
    )
    con = Case.open(tmp_path / "case").connect()
    rows = con.execute(
        "SELECT trace_id, span_id, parent_span_id FROM spans ORDER BY span_id"
    ).fetchall()
    assert rows == [
        ("7d3e1c0a9b2f48e6a1c5d0f3e2b49a17", "00c4e2a9f81b7d36", "1f2e3d4c5b6a7980"),
        ("7d3e1c0a9b2f48e6a1c5d0f3e2b49a17", "1f2e3d4c5b6a7980", None),
    ]


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("c4f2a9e81b7d365", "00000000000000000c4f2a9e81b7d365"),
        ("7D3E1C0A9B2F48E6A1C5D0F3E2B49A17", "7d3e1c0a9b2f48e6a1c5d0f3e2b49a17"),
        ("fT4cCpsvSOahxdDz4rSaFw==", "7d3e1c0a9b2f48e6a1c5d0f3e2b49a17"),
    ],
)
def test_trace_id_rule(value, canonical):
    assert ids.trace_id(value) == canonical


def test_span_id_rule():
    assert ids.span_id("5a9c3e1d7b2f480") == "05a9c3e1d7b2f480"
    assert ids.span_id("AMTiqfgbfTY=") == "00c4e2a9f81b7d36"
    assert ids.span_id("Hy49TFtqeYA=") == "1f2e3d4c5b6a7980"
    assert ids.parent_span_id("") is None
    assert ids.parent_span_id("0000000000000000") is None
    for bad in ("xyz", "AAAA=", "0" * 17, "fT4cCpsvSOahxdDz4rSaFw=="):
        with pytest.raises(ValueError):
            ids.span_id(bad)


def test_bad_span_id_is_quarantined_not_joined(tmp_path):
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "zz",
                                "spanId": "00c4e2a9f81b7d36",
                                "startTimeUnixNano": "1",
                            },
                            {"traceId": "ab" * 16, "spanId": "01", "startTimeUnixNano": "1"},
                        ]
                    }
                ],
            }
        ]
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = ingest(tmp_path / "case", [path])
    assert (result.files[0].loaded, result.files[0].quarantined) == (1, 1)
    con = Case.open(tmp_path / "case").connect()
    reason = con.execute("SELECT reason FROM quarantine").fetchone()[0]
    assert reason.startswith("line 1, resourceSpans[0].scopeSpans[0].spans[0]: invalid trace id")


def test_otlp_span_kinds_use_proto_numbers(tmp_path, case_inputs):
    ingest(tmp_path / "case", [case_inputs / "C06_span_kind_encodings.json"])
    con = Case.open(tmp_path / "case").connect()
    kinds = dict(con.execute("SELECT name, kind FROM spans").fetchall())
    assert kinds == {
        "k-int-2": "SERVER",
        "k-name-server": "SERVER",
        "k-absent": "UNSPECIFIED",
        "k-int-3": "CLIENT",
        "k-unknown-9": "UNSPECIFIED",
    }


def test_views_work_from_another_duckdb_client(tmp_path, case_inputs):
    """The lake is plain Parquet: a bare DuckDB connection reads it without secobs."""
    ingest(tmp_path / "case", [case_inputs / "C06_span_kind_encodings.json"])
    glob = str(Path(tmp_path / "case" / "lake" / "spans" / "**" / "*.parquet"))
    count = (
        duckdb.connect().execute("SELECT count(*) FROM read_parquet($g)", {"g": glob}).fetchone()
    )
    assert count == (5,)
