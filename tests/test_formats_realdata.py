"""Real exports of every supported format load with nothing lost and exact mapped values.

Record counts are computed here with the standard library, separately from the readers under
test. The mapped values (actor, event, result, address, time) were read from the files by
hand and are written out literally.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from secobs.case import Case
from secobs.ingest import ingest

# Folder of each real file and the format it must be detected as.
EXPECTED_FORMATS = {
    "cloudtrail": "cloudtrail",
    "okta": "okta",
    "k8s": "k8s-audit",
    "gcp": "gcp-audit",
    "azure": "entra-signin",
    "jaeger": "jaeger",
    "zipkin": "zipkin",
    "otlp": "otlp-json",
}
SKIPPED = {"lnav-logfile_otel_collector-logs.jsonl"}  # OTLP logs, not a supported table


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def real_files(realdata: Path) -> list[Path]:
    return sorted(
        path
        for path in realdata.rglob("*")
        if path.is_file()
        and "_provenance" not in path.parts
        and path.suffix != ".md"
        and path.name not in SKIPPED
    )


def ndjson_count(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def load(tmp_path: Path, path: Path, table: str, columns: str, **options):
    result = ingest(tmp_path / "case", [path], **options)
    con = Case.open(tmp_path / "case").connect()
    rows = con.execute(
        f"SELECT {columns} FROM {table} WHERE source_file = ? ORDER BY source_record",
        [str(path.resolve())],
    ).fetchall()
    return result.files[0], rows


def test_every_real_file_reconciles(tmp_path, realdata):
    files = real_files(realdata)
    result = ingest(tmp_path / "case", files)
    assert len(result.files) == len(files)
    for item in result.files:
        assert item.status == "loaded", item.error
        assert item.records_in == item.loaded + item.quarantined, item.path
        folder = Path(item.path).relative_to(realdata).parts[0]
        if folder in EXPECTED_FORMATS:
            assert item.format == EXPECTED_FORMATS[folder], item.path


def test_cloudtrail_records_document(tmp_path, realdata):
    path = realdata / "cloudtrail" / "otelcol-contrib-cloudtrail_log_records.json"
    expected = len(json.loads(path.read_text())["Records"])
    columns = (
        "ts, event, service, actor_id, actor_type, result, reason, client_ip, source_host, "
        "source_kind, mfa, auth_method, tenant_id, raw"
    )
    item, rows = load(tmp_path, path, "audit_events", columns)
    assert item.loaded == expected == 7
    assert item.quarantined == 0
    create_user = rows[1]
    assert create_user[:8] == (
        utc("2023-07-19T21:25:09Z"),
        "CreateUser",
        "iam.amazonaws.com",
        "Mary",
        "IAMUser",
        "success",
        None,
        "192.0.2.0",
    )
    insight = rows[3]
    assert insight[1] == "AwsCloudTrailInsight"
    assert insight[3] is None
    update_trail = rows[4]
    assert update_trail[5:7] == ("failure", "TrailNotFoundException")
    login = rows[5]
    assert login[1] == "ConsoleLogin"
    assert login[3:5] == ("d-12345abcde", "IdentityCenterUser")
    assert login[10] is True
    assert login[11] == "sso"
    rotate = rows[6]
    assert rotate[3:5] == ("AWS Internal", "AWSService")
    assert rotate[7:10] == (None, "AWS Internal", "aws_internal")
    assert rotate[12] == "111122223333"
    # raw is one record, compact, and parses back to the record in the file (secrets aside)
    original = json.loads(path.read_text())["Records"][1]
    stored = json.loads(create_user[13])
    assert list(stored) == list(original)
    assert stored["requestParameters"] == original["requestParameters"]
    assert "\n" not in create_user[13]


def test_cloudtrail_gzip_from_s3(tmp_path, realdata):
    folder = realdata / "cloudtrail" / "aws-samples-ocsf-validation-inputs"
    failure = folder / "authentication__ConsoleLogin-mfa-failure.test.gz"
    expected = len(json.loads(gzip.decompress(failure.read_bytes()))["Records"])
    columns = "ts, event, actor_id, actor_type, result, reason, client_ip, mfa, tenant_id"
    item, rows = load(tmp_path, failure, "audit_events", columns)
    assert item.loaded == expected == 1
    assert rows == [
        (
            utc("2022-11-10T16:24:34Z"),
            "ConsoleLogin",
            "anaya",
            "IAMUser",
            "failure",
            "Failed authentication",
            "192.0.2.0",
            True,
            "111122223333",
        )
    ]
    role = folder / "account_change__CreateRole.test.gz"
    columns = "actor_id, actor_role, client_ip, source_host, source_kind, request_parameters"
    _, rows = load(tmp_path, role, "audit_events", columns)
    assert rows[0][:5] == (
        "Admin-user",
        "Admin",
        None,
        "cloudformation.amazonaws.com",
        "aws_service",
    )
    assert json.loads(rows[0][5])["roleName"] == "User-Role-Name"


def test_cloudtrail_json_lines(tmp_path, realdata):
    path = realdata / "cloudtrail" / "panther-analysis-cloudtrail-console-login.ndjson"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    columns = "ts, actor_id, actor_role, client_ip, result, mfa"
    item, rows = load(tmp_path, path, "audit_events", columns)
    assert item.loaded == len(records) == 24
    missing_time = sum(1 for record in records if "eventTime" not in record)
    assert sum(1 for row in rows if row[0] is None) == missing_time == 5
    assert rows[5] == (
        utc("2024-06-02T19:41:40Z"),
        "nicholas.hakmiller",
        "AWSReservedSSO_DevAdmin_635426549a280cc6",
        "73.252.165.138",
        "success",
        False,
    )
    assert rows[0][4] == "failure"


def test_okta_system_log(tmp_path, realdata):
    path = realdata / "okta" / "panther-analysis-okta-systemlog.ndjson"
    columns = "ts, event, actor_id, actor_type, result, reason, client_ip"
    item, rows = load(tmp_path, path, "audit_events", columns)
    assert item.loaded == ndjson_count(path) == 29
    assert rows[9] == (
        utc("2024-04-02T19:17:37.621Z"),
        "user.session.start",
        "user57@example.com",
        "User",
        "failure",
        None,
        "99.108.5.25",
    )
    # "redacted" is not a time: the event loads with a NULL ts
    assert rows[15] == (
        None,
        "user.session.start",
        "admin",
        "User",
        "failure",
        "VERIFICATION_ERROR",
        "1.2.3.4",
    )


def test_okta_api_page(tmp_path, realdata):
    lines = (realdata / "okta" / "panther-analysis-okta-systemlog.ndjson").read_text()
    page = tmp_path / "page.json"
    page.write_text(json.dumps([json.loads(line) for line in lines.splitlines()], indent=2))
    item, rows = load(tmp_path, page, "audit_events", "actor_id")
    assert item.format == "okta"
    assert item.loaded == 29
    assert rows[9] == ("user57@example.com",)


def test_k8s_audit(tmp_path, realdata):
    path = realdata / "k8s" / "panther-analysis-eks-k8s-audit.ndjson"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    columns = "ts, event, actor_id, actor_type, result, client_ip, method, route"
    item, rows = load(tmp_path, path, "audit_events", columns)
    assert item.loaded == len(records) == 184
    assert rows[0] == (
        utc("2022-11-29T00:09:04.380Z"),
        "pods",
        "system:anonymous",
        "anonymous",
        "success",
        "8.8.8.8",
        None,
        "/api/v1/namespaces/default/pods/test-pod",
    )
    assert rows[100][1:4] == (
        "pods.create",
        "system:serviceaccount:kube-system:deployment-controller",
        "service_account",
    )
    with_time = sum(
        1
        for record in records
        if "requestReceivedTimestamp" in record or "stageTimestamp" in record
    )
    assert sum(1 for row in rows if row[0] is not None) == with_time


def test_gcp_audit(tmp_path, realdata):
    path = realdata / "gcp" / "panther-analysis-gcp-auditlog.ndjson"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    columns = "ts, event, service, actor_id, actor_type, result, client_ip, tenant_id"
    item, rows = load(tmp_path, path, "audit_events", columns)
    assert item.loaded == len(records) == 185
    assert rows[0] == (
        rows[0][0],
        "v1.compute.subnetworks.patch",
        "compute.googleapis.com",
        "user21@example.com",
        "user",
        "success",
        "1.2.3.4",
        "test-project",
    )
    assert rows[60][1] == "v2.deploymentmanager.deployments.insert"
    assert rows[60][5] == "failure"
    assert rows[60][0] == utc("2024-01-19T13:47:18.279921Z")
    # callerIp and callerIP are both read
    spelled = 0
    for record in records:
        metadata = record["protoPayload"].get("requestMetadata")
        if isinstance(metadata, dict) and {"callerIp", "callerIP"} & metadata.keys():
            spelled += 1
    assert sum(1 for row in rows if row[6] is not None) <= spelled
    assert sum(1 for row in rows if row[6] is not None) > 0


def test_entra_signin(tmp_path, realdata):
    path = realdata / "azure" / "panther-analysis-azure-signinlogs.ndjson"
    columns = "ts, event, actor_id, actor_type, result, reason, client_ip, tenant_id"
    item, rows = load(tmp_path, path, "audit_events", columns)
    assert item.loaded == ndjson_count(path) == 26
    assert rows[0] == (
        utc("2025-01-15T09:30:45.123Z"),
        "SignInLogs",
        "user1@example.com",
        "user",
        "success",
        None,
        "2.2.2.2",
        "tenant-123",
    )
    assert rows[3][4:6] == ("failure", "50126")  # resultType "Failure", errorCode 50126
    assert rows[22][4:6] == ("failure", "50126")  # resultType "50126"
    assert rows[5][1:7] == (
        "ServicePrincipalSignInLogs",
        "some-service-principal",
        "service_principal",
        "failure",
        "7000215",
        "12.12.12.12",
    )


def test_ocsf_parquet(tmp_path, realdata):
    folder = realdata / "ocsf" / "aws-samples-ocsf-validation"
    path = folder / "1.0.0-rc.2__authentication__ConsoleLogin-mfa-failure.test.gz.parquet"
    columns = "ts, event, actor_id, actor_type, result, client_ip, mfa, tenant_id"
    item, rows = load(tmp_path, path, "audit_events", columns)
    assert item.format == "ocsf-parquet"
    assert rows == [
        (
            utc("2022-11-10T16:24:34Z"),
            "ConsoleLogin",
            "anaya",
            "IAMUser",
            "failure",
            "192.0.2.0",
            True,
            "111122223333",
        )
    ]


def test_ocsf_http_activity(tmp_path, realdata):
    path = realdata / "ocsf" / "datadog-nginx-ocsf-4002-http-activity.ndjson"
    columns = "ts, method, route, status_code, latency_ms, client_ip"
    item, rows = load(tmp_path, path, "request_metrics", columns)
    assert item.loaded == ndjson_count(path) == 5
    assert rows[0] == (utc("2016-07-13T10:55:36Z"), "GET", "/apache_pb.gif", 200, None, "127.0.0.1")
    assert rows[3][3] is None  # the error-log event has no http_response
    # duration 2.02e8 is nanoseconds for 0.202 s, not milliseconds
    assert rows[4][4] == pytest.approx(202.0)


def test_ocsf_legacy_cloud_api(tmp_path, realdata):
    path = realdata / "ocsf" / "stix-shifter-ocsf-0.17.1-cloud-api-5001.json"
    columns = "ts, event, actor_id, client_ip, tenant_id"
    item, rows = load(tmp_path, path, "audit_events", columns)
    assert item.format == "ocsf"
    assert rows == [
        (
            utc("2020-10-07T08:08:37Z"),
            "GetBucketLocation",
            "backup",
            "116.8.200.100",
            "011222333553",
        )
    ]


def test_jaeger_span_array(tmp_path, realdata):
    path = realdata / "jaeger" / "jaeger-anonymizer-trace_success.json"
    spans = json.loads(path.read_text())
    columns = "trace_id, span_id, parent_span_id, service, kind, status_code, start_ns, duration_ms"
    item, rows = load(tmp_path, path, "spans", columns)
    assert item.loaded == len(spans) == 2
    assert rows[1] == (
        "00000000000000002be38093ead7a083",
        "7bd66f09ba90ea3d",
        "7606ddfe69932d34",
        "3c220036602f839e",
        "CLIENT",
        "ERROR",
        1605223981965074000,
        32.782,
    )


def test_jaeger_query_api_duplicate(tmp_path, realdata):
    path = realdata / "jaeger" / "jaeger-ui-api-otlp2jaeger-out.json"
    spans = json.loads(path.read_text())["data"][0]["spans"]
    item, rows = load(tmp_path, path, "spans", "trace_id, span_id, parent_span_id, service")
    assert item.records_in == len(spans) == 2
    assert item.quarantined == 1  # the exact duplicate
    assert rows == [
        ("83a9efd15c1c98a977e0711cc93ee28b", "e127af99e3b3e074", "909541b92cf05311", "telemetrygen")
    ]


def test_zipkin_shared_spans_kept(tmp_path, realdata):
    path = realdata / "zipkin" / "zipkin-lens-testdata-yelp.json"
    spans = json.loads(path.read_text())
    columns = "span_id, kind, json_extract(attributes, '$.\"zipkin.shared\"')::BOOLEAN"
    item, rows = load(tmp_path, path, "spans", columns)
    assert item.loaded == len(spans) == 16
    halves = [row for row in rows if row[0] == "7a778764a0d0b594"]
    assert sorted(halves, key=str) == [
        ("7a778764a0d0b594", "CLIENT", None),
        ("7a778764a0d0b594", "SERVER", True),
    ]
    assert sum(1 for span in spans if span.get("shared")) == sum(1 for row in rows if row[2])


def test_zipkin_missing_kind_is_internal(tmp_path, realdata):
    path = realdata / "zipkin" / "zipkin-lens-testdata-messaging-kafka.json"
    spans = json.loads(path.read_text())
    item, rows = load(tmp_path, path, "spans", "kind")
    assert item.loaded == len(spans) == 28
    assert sum(1 for (kind,) in rows if kind == "INTERNAL") == 12
    sample = realdata / "zipkin" / "otelcol-contrib-zipkin-sample3.json"
    _, rows = load(tmp_path, sample, "spans", "trace_id, kind, status_code, service, start_ns")
    assert rows == [
        ("4d1e00c0db9010db86154a4ba6e91385", "CLIENT", "ERROR", None, 1472470996199000000)
    ]


def test_nginx_with_error_lines(tmp_path, realdata):
    path = realdata / "accesslogs" / "datadog-nginx_tests-samples.log"
    columns = "source_record, ts, method, route, status_code, latency_ms, client_ip, actor_id"
    item, rows = load(tmp_path, path, "request_metrics", columns)
    assert item.records_in == ndjson_count(path) == 6
    assert (item.loaded, item.quarantined) == (4, 2)
    assert rows[0] == (
        1,
        utc("2016-07-13T10:55:36Z"),
        "GET",
        "/apache_pb.gif",
        200,
        None,
        "127.0.0.1",
        "frank",
    )
    assert rows[3] == (
        6,
        utc("2015-02-19T20:50:36Z"),
        "GET",
        "/big.pdf",
        206,
        202.0,
        "127.0.0.1",
        None,
    )
    con = Case.open(tmp_path / "case").connect()
    reasons = con.execute(
        "SELECT source_record, reason FROM quarantine ORDER BY source_record"
    ).fetchall()
    assert [record for record, _ in reasons] == [4, 5]
    assert all("error-log" in reason for _, reason in reasons)


def test_alb_access_log(tmp_path, realdata):
    path = realdata / "accesslogs" / "otelcol-contrib-alb_al_valid_logs.log"
    columns = "ts, status_code, latency_ms, upstream_time_ms, client_ip, trace_id, route"
    item, rows = load(tmp_path, path, "request_metrics", columns)
    assert item.format == "elb"
    assert item.loaded == ndjson_count(path) == 2
    assert rows[1][0] == utc("2018-07-02T22:23:00.186641Z")
    assert rows[1][1] == 200
    assert rows[1][2] == pytest.approx(171.0)
    assert rows[1][3] == pytest.approx(48.0)
    assert rows[1][4] == "fe80::202:b3ff:fe1e:8329"
    assert rows[1][5] == "583372811d84f3d73c47ec4e58577259"
    assert rows[0][4] == "192.168.131.39"


def test_envoy_and_istio(tmp_path, realdata):
    path = realdata / "accesslogs" / "datadog-envoy_tests-samples.log"
    columns = "ts, route, status_code, latency_ms, upstream_time_ms, client_ip, request_id"
    item, rows = load(tmp_path, path, "request_metrics", columns)
    assert (item.loaded, item.quarantined) == (4, 1)
    assert rows[0] == (
        utc("2019-03-06T09:31:27.354Z"),
        "/status/418",
        418,
        11.0,
        10.0,
        "172.30.146.82",
        "d209e46f-9ed5-9b61-bbdd-43e22662702a",
    )
    # the query string (with its api_key) is not kept; the client is the first XFF entry
    assert rows[2][1] == "/v1/gifs/search"
    assert rows[2][5] == "173.252.99.154"
    assert rows[3][4] is None  # upstream service time "-"
