"""Loading pitfalls of real telemetry, as small cases, for the cloud, trace and access formats.

Each test fixes a whole kind of fault: every id spelling, every userIdentity shape, every
non-IP source, every upstream list form. Expected values are written out from the inputs.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from secobs.case import Case
from secobs.cli import main
from secobs.ingest import ingest
from secobs.ingest.accesslogs import upstream_final_status, upstream_times
from secobs.ingest.auditmap import classify_source
from secobs.queries import get_query


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def query(case: Path, sql: str, params: list | None = None) -> list[tuple]:
    return Case.open(case).connect().execute(sql, params or []).fetchall()


def test_c05_jaeger_64bit_and_access_log_join(tmp_path, case_inputs):
    case = tmp_path / "case"
    files = [
        case_inputs / name
        for name in (
            "C05_otlp_hex_upper.json",
            "C05_otlp_base64.json",
            "C05_jaeger_64bit_stripped.json",
            "C05_access_log.csv",
        )
    ]
    result = ingest(case, files)
    assert [item.format for item in result.files] == ["otlp-json", "otlp-json", "jaeger", "csv"]
    assert query(case, "SELECT trace_id, span_id FROM spans WHERE service = 'payments'") == [
        ("00000000000000000c4f2a9e81b7d365", "05a9c3e1d7b2f480")
    ]
    joined = query(
        case,
        "SELECT r.request_id, list(s.service ORDER BY s.start_ns) FROM request_metrics r "
        "JOIN spans s USING (trace_id) GROUP BY r.request_id ORDER BY r.request_id",
    )
    assert joined == [("req-7001", ["api-gw", "orders"]), ("req-7002", ["payments"])]


def test_c05_jaeger_start_and_kind(tmp_path, case_inputs):
    ingest(tmp_path / "case", [case_inputs / "C05_jaeger_64bit_stripped.json"])
    rows = query(tmp_path / "case", "SELECT kind, start_ns, end_ns, name FROM spans")
    assert rows == [("SERVER", 1718000100000000000, 1718000100250000000, "POST /pay")]


def test_c06_zipkin_kinds_and_times(tmp_path, case_inputs):
    ingest(tmp_path / "case", [case_inputs / "C06_zipkin_v2.json"])
    rows = query(
        tmp_path / "case",
        "SELECT span_id, kind, start_ns, end_ns - start_ns, parent_span_id FROM spans "
        "ORDER BY span_id",
    )
    assert rows == [
        ("bb00000000000001", "SERVER", 1718000000000000000, 1_500_000, None),
        ("bb00000000000002", "CLIENT", 1718000000000200000, 300_000, "bb00000000000001"),
        ("bb00000000000003", "INTERNAL", 1718000000000600000, 100_000, "bb00000000000001"),
    ]


def test_zipkin_shared_span_blast_radius_ends(tmp_path, realdata):
    path = realdata / "zipkin" / "zipkin-lens-testdata-skew.json"
    ingest(tmp_path / "case", [path])
    con = Case.open(tmp_path / "case").connect()
    cursor = get_query("blast_radius").run(con, trace_id="00000000000000001e223ff1f80f1c69")
    rows = [
        dict(zip([c[0] for c in cursor.description], row, strict=True)) for row in cursor.fetchall()
    ]
    span_ids = {row["span_id"] for row in rows}
    assert span_ids == {"43210ae0c10d1234", "74280ae0c10d8062", "bf396325699c84bf"}
    assert len(rows) == 4  # both halves of the shared span 74280ae0c10d8062


def test_c09_source_ip_that_is_a_service(tmp_path, case_inputs):
    ingest(tmp_path / "case", [case_inputs / "C09_cloudtrail_source_ip_variants.json"])
    rows = query(
        tmp_path / "case",
        "SELECT event_id, client_ip, source_host, source_kind FROM audit_events ORDER BY event_id",
    )
    assert rows == [
        ("c09-1", None, "AWS Internal", "aws_internal"),
        ("c09-2", None, "support.amazonaws.com", "aws_service"),
        ("c09-3", "8.8.8.8", None, "ip"),
        ("c09-4", "2001:4860:4860::8888", None, "ip"),
        ("c09-5", None, "cloudformation.amazonaws.com", "aws_service"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AWS Internal", (None, "AWS Internal", "aws_internal")),
        ("ec2.amazonaws.com", (None, "ec2.amazonaws.com", "aws_service")),
        ("gce-internal-ip", (None, "gce-internal-ip", "invalid")),
        ("null", (None, None, None)),
        ("-", (None, None, None)),
        ("::ffff:8.8.8.8", ("8.8.8.8", None, "ip")),
        ("[2001:db8::1]:443", ("2001:db8::1", None, "ip")),
    ],
)
def test_source_classification(value, expected):
    assert classify_source(value) == expected


def test_c10_user_identity_shapes(tmp_path, case_inputs):
    ingest(tmp_path / "case", [case_inputs / "C10_cloudtrail_useridentity_variants.json"])
    rows = query(
        tmp_path / "case",
        "SELECT event_id, actor_id, actor_type, actor_role, actor_account, target_account "
        "FROM audit_events ORDER BY event_id",
    )
    assert rows == [
        ("c10-1", "analyst-01", "IAMUser", None, "111122223333", None),
        ("c10-2", "dev-session-01", "AssumedRole", "Administrators", "111122223333", None),
        ("c10-3", "ec2.amazonaws.com", "AWSService", None, None, None),
        ("c10-4", "root", "Root", None, "111122223333", None),
        (
            "c10-5",
            "a1b2c3d4-0000-4000-8000-00000000c105",
            "IdentityCenterUser",
            None,
            "111122223333",
            None,
        ),
        (
            "c10-6",
            "i-0123456789abcdef0",
            "AssumedRole",
            "CrossAcctReader",
            "444455556666",
            "111122223333",
        ),
    ]


def test_c10_missing_identity(tmp_path):
    path = tmp_path / "trail.json"
    path.write_text(
        json.dumps(
            {
                "Records": [
                    {
                        "eventTime": "2024-06-02T09:00:00Z",
                        "eventType": "AwsCloudTrailInsight",
                        "recipientAccountId": "111122223333",
                    }
                ]
            }
        )
    )
    result = ingest(tmp_path / "case", [path], format="cloudtrail")
    assert result.files[0].loaded == 1
    rows = query(
        tmp_path / "case", "SELECT actor_id, actor_type, event, tenant_id FROM audit_events"
    )
    assert rows == [(None, None, "AwsCloudTrailInsight", "111122223333")]


def test_c11_request_parameters_drift(tmp_path, case_inputs):
    ingest(tmp_path / "case", [case_inputs / "C11_cloudtrail_requestparameters_drift.json"])
    rows = query(
        tmp_path / "case",
        "SELECT event_id, json_extract_string(request_parameters, '$.name'), "
        "json_extract_string(request_parameters, '$.limit'), "
        "json_type(request_parameters, '$.tableInput.parameters'), request_parameters "
        "FROM audit_events ORDER BY event_id",
    )
    assert [row[0] for row in rows] == ["c11-1", "c11-2", "c11-3", "c11-4", "c11-5"]
    assert rows[0][3] == "OBJECT"
    assert rows[1][3] == "VARCHAR"
    assert rows[2][1:3] == ("crawler-1", "50")
    assert rows[3][1:3] == ("crawler-2", "50")
    assert rows[4][4] is None


def test_c11_order_does_not_matter(tmp_path, case_inputs):
    records = json.loads((case_inputs / "C11_cloudtrail_requestparameters_drift.json").read_text())
    reversed_file = tmp_path / "reversed.json"
    reversed_file.write_text(json.dumps({"Records": records["Records"][::-1]}))
    result = ingest(tmp_path / "case", [reversed_file])
    assert result.files[0].loaded == 5
    rows = query(
        tmp_path / "case",
        "SELECT json_extract_string(request_parameters, '$.limit') FROM audit_events "
        "WHERE event_id IN ('c11-3', 'c11-4')",
    )
    assert rows == [("50",), ("50",)]


def test_c13_client_ip_normalised(tmp_path, case_inputs):
    table = (case_inputs / "C13_ip_normalization.csv").read_text().splitlines()[1:]
    cases = [line.split(",") for line in table]
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'{raw} - - [01/Jun/2024:10:00:{index:02d} +0000] "GET / HTTP/1.1" 200 1\n'
            for index, (raw, *_) in enumerate(cases)
        )
    )
    result = ingest(tmp_path / "case", [log])
    assert result.files[0].loaded == len(cases) == 15
    rows = query(
        tmp_path / "case", "SELECT client_ip, client_ip_raw FROM request_metrics ORDER BY ts"
    )
    for (raw, expected_ip, scope, _), (client_ip, client_ip_raw) in zip(cases, rows, strict=True):
        assert client_ip == (expected_ip or None), raw
        assert client_ip_raw == (raw if scope == "invalid" else None), raw


def test_c16_nginx_upstream_lists(tmp_path, case_inputs):
    result = ingest(tmp_path / "case", [case_inputs / "C16_nginx_upstream.log"])
    assert (result.files[0].loaded, result.files[0].quarantined) == (5, 0)
    rows = query(
        tmp_path / "case",
        "SELECT request_id, upstream_time_ms, upstream_attempts, upstream_status, ts "
        "FROM request_metrics ORDER BY request_id",
    )
    expected = [
        ("req-0001", 16.0, 2, 200, "2024-06-01T10:00:00Z"),
        ("req-0002", None, 0, None, "2024-06-01T10:00:01Z"),
        ("req-0003", 2999.0, 2, 504, "2024-06-01T10:00:02Z"),
        ("req-0004", 250.0, 2, 200, "2024-06-01T10:00:03Z"),
        ("req-0005", 9.0, 1, 200, "2024-06-01T10:00:04Z"),
    ]
    for row, (rid, total, attempts, status, ts) in zip(rows, expected, strict=True):
        assert row[0] == rid
        assert row[1] == (pytest.approx(total) if total is not None else None)
        assert row[2:4] == (attempts, status)
        assert row[4] == utc(ts)


@pytest.mark.parametrize(
    ("value", "total", "attempts"),
    [
        ("0.004, 0.012", 16.0, 2),
        ("1.500 : 1.499", 2999.0, 2),
        ("-", None, 0),
        ("-, 0.250", 250.0, 2),
        ("0.001, 0.002 : 0.003", 6.0, 3),
        (None, None, 0),
    ],
)
def test_upstream_time_forms(value, total, attempts):
    measured, count = upstream_times(value)
    assert count == attempts
    assert measured == (pytest.approx(total) if total is not None else None)


def test_upstream_status_last_numeric():
    assert upstream_final_status("502, 200") == 200
    assert upstream_final_status("504 : 504") == 504
    assert upstream_final_status("200, -") == 200
    assert upstream_final_status("-") is None


def test_partly_bad_file_quarantines_with_reasons(tmp_path):
    lines = [
        json.dumps(
            {
                "eventTime": "2024-06-01T11:00:00Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": "ListBuckets",
                "userIdentity": {"type": "Root"},
            }
        ),
        '{"eventTime": "2024-06-01T11:01:00Z", "eventSource": ',
        "[1, 2]",
        json.dumps(
            {
                "eventTime": "2024-06-01T11:02:00Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": "GetObject",
                "userIdentity": {"type": "Root"},
            }
        ),
    ]
    path = tmp_path / "trail.ndjson"
    path.write_text("\n".join(lines) + "\n")
    result = ingest(tmp_path / "case", [path])
    item = result.files[0]
    assert (item.records_in, item.loaded, item.quarantined) == (4, 2, 2)
    rows = query(
        tmp_path / "case",
        "SELECT source_file, source_record, reason FROM quarantine ORDER BY source_record",
    )
    assert [row[1] for row in rows] == [2, 3]
    assert rows[0][0] == str(path.resolve())
    assert "invalid JSON" in rows[0][2]
    assert "expected a JSON object" in rows[1][2]
    manifest = query(tmp_path / "case", "SELECT records_in, loaded, quarantined FROM manifest")
    assert manifest == [(4, 2, 2)]


def test_truncated_document_keeps_good_records(tmp_path):
    records = [
        {
            "eventTime": f"2024-06-01T11:0{i}:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "eventID": f"e{i}",
        }
        for i in range(3)
    ]
    text = json.dumps({"Records": records})
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index('"e2"') + 2])
    result = ingest(tmp_path / "case", [path], format="cloudtrail")
    item = result.files[0]
    assert (item.loaded, item.quarantined) == (2, 1)
    reason = query(tmp_path / "case", "SELECT reason FROM quarantine")[0][0]
    assert "cannot be split into records" in reason


def test_cloudwatch_subscription_envelope(tmp_path):
    event = {
        "eventTime": "2024-06-01T11:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "sourceIPAddress": "8.8.8.8",
        "eventID": "cw-1",
        "userIdentity": {"type": "IAMUser", "userName": "analyst-01"},
    }
    envelopes = [
        {
            "messageType": "DATA_MESSAGE",
            "logGroup": "trail",
            "logEvents": [
                {"id": "1", "timestamp": 1717239600000, "message": json.dumps(event)},
                {
                    "id": "2",
                    "timestamp": 1717239600000,
                    "message": json.dumps({**event, "eventID": "cw-2"}),
                },
            ],
        },
        {
            "messageType": "CONTROL_MESSAGE",
            "logEvents": [
                {
                    "id": "3",
                    "timestamp": 1717239600000,
                    "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
                },
            ],
        },
    ]
    path = tmp_path / "firehose.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(item) for item in envelopes).encode()))
    result = ingest(tmp_path / "case", [path])
    item = result.files[0]
    assert item.format == "cloudtrail"
    assert (item.records_in, item.loaded, item.quarantined) == (3, 2, 1)
    rows = query(tmp_path / "case", "SELECT event_id, actor_id, raw FROM audit_events ORDER BY 1")
    assert [row[:2] for row in rows] == [("cw-1", "analyst-01"), ("cw-2", "analyst-01")]
    assert json.loads(rows[0][2])["eventID"] == "cw-1"


def _trail_event(index: int) -> dict:
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "userName": f"user-{index % 97}",
            "accountId": "111122223333",
            "arn": f"arn:aws:iam::111122223333:user/user-{index % 97}",
        },
        "eventTime": f"2024-06-01T{index // 3600 % 24:02d}:{index // 60 % 60:02d}:"
        f"{index % 60:02d}Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": f"198.51.100.{index % 250}",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
        "requestParameters": {"bucketName": "evidence", "key": f"objects/{index:08d}.json"},
        "responseElements": None,
        "eventID": f"{index:08d}-0000-4000-8000-000000000000",
        "recipientAccountId": "111122223333",
    }


@pytest.mark.parametrize("compressed", [False, True])
def test_large_single_document_streams(tmp_path, compressed):
    count = 60_000
    body = ",".join(json.dumps(_trail_event(index)) for index in range(count))
    data = ('{"Records":[' + body + "]}").encode()
    assert len(data) >= 30 * 1024 * 1024
    path = tmp_path / ("large.json.gz" if compressed else "large.json")
    path.write_bytes(gzip.compress(data, compresslevel=1) if compressed else data)
    result = ingest(tmp_path / "case", [path])
    item = result.files[0]
    assert item.format == "cloudtrail"
    assert (item.records_in, item.loaded, item.quarantined) == (count, count, 0)
    last = query(
        tmp_path / "case", "SELECT event_id FROM audit_events WHERE source_record = ?", [count]
    )
    assert last == [(f"{count - 1:08d}-0000-4000-8000-000000000000",)]


def test_cli_map_option(tmp_path):
    source = tmp_path / "requests.csv"
    source.write_text("time,duration,status,path\n2024-06-10T06:13:20Z,12.5,200,/orders\n")
    runner = CliRunner()
    outcome = runner.invoke(
        main,
        [
            "ingest",
            str(tmp_path / "case"),
            str(source),
            "--format",
            "csv",
            "--map",
            "ts=time",
            "--map",
            "latency_ms=duration",
            "--json",
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    assert json.loads(outcome.output)["loaded"]["request_metrics"] == 1
    rows = query(
        tmp_path / "case", "SELECT ts, latency_ms, status_code, route FROM request_metrics"
    )
    assert rows == [(utc("2024-06-10T06:13:20Z"), 12.5, 200, "/orders")]


def test_cli_map_rejects_bad_pair(tmp_path):
    source = tmp_path / "requests.csv"
    source.write_text("time\n2024-06-10T06:13:20Z\n")
    outcome = CliRunner().invoke(
        main, ["ingest", str(tmp_path / "case"), str(source), "--map", "latency_ms"]
    )
    assert outcome.exit_code == 2
    assert "COLUMN=FIELD" in outcome.output


def test_map_unknown_column_fails_file(tmp_path):
    source = tmp_path / "requests.csv"
    source.write_text("time\n2024-06-10T06:13:20Z\n")
    result = ingest(tmp_path / "case", [source], format="csv", column_map={"latency": "time"})
    assert result.files[0].status == "failed"
    assert "unknown request_metrics column" in result.files[0].error


def test_map_ndjson_nested_fields(tmp_path):
    source = tmp_path / "requests.ndjson"
    source.write_text(
        json.dumps(
            {
                "@timestamp": "2024-06-10T06:13:20Z",
                "http": {"status": 503},
                "took": 40,
                "client": "::ffff:10.0.0.1",
            }
        )
        + "\n"
    )
    ingest(
        tmp_path / "case",
        [source],
        format="ndjson",
        column_map={"status_code": "http.status", "latency_ms": "took", "client_ip": "client"},
    )
    rows = query(
        tmp_path / "case", "SELECT ts, status_code, latency_ms, client_ip FROM request_metrics"
    )
    assert rows == [(utc("2024-06-10T06:13:20Z"), 503, 40.0, "10.0.0.1")]
