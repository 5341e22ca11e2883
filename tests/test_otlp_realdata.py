"""Real OTLP/JSON trace files load with exact ids, parents and nanosecond durations.

Expected values are computed here by walking the JSON with the standard library, separately
from the reader under test, and a few are also written out as read from the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secobs.case import Case
from secobs.ingest import ingest

OTLP_TRACE_FILES = [
    "otel-proto-example-trace.json",
    "otel-proto-example-trace.at-ca6170e-numeric-nanos.json",
    "jaeger-otlp2jaeger-in.json",
    "jaeger-integration-example_trace.json",
]


def spans_in_file(path: Path) -> list[dict]:
    """Return each span of an OTLP/JSON document with its service name."""
    document = json.loads(path.read_text())
    spans = []
    for resource_spans in document["resourceSpans"]:
        service = next(
            attribute["value"]["stringValue"]
            for attribute in resource_spans["resource"]["attributes"]
            if attribute["key"] == "service.name"
        )
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                spans.append({**span, "service": service})
    return spans


def load(tmp_path: Path, path: Path):
    result = ingest(tmp_path / "case", [path])
    con = Case.open(tmp_path / "case").connect()
    rows = con.execute(
        "SELECT trace_id, span_id, parent_span_id, service, kind, start_ns, end_ns, duration_ms, "
        "epoch_ns(start_ts) AS start_ts_ns FROM spans ORDER BY source_record"
    ).fetchall()
    return result, rows


@pytest.mark.parametrize("name", OTLP_TRACE_FILES)
def test_otlp_file_loads_every_unique_span(tmp_path, realdata, name):
    path = realdata / "otlp" / name
    expected = spans_in_file(path)
    unique = {(span["traceId"].lower(), span["spanId"].lower()) for span in expected}
    result, rows = load(tmp_path, path)

    assert result.files[0].records_in == len(expected)
    assert len(rows) == len(unique)
    assert result.files[0].quarantined == len(expected) - len(unique)
    for trace_id, span_id, parent, service, _kind, start_ns, end_ns, duration_ms, _ in rows:
        source = next(
            span
            for span in expected
            if span["traceId"].lower() == trace_id and span["spanId"].lower() == span_id
        )
        assert trace_id == source["traceId"].lower() and len(trace_id) == 32
        assert span_id == source["spanId"].lower() and len(span_id) == 16
        assert parent == (source.get("parentSpanId") or "").lower() or (
            parent is None and not source.get("parentSpanId")
        )
        assert service == source["service"]
        assert start_ns == int(source["startTimeUnixNano"])
        assert end_ns == int(source["endTimeUnixNano"])
        assert (
            duration_ms == (int(source["endTimeUnixNano"]) - int(source["startTimeUnixNano"])) / 1e6
        )


def test_uppercase_ids_become_lower_case(tmp_path, realdata):
    _, rows = load(tmp_path, realdata / "otlp" / "otel-proto-example-trace.json")
    assert rows == [
        (
            "5b8efff798038103d269b633813fc60c",
            "eee19b7ec3c1b174",
            "eee19b7ec3c1b173",
            "my.service",
            "SERVER",
            1544712660000000000,
            1544712661000000000,
            1000.0,
            1544712660000000000,
        )
    ]


def test_numeric_nanos_are_exact(tmp_path, realdata):
    # 1544712660000000000 is above 2**53, so a float round trip could change it.
    _, rows = load(
        tmp_path, realdata / "otlp" / "otel-proto-example-trace.at-ca6170e-numeric-nanos.json"
    )
    assert rows[0][5] == 1544712660000000000
    assert rows[0][6] == 1544712661000000000


def test_duplicate_span_is_quarantined_not_lost(tmp_path, realdata):
    result, rows = load(tmp_path, realdata / "otlp" / "jaeger-otlp2jaeger-in.json")
    assert [row[:3] for row in rows] == [
        ("83a9efd15c1c98a977e0711cc93ee28b", "e127af99e3b3e074", "909541b92cf05311")
    ]
    assert rows[0][7] == 0.123
    assert result.files[0].records_in == 2
    assert result.files[0].loaded == 1
    con = Case.open(tmp_path / "case").connect()
    reasons = con.execute("SELECT source_record, reason FROM quarantine").fetchall()
    assert reasons == [(2, "duplicate of record 1: same trace_id, span_id and content")]


def test_zero_padded_trace_has_five_root_spans(tmp_path, realdata):
    _, rows = load(tmp_path, realdata / "otlp" / "jaeger-integration-example_trace.json")
    assert {row[0] for row in rows} == {"00000000000000000000000000000011"}
    assert sorted(row[1] for row in rows) == [f"{n:016x}" for n in (3, 4, 5, 6, 7)]
    assert all(row[2] is None for row in rows)
    assert all(row[7] == 0.1 for row in rows)
    assert sorted(row[4] for row in rows) == ["CLIENT", "SERVER"] + ["UNSPECIFIED"] * 3


def test_otlp_logs_are_rejected_with_a_reason(tmp_path, realdata):
    result = ingest(
        tmp_path / "case", [realdata / "otlp" / "lnav-logfile_otel_collector-logs.jsonl"]
    )
    assert result.files[0].status == "failed"
    assert "resourceLogs are not supported" in result.files[0].error
