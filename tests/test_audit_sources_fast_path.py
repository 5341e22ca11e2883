"""The DuckDB fast paths for CloudTrail and Okta JSON lines give what the Python readers give.

Both readers run on the same files (the public samples, generated files and random changes
to a base event) and their rows, rejections and record numbers are compared one by one.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secobs.ingest.cloudtrail import read_cloudtrail
from secobs.ingest.cloudtrail_sql import read_cloudtrail_fast
from secobs.ingest.okta import read_okta
from secobs.ingest.okta_sql import read_okta_fast
from secobs.ingest.records import ArrowBatch, Rejected, Row

READERS = {
    "cloudtrail": (read_cloudtrail_fast, read_cloudtrail),
    "okta": (read_okta_fast, read_okta),
}


def outcome(items) -> tuple[dict[int, tuple], int]:
    """Map record number -> ("row", values) or ("rejected", reason, raw); count fast rows."""
    result: dict[int, tuple] = {}
    from_sql = 0
    for item in items:
        if isinstance(item, ArrowBatch):
            for values in item.data.to_pylist():
                record = values.pop("source_record")
                assert record not in result, record
                result[record] = ("row", values)
                from_sql += 1
        elif isinstance(item, Row):
            assert item.record not in result, item.record
            result[item.record] = ("row", dict(item.values))
        else:
            assert isinstance(item, Rejected)
            result[item.record] = ("rejected", item.reason, item.raw)
    return result, from_sql


def assert_same(fmt: str, path: Path) -> tuple[dict[int, tuple], int]:
    """Run both readers of `fmt` on `path` and require the same outcome for every record."""
    fast_reader, python_reader = READERS[fmt]
    fast, from_sql = outcome(fast_reader(path))
    slow, _ = outcome(python_reader(path))
    assert sorted(fast) == sorted(slow)
    for record, expected in slow.items():
        got = fast[record]
        assert got[0] == expected[0], f"record {record}"
        if expected[0] == "rejected":
            assert got == expected, f"record {record}"
            continue
        for key, value in expected[1].items():
            assert got[1].get(key) == value, f"record {record}: {key}"
        # A column the Python reader leaves out is NULL in the fast path's batch.
        extra = {key: value for key, value in got[1].items() if key not in expected[1]}
        assert all(value is None for value in extra.values()), f"record {record}: {extra}"
    return slow, from_sql


def write_events(path: Path, events: list, separators=(", ", ": ")) -> Path:
    path.write_text("".join(json.dumps(event, separators=separators) + "\n" for event in events))
    return path


@pytest.mark.parametrize(
    ("fmt", "name", "records", "min_from_sql"),
    [
        ("cloudtrail", "cloudtrail/panther-analysis-cloudtrail-console-login.ndjson", 24, 10),
        ("cloudtrail", "cloudtrail/panther-analysis-cloudtrail-iam-changes.ndjson", 38, 0),
        ("okta", "okta/panther-analysis-okta-systemlog.ndjson", 29, 10),
    ],
)
def test_public_samples_same_rows(realdata, fmt, name, records, min_from_sql):
    result, from_sql = assert_same(fmt, realdata / name)
    assert len(result) == records
    assert from_sql >= min_from_sql


CLOUDTRAIL = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:alice",
        "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice",
        "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "userName": "Admin"},
            "attributes": {"mfaAuthenticated": "true", "creationDate": "2024-06-01T00:00:00Z"},
        },
    },
    "eventTime": "2024-06-01T10:00:00Z",
    "eventSource": "s3.amazonaws.com",
    "eventName": "GetObject",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "aws-cli/2.15.0",
    "requestParameters": {"bucketName": "evidence", "key": "a/b.json", "tags": ["x", "y"]},
    "responseElements": None,
    "additionalEventData": {"MFAUsed": "Yes", "bytesTransferredIn": 0},
    "requestID": "0123ABCD",
    "eventID": "e-1",
    "eventType": "AwsApiCall",
    "recipientAccountId": "111122223333",
}

OKTA = {
    "uuid": "u-1",
    "published": "2024-06-01T10:00:00.123Z",
    "eventType": "user.session.start",
    "version": "0",
    "severity": "INFO",
    "actor": {"id": "00u1", "type": "User", "alternateId": "alice@example.com"},
    "client": {
        "userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Linux"},
        "ipAddress": "203.0.113.9",
        "geographicalContext": {
            "city": "Dublin",
            "state": "Leinster",
            "country": "Ireland",
            "geolocation": {"lat": 53.3, "lon": -6},
        },
    },
    "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
    "authenticationContext": {"credentialType": "PASSWORD"},
    "debugContext": {"debugData": {"requestId": "req-1"}},
    "target": [{"id": "0oa1", "type": "AppInstance", "alternateId": "Example App"}],
}

BASES = {"cloudtrail": CLOUDTRAIL, "okta": OKTA}


def test_base_events_take_fast_path(tmp_path):
    for fmt, base in BASES.items():
        result, from_sql = assert_same(fmt, write_events(tmp_path / f"{fmt}.ndjson", [base]))
        assert from_sql == 1, fmt
        assert result[1][0] == "row"


def test_cloudtrail_base_values(tmp_path):
    result, _ = assert_same("cloudtrail", write_events(tmp_path / "ct.ndjson", [CLOUDTRAIL]))
    values = result[1][1]
    assert values["actor_id"] == "alice"
    assert values["actor_role"] == "Admin"
    assert values["roles"] == ["Admin"]
    assert values["auth_method"] == "session"
    assert values["mfa"] is True
    assert values["client_ip"] == "198.51.100.7"
    assert values["request_parameters"] == (
        '{"bucketName":"evidence","key":"a/b.json","tags":["x","y"]}'
    )
    assert values["raw"] == json.dumps(CLOUDTRAIL)


CLOUDTRAIL_VARIANTS = [
    {"userIdentity": {"type": "IAMUser", "userName": "bob", "accountId": "111122223333"}},
    {"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops/carol"}},
    {"userIdentity": {"type": "IAMUser", "principalId": "AIDA1"}},
    {"userIdentity": {"type": "Root", "arn": "arn:aws:iam::444455556666:root"}},
    {"userIdentity": {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}},
    {"userIdentity": {"type": "AWSService"}},
    {"userIdentity": {"type": "IdentityCenterUser", "onBehalfOf": {"userId": "u-9"}}},
    {"userIdentity": {"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/dan"}},
    {"userIdentity": {"invokedBy": "s3.amazonaws.com"}},
    {"userIdentity": None},
    {"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/R"}},
    {"userIdentity": {"type": "AssumedRole", "principalId": "AROA:eve"}},
    {"userIdentity": {"type": "IAMUser", "accountId": 111122223333, "userName": "x"}},
    {"eventTime": "2024-06-01 10:00:00"},
    {"eventTime": "2024-06-01T10:00:00.5Z"},
    {"eventTime": "2024-02-30T10:00:00Z"},
    {"eventTime": "2024-06-01T10:00:00+02:00"},
    {"eventTime": 1717236000},
    {"eventTime": ""},
    {"eventTime": None},
    {"sourceIPAddress": "AWS Internal"},
    {"sourceIPAddress": "cloudformation.amazonaws.com"},
    {"sourceIPAddress": "2001:DB8::1"},
    {"sourceIPAddress": "010.0.0.1"},
    {"sourceIPAddress": " 198.51.100.7"},
    {"sourceIPAddress": "198.51.100.7:443"},
    {"sourceIPAddress": "-"},
    {"sourceIPAddress": "example.com"},
    {"sourceIPAddress": 7},
    {"errorCode": "AccessDenied", "errorMessage": "denied"},
    {"errorMessage": "only a message"},
    {"errorCode": ""},
    {"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"}},
    {"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "FAILURE"}},
    {"responseElements": {"ConsoleLogin": 5}},
    {"responseElements": "text"},
    {"responseElements": [1, 2]},
    {"responseElements": {"a": 1.5}},
    {"responseElements": {"a": {"b": 1}}},
    {"responseElements": {}},
    {"eventName": "AssumeRoleWithSAML"},
    {"eventName": "AssumeRoleWithWebIdentity"},
    {"eventName": "CheckMfa"},
    {"eventName": "", "eventType": "AwsServiceEvent"},
    {"sessionCredentialFromConsole": "true"},
    {"sessionCredentialFromConsole": " true"},
    {"sessionCredentialFromConsole": 1},
    {"additionalEventData": {"MFAUsed": "No"}},
    {"additionalEventData": {"MFAUsed": True}},
    {"additionalEventData": "text"},
    {"requestParameters": {"password": "hunter2"}},
    {"requestParameters": {"sessionToken": "abc"}},
    {"requestParameters": {"policy": '{"Version": "2012-10-17"}'}},
    {"requestParameters": {"size": 12345678901234567890123}},
    {"requestParameters": [{"a": 1}, {"b": "x"}]},
    {"requestParameters": "plain"},
    {"recipientAccountId": ""},
    {"userAgent": "Mozilla/5.0 (ünïcode)"},
    {"Records": [{"eventName": "A"}, {"eventName": "B"}]},
    {"logEvents": [{"message": json.dumps({"eventName": "C"})}, {"message": "x"}]},
]

OKTA_VARIANTS = [
    {"published": "2022-03-22 14:21:53.225"},
    {"published": "2022-03-22T14:21:53+02:00"},
    {"published": "2022-03-22T14:21:53.1234567Z"},
    {"published": "nope"},
    {"published": None},
    {"outcome": {"result": "ALLOW"}},
    {"outcome": {"result": "deny"}},
    {"outcome": {"result": "UNKNOWN"}},
    {"outcome": {"result": "straße"}},
    {"outcome": None},
    {"actor": {"alternateId": "", "id": "00u2"}},
    {"actor": "x"},
    {"client": {"ipAddress": "2001:db8::1"}},
    {"client": {"ipAddress": "example.com"}},
    {"client": {"geographicalContext": {"geolocation": {"lat": "53.3"}}}},
    {"client": {"geographicalContext": {"geolocation": {"lat": 53, "lon": True}}}},
    {"authenticationContext": {"authenticationProvider": "FACTOR_PROVIDER"}},
    {"target": None},
    {"target": [{"id": "1", "detailEntry": {"a": 1}}]},
    {"target": [{"id": "1", "weight": 0.5}]},
    {"version": 0},
    {"eventType": "", "legacyEventType": "core.legacy"},
    {"debugContext": {"debugData": {"requestId": 17}}},
]


def apply(base: dict, variant: dict) -> dict:
    event = copy.deepcopy(base)
    for key, value in variant.items():
        if isinstance(value, dict) and isinstance(event.get(key), dict):
            event[key].update(value)
        else:
            event[key] = value
    return event


@pytest.mark.parametrize(
    ("fmt", "variants"), [("cloudtrail", CLOUDTRAIL_VARIANTS), ("okta", OKTA_VARIANTS)]
)
def test_variants_same_outcome(tmp_path, fmt, variants):
    base = BASES[fmt]
    events = [base, *(apply(base, variant) for variant in variants)]
    path = write_events(tmp_path / "variants.ndjson", events)
    with path.open("a") as stream:
        stream.write("not json\n[1, 2]\n   \n" + json.dumps(base) + "\n")
    result, from_sql = assert_same(fmt, path)
    kinds = [value[0] for value in result.values()]
    assert kinds.count("rejected") >= 2
    assert 2 <= from_sql < len(result)


def test_lines_duckdb_reads_differently(tmp_path):
    """Text DuckDB accepts but orjson rejects, and duplicate keys, go to the Python reader."""
    line = json.dumps(CLOUDTRAIL, separators=(",", ":"))
    odd = [
        line[:-1] + ',"extra":NaN}',
        line[:-1] + ',"extra":-Infinity}',
        line[:-1] + ',"extra":[1,]}',
        line[:-1] + ',"extra":1e400}',
        line[:-1] + ',"extra":' + "9" * 400 + "}",
        line[:-1] + ',"eventName":"Second"}',
        line.replace('"userIdentity":{', '"userIdentity":{"type":"Root",'),
        line.replace('"key":"a/b.json"', '"key":"a/b.json","key":"c"'),
        line.replace('"bucketName":"evidence"', '"bucketName":"évidence\\u00e9"'),
        " " + line,
        line.replace('"bucketName"', '"pa\u017fsword"'),
        line.replace('"bucketName"', '"\u212aey"'),
        line.replace('"userAgent":"aws-cli/2.15.0"', '"userAgent":"aws-cli\\t2"'),
    ]
    path = tmp_path / "odd.ndjson"
    path.write_text(line + "\n" + "\n".join(odd) + "\n" + line + "\n")
    result, from_sql = assert_same("cloudtrail", path)
    assert len(result) == len(odd) + 2
    assert from_sql == 2


def load_benchmark():
    """Import benchmarks/ingest_formats.py, whose generators write the benchmark's files."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "ingest_formats.py"
    spec = importlib.util.spec_from_file_location("ingest_formats", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_same_rows(tmp_path):
    benchmark = load_benchmark()
    for fmt, make in (("cloudtrail", benchmark.cloudtrail_event), ("okta", benchmark.okta_event)):
        path = tmp_path / f"{fmt}.ndjson"
        benchmark.write_ndjson(path, make, 3000)
        result, from_sql = assert_same(fmt, path)
        assert len(result) == 3000
        assert from_sql == 3000


def test_document_layouts_use_python_reader(tmp_path):
    document = tmp_path / "records.json"
    document.write_text(json.dumps({"Records": [CLOUDTRAIL, CLOUDTRAIL]}))
    result, from_sql = assert_same("cloudtrail", document)
    assert len(result) == 2
    assert from_sql == 0
    page = tmp_path / "page.json"
    page.write_text(json.dumps([OKTA, OKTA]))
    result, from_sql = assert_same("okta", page)
    assert len(result) == 2
    assert from_sql == 0


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 2**70)
    | st.floats(-1e3, 1e3)
    | st.sampled_from(["", "true", "Yes", "AKIA1", "ASIA2", "AWS Internal", "10.0.0.1", "1.2.3"])
    | st.sampled_from(["2024-06-01T10:00:00Z", "2024-06-01 10:00:00", "FAILURE", "x.amazonaws.com"])
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
CLOUDTRAIL_PATHS = [
    ("eventTime",),
    ("eventName",),
    ("eventSource",),
    ("errorCode",),
    ("sourceIPAddress",),
    ("requestParameters",),
    ("requestParameters", "key"),
    ("responseElements",),
    ("responseElements", "ConsoleLogin"),
    ("sessionCredentialFromConsole",),
    ("additionalEventData", "MFAUsed"),
    ("userIdentity",),
    ("userIdentity", "type"),
    ("userIdentity", "arn"),
    ("userIdentity", "userName"),
    ("userIdentity", "accessKeyId"),
    ("userIdentity", "sessionContext", "sessionIssuer", "userName"),
    ("userIdentity", "sessionContext", "attributes", "mfaAuthenticated"),
    ("recipientAccountId",),
]
OKTA_PATHS = [
    ("published",),
    ("eventType",),
    ("version",),
    ("actor",),
    ("actor", "alternateId"),
    ("client", "ipAddress"),
    ("client", "geographicalContext", "geolocation", "lat"),
    ("client", "userAgent"),
    ("outcome", "result"),
    ("authenticationContext", "credentialType"),
    ("debugContext", "debugData"),
    ("target",),
]


def change(base: dict, changes: list) -> dict:
    event = copy.deepcopy(base)
    for path, value in changes:
        target = event
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
    return event


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(["cloudtrail", "okta"]),
    data=st.data(),
    compact=st.booleans(),
)
def test_random_changes_same_outcome(tmp_path, fmt, data, compact):
    paths = CLOUDTRAIL_PATHS if fmt == "cloudtrail" else OKTA_PATHS
    changes = data.draw(
        st.lists(st.tuples(st.sampled_from(paths), json_values), min_size=1, max_size=3)
    )
    base = BASES[fmt]
    separators = (",", ":") if compact else (", ", ": ")
    path = write_events(tmp_path / "random.ndjson", [base, change(base, changes)], separators)
    result, from_sql = assert_same(fmt, path)
    assert len(result) == 2
    assert from_sql >= 1
