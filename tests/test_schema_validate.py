"""Tests for the audit.v1 JSON Schema and `secobs schema validate`."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import fastjsonschema
import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from secobs.cli import main
from secobs.gates import validate as validate_module
from secobs.gates.validate import validate_files
from secobs.schemas import load_schema, schema_path

REPO = Path(__file__).resolve().parent.parent

FULL_EVENT = {
    "schema": "audit.v1",
    "ts": "2026-02-24T09:14:03.512Z",
    "service": "auth",
    "env": "prod",
    "version": "git:9f3c2a1",
    "event": "auth.login",
    "severity": "info",
    "result": "failure",
    "reason": "invalid_password",
    "request": {
        "request_id": "req-0001",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "method": "POST",
        "route": "/v1/login",
    },
    "actor": {"type": "user", "id": "u-globex-012", "tenant_id": "globex", "roles": ["member"]},
    "client": {
        "ip": "203.0.113.7",
        "ua": "Mozilla/5.0",
        "geo": {"country": "DE", "region": "Berlin", "city": "Berlin", "lat": 52.52, "lon": 13.4},
    },
    "security": {
        "auth_method": "password",
        "token_id": "tok_" + "ab" * 16,
        "mfa": False,
        "risk_score": 12,
        "signals": ["geo_anomaly", "new_device"],
    },
}

MINIMAL_EVENT = {
    "schema": "audit.v1",
    "ts": "2026-02-24T09:14:03Z",
    "service": "auth",
    "event": "auth.logout",
    "result": "success",
    "request": {"request_id": "req-0002", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
}


def event_with(changes: dict[str, object]) -> dict:
    """Return FULL_EVENT with dotted paths set to new values (the value None deletes).

    A change below a block that an earlier change removed or replaced is skipped.
    """
    event = copy.deepcopy(FULL_EVENT)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = event
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return event


def write_ndjson(path: Path, events: list) -> Path:
    path.write_text(
        "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events),
        encoding="utf-8",
    )
    return path


def test_schema_is_valid_draft_2020_12():
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:secobs:schema:audit.v1"
    assert schema["version"] == "1.0.0"
    assert schema_path().name == "audit.v1.json"


def test_full_and_minimal_events_are_valid(tmp_path):
    result = validate_files([write_ndjson(tmp_path / "a.ndjson", [FULL_EVENT, MINIMAL_EVENT])])
    assert result.records == 2
    assert result.invalid == []
    assert result.ok


def test_shipped_sample_validates():
    result = validate_files([REPO / "sample_data" / "audit.ndjson"])
    assert result.records == 4000
    assert result.invalid == []


def test_generated_sample_validates(tmp_path):
    from secobs.sample import generate

    files = generate(tmp_path / "sample", events=3000)
    result = validate_files([files.audit])
    assert result.records == files.counts["audit_events"]
    assert result.invalid == []


ERROR_CASES = [
    ("missing ts", {"ts": None}, "/ts", "required"),
    ("missing nested actor id", {"actor.id": None}, "/actor/id", "required"),
    ("unknown property", {"password": "x"}, "/password", "additionalProperties"),
    (
        "unknown nested property",
        {"client.geo.zip": "10115"},
        "/client/geo/zip",
        "additionalProperties",
    ),
    ("wrong type", {"security.risk_score": "12"}, "/security/risk_score", "type"),
    ("wrong schema name", {"schema": "audit.v2"}, "/schema", "const"),
    ("result not in enum", {"result": "ok"}, "/result", "enum"),
    (
        "trace id not hex",
        {"request.trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736"},
        "/request/trace_id",
        "pattern",
    ),
    ("trace id all zero", {"request.trace_id": "0" * 32}, "/request/trace_id", "pattern"),
    ("timestamp not utc", {"ts": "2026-02-24T10:14:03+01:00"}, "/ts", "pattern"),
    ("timestamp month 13", {"ts": "2026-13-24T09:14:03Z"}, "/ts", "pattern"),
    ("event kind not dotted", {"event": "login"}, "/event", "pattern"),
    ("risk above maximum", {"security.risk_score": 101}, "/security/risk_score", "maximum"),
    ("risk below minimum", {"security.risk_score": -1}, "/security/risk_score", "minimum"),
    ("empty service", {"service": ""}, "/service", "minLength"),
    ("reason too long", {"reason": "a" * 65}, "/reason", "maxLength"),
    ("role not a string", {"actor.roles": ["member", 7]}, "/actor/roles/1", "type"),
    ("block not an object", {"client": "203.0.113.7"}, "/client", "type"),
    ("raw token id", {"security.token_id": "plain-token-value"}, "/security/token_id", "pattern"),
]


@pytest.mark.parametrize(
    ("changes", "pointer", "keyword"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_each_schema_error_kind(tmp_path, changes, pointer, keyword):
    path = write_ndjson(tmp_path / "a.ndjson", [FULL_EVENT, event_with(changes)])
    result = validate_files([path])
    assert len(result.invalid) == 1
    invalid = result.invalid[0]
    assert invalid.record == 2
    assert [(e.pointer, e.keyword) for e in invalid.errors] == [(pointer, keyword)]


def test_every_error_of_an_event_is_listed(tmp_path):
    bad = event_with({"ts": None, "result": "ok", "security.mfa": "yes", "extra": 1})
    result = validate_files([write_ndjson(tmp_path / "a.ndjson", [bad])])
    found = {(e.pointer, e.keyword) for e in result.invalid[0].errors}
    assert found == {
        ("/ts", "required"),
        ("/result", "enum"),
        ("/security/mfa", "type"),
        ("/extra", "additionalProperties"),
    }


def test_ndjson_records_are_line_numbers(tmp_path):
    path = write_ndjson(
        tmp_path / "a.ndjson",
        [FULL_EVENT, "", event_with({"result": "ok"}), "{not json", FULL_EVENT, "[1]"],
    )
    result = validate_files([path])
    assert result.records == 5
    assert [item.record for item in result.invalid] == [3, 4, 6]
    assert result.invalid[1].errors[0].pointer == ""
    assert result.invalid[1].errors[0].keyword == "json"
    assert result.invalid[2].errors[0].keyword == "type"


def test_json_array_records_are_indexes(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([FULL_EVENT, FULL_EVENT, event_with({"ts": None})]))
    result = validate_files([path])
    assert result.records == 3
    assert [item.record for item in result.invalid] == [2]


def test_gzip_ndjson_is_read(tmp_path):
    path = tmp_path / "a.ndjson.gz"
    path.write_bytes(gzip.compress(orjson.dumps(event_with({"result": "ok"})) + b"\n"))
    result = validate_files([path])
    assert [(item.record, item.errors[0].keyword) for item in result.invalid] == [(1, "enum")]


def test_messages_never_quote_values(tmp_path):
    planted = "Traceback: secret-value-" + "q" * 12
    bad = event_with({"reason": planted, "security.risk_score": planted, "result": planted})
    result = validate_files([write_ndjson(tmp_path / "a.ndjson", [bad])])
    text = json.dumps(result.to_json())
    assert "/reason" in text
    assert planted not in text


def test_parallel_matches_serial(tmp_path, monkeypatch):
    events = []
    for number in range(1, 401):
        if number % 37 == 0:
            events.append(event_with({"result": "ok"}))
        elif number % 91 == 0:
            events.append("{broken")
        elif number % 53 == 0:
            events.append("")
        else:
            events.append(FULL_EVENT)
    path = write_ndjson(tmp_path / "big.ndjson", events)
    serial = validate_files([path], jobs=1)
    monkeypatch.setattr(validate_module, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(validate_module, "MAX_CHUNK_BYTES", 4096)
    parallel = validate_files([path], jobs=2)
    expected_lines = [n for n in range(1, 401) if n % 37 == 0 or (n % 91 == 0 and n % 37)]
    assert [item.record for item in serial.invalid] == expected_lines
    assert parallel.invalid == serial.invalid
    assert (
        parallel.records
        == serial.records
        == 400 - len([n for n in range(1, 401) if n % 53 == 0 and n % 37 and n % 91])
    )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 200)
    | st.floats(-100, 200)
    | st.text(max_size=8)
    | st.sampled_from(
        ["audit.v1", "success", "user", "DE", "/v1/x", "4bf92f3577b34da6a3ce929d0e0e4736"]
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)
FIELD_PATHS = [
    "schema",
    "ts",
    "service",
    "env",
    "version",
    "event",
    "severity",
    "result",
    "reason",
    "request",
    "request.trace_id",
    "request.span_id",
    "request.method",
    "request.route",
    "actor",
    "actor.type",
    "actor.id",
    "actor.roles",
    "client.ip",
    "client.geo",
    "client.geo.country",
    "client.geo.lat",
    "security.auth_method",
    "security.token_id",
    "security.mfa",
    "security.risk_score",
    "security.signals",
]
FAST = fastjsonschema.compile(load_schema(), use_formats=False)
FULL = Draft202012Validator(load_schema())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELD_PATHS), JSON_VALUES, max_size=3))
def test_fast_and_full_validators_agree(changes):
    event = event_with(changes)
    try:
        FAST(event)
        fast_valid = True
    except fastjsonschema.JsonSchemaValueException:
        fast_valid = False
    full_valid = not list(FULL.iter_errors(event))
    assert fast_valid == full_valid


def test_cli_exit_codes_and_json(tmp_path):
    runner = CliRunner()
    good = write_ndjson(tmp_path / "good.ndjson", [FULL_EVENT])
    bad = write_ndjson(tmp_path / "bad.ndjson", [FULL_EVENT, event_with({"ts": None})])

    ok = runner.invoke(main, ["schema", "validate", str(good)])
    assert ok.exit_code == 0
    assert "1 events in 1 files: 0 invalid" in ok.output

    failed = runner.invoke(main, ["schema", "validate", str(good), str(bad), "--json"])
    assert failed.exit_code == 1
    report = json.loads(failed.output)
    assert report["records"] == 3
    assert report["invalid"] == [
        {
            "path": str(bad),
            "record": 2,
            "errors": [
                {"pointer": "/ts", "keyword": "required", "message": "required property missing"}
            ],
        }
    ]

    text = runner.invoke(main, ["schema", "validate", str(bad)])
    assert f"{bad}:2: /ts: required property missing [required]" in text.output

    missing = runner.invoke(main, ["schema", "validate", str(tmp_path / "nope.ndjson")])
    assert missing.exit_code == 2
    assert "file not found" in missing.output


def test_cli_custom_schema_file(tmp_path):
    schema = load_schema()
    schema["properties"]["labels"] = {"type": "object"}
    schema_file = tmp_path / "audit.v1.1.json"
    schema_file.write_text(json.dumps(schema))
    path = write_ndjson(tmp_path / "a.ndjson", [event_with({"labels": {"team": "x"}})])
    runner = CliRunner()
    assert runner.invoke(main, ["schema", "validate", str(path)]).exit_code == 1
    custom = runner.invoke(main, ["schema", "validate", str(path), "--schema", str(schema_file)])
    assert custom.exit_code == 0
