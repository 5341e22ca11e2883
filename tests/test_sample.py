"""Tests for the seeded sample incident generator."""

from __future__ import annotations

import csv
import ipaddress
import json
import math
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from secobs.errors import UsageError
from secobs.sample import SampleFiles, generate

HEADER = [
    "ts",
    "request_id",
    "trace_id",
    "service",
    "env",
    "route",
    "method",
    "status_code",
    "latency_ms",
    "bytes",
    "client_ip",
    "user_agent",
    "actor_id",
    "tenant_id",
]
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
TRACE_ID = re.compile(r"[0-9a-f]{32}")
SPAN_ID = re.compile(r"[0-9a-f]{16}")
TOKEN_ID = re.compile(r"tok_[0-9a-f]{32}")
TRACE_ID_IN_SPANS_LINE = re.compile(r'"traceId":"([0-9a-f]{32})"')
DOCUMENTATION_NETWORKS = [
    ipaddress.ip_network(network)
    for network in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]
EVENTS = {
    "auth.login",
    "auth.logout",
    "token.refresh",
    "token.create",
    "data.read",
    "data.export",
    "admin.change_role",
    "authz.denied",
}
SERVICES = {"gateway", "auth", "billing", "export-worker", "storage"}
# Approximate city centres in degrees (latitude, longitude).
CITY_COORDINATES = {
    "Berlin": (52.52, 13.405),
    "Munich": (48.137, 11.575),
    "São Paulo": (-23.55, -46.633),
    "Singapore": (1.352, 103.82),
}


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance on a sphere of radius 6371 km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371 * math.asin(math.sqrt(h))


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    """Decode a span's OTLP/JSON attribute list into plain Python values."""
    decoded = {}
    for attribute in span.get("attributes", []):
        ((kind, value),) = attribute["value"].items()
        if kind == "intValue":
            value = int(value)
        elif kind == "arrayValue":
            value = [item["stringValue"] for item in value.get("values", [])]
        decoded[attribute["key"]] = value
    return decoded


class Sample:
    """The four files of one generated sample, parsed."""

    def __init__(self, out: Path, **options: Any):
        self.files = generate(out, **options)
        self.out = out
        with open(self.files.audit, encoding="utf-8") as handle:
            self.audit_lines = handle.read().split("\n")
        self.audit = [json.loads(line) for line in self.audit_lines if line]
        with open(self.files.requests, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            self.header = reader.fieldnames
            self.rows = list(reader)
        self.span_lines = self.files.spans.read_text(encoding="utf-8").splitlines()
        self.traces: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for line in self.span_lines:
            for resource_spans in json.loads(line)["resourceSpans"]:
                resource = attributes(resource_spans["resource"])
                for scope_spans in resource_spans["scopeSpans"]:
                    for span in scope_spans["spans"]:
                        self.traces[span["traceId"]].append((resource["service.name"], span))
        self.truth = json.loads(self.files.ground_truth.read_text(encoding="utf-8"))
        self.rows_by_request = {row["request_id"]: row for row in self.rows}
        self.events_by_request = {event["request"]["request_id"]: event for event in self.audit}

    def file_bytes(self) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in sorted(self.out.iterdir())}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return Sample(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def large_files(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return generate(tmp_path_factory.mktemp("large"), events=20_000)


def attack_records(files: SampleFiles, trace_ids: set[str]) -> tuple[list[dict], list[dict]]:
    """Return the audit events and spans of the given traces.

    Only span lines that contain one of the trace ids are parsed, which keeps the test fast.
    """
    events = []
    with open(files.audit, encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            if event["request"]["trace_id"] in trace_ids:
                events.append(event)
    spans = []
    with open(files.spans, encoding="utf-8") as handle:
        for line in handle:
            if not trace_ids.intersection(TRACE_ID_IN_SPANS_LINE.findall(line)):
                continue
            for resource_spans in json.loads(line)["resourceSpans"]:
                for span in resource_spans["scopeSpans"][0]["spans"]:
                    if span["traceId"] in trace_ids:
                        spans.append(span)
    return events, spans


def test_generate_same_seed_same_bytes(sample: Sample, tmp_path: Path) -> None:
    generate(tmp_path)
    again = {path.name: path.read_bytes() for path in sorted(tmp_path.iterdir())}
    assert sorted(again) == [
        "audit.ndjson",
        "ground_truth.json",
        "requests.csv",
        "spans.otlp.jsonl",
    ]
    assert again == sample.file_bytes()


def test_generate_independent_of_hash_seed(sample: Sample, tmp_path: Path) -> None:
    code = "import sys; from secobs.sample import SampleFiles, generate; generate(sys.argv[1])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    again = {path.name: path.read_bytes() for path in sorted(tmp_path.iterdir())}
    assert again == sample.file_bytes()


def test_other_seed_changes_attack(sample: Sample, tmp_path: Path) -> None:
    other = generate(tmp_path, seed=8)
    truth = json.loads(other.ground_truth.read_text(encoding="utf-8"))
    assert truth["seed"] == 8
    assert truth["exports"]["trace_ids"] != sample.truth["exports"]["trace_ids"]


def test_default_counts(sample: Sample) -> None:
    counts = sample.files.counts
    assert 3000 <= counts["audit_events"] <= 5000
    assert counts["audit_events"] == len(sample.audit)
    assert counts["request_metrics"] == len(sample.rows)
    assert counts["spans"] == sum(len(spans) for spans in sample.traces.values())
    assert counts["request_metrics"] >= counts["audit_events"]
    assert 2 * counts["request_metrics"] <= counts["spans"] <= 5 * counts["request_metrics"]
    assert sample.audit_lines[-1] == ""
    assert all(sample.audit_lines[:-1])


def test_scaled_event_count(large_files: SampleFiles) -> None:
    assert large_files.counts["audit_events"] == 20_000
    with open(large_files.audit, encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 20_000
    with open(large_files.requests, encoding="utf-8", newline="") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == large_files.counts["request_metrics"]
    assert large_files.counts["request_metrics"] > 20_000


def test_attack_same_at_every_scale(sample: Sample, large_files: SampleFiles) -> None:
    truth = json.loads(large_files.ground_truth.read_text(encoding="utf-8"))
    assert truth == sample.truth
    trace_ids = set(truth["trace_ids"])
    events, spans = attack_records(large_files, trace_ids)
    expected_events = [event for event in sample.audit if event["request"]["trace_id"] in trace_ids]
    assert events == expected_events
    expected_spans = [span for spans in sample.traces.values() for _, span in spans]
    expected_spans = [span for span in expected_spans if span["traceId"] in trace_ids]
    assert sorted(spans, key=lambda span: span["spanId"]) == sorted(
        expected_spans, key=lambda span: span["spanId"]
    )


def test_audit_events_have_blocks(sample: Sample) -> None:
    top = {
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
        "actor",
        "client",
        "security",
    }
    for event in sample.audit:
        assert set(event) == top
        assert event["schema"] == "audit.v1"
        assert TS.fullmatch(event["ts"])
        assert event["service"] in SERVICES
        assert event["env"] == "prod"
        assert re.fullmatch(r"git:[0-9a-f]{7}", event["version"])
        assert event["event"] in EVENTS
        assert event["severity"] in {"info", "warning", "high"}
        assert event["result"] in {"success", "failure"}
        assert event["reason"] is None or re.fullmatch(r"[a-z_]+", event["reason"])
        assert set(event["request"]) == {"request_id", "trace_id", "span_id", "method", "route"}
        assert set(event["actor"]) == {"type", "id", "tenant_id", "roles"}
        assert event["actor"]["type"] in {"user", "service"}
        assert event["actor"]["tenant_id"] in {"acme", "globex", "initech"}
        assert set(event["client"]) == {"ip", "ua", "geo"}
        assert set(event["client"]["geo"]) == {"country", "region", "city"}
        security = event["security"]
        assert set(security) == {"auth_method", "token_id", "mfa", "risk_score", "signals"}
        assert security["auth_method"] in {"password", "session", "jwt", "api_key", "sso"}
        assert isinstance(security["mfa"], bool)
        assert 0 <= security["risk_score"] <= 100
        assert all(isinstance(signal, str) for signal in security["signals"])


def test_audit_failures_have_reasons(sample: Sample) -> None:
    for event in sample.audit:
        assert (event["reason"] is None) == (event["result"] == "success")


def test_audit_sorted_by_ts(sample: Sample) -> None:
    stamps = [event["ts"] for event in sample.audit]
    assert stamps == sorted(stamps)
    assert stamps[0] >= "2026-02-23T00:00:00.000Z"
    assert stamps[-1] < "2026-02-25T00:00:00.000Z"


def test_ids_canonical_hex(sample: Sample) -> None:
    for event in sample.audit:
        assert TRACE_ID.fullmatch(event["request"]["trace_id"])
        assert SPAN_ID.fullmatch(event["request"]["span_id"])
        assert event["request"]["trace_id"] != "0" * 32
    for row in sample.rows:
        assert TRACE_ID.fullmatch(row["trace_id"])
    for trace_id, spans in sample.traces.items():
        assert TRACE_ID.fullmatch(trace_id)
        for _, span in spans:
            assert SPAN_ID.fullmatch(span["spanId"])
            assert span.get("parentSpanId", "") == "" or SPAN_ID.fullmatch(span["parentSpanId"])


def test_request_ids_unique(sample: Sample) -> None:
    request_ids = [row["request_id"] for row in sample.rows]
    assert len(set(request_ids)) == len(request_ids)
    assert len(sample.events_by_request) == len(sample.audit)


def test_addresses_in_documentation_ranges(sample: Sample) -> None:
    addresses = {row["client_ip"] for row in sample.rows}
    addresses |= {event["client"]["ip"] for event in sample.audit}
    for address in addresses:
        parsed = ipaddress.ip_address(address)
        assert any(parsed in network for network in DOCUMENTATION_NETWORKS), address


def test_csv_header_and_rows(sample: Sample) -> None:
    assert sample.header == HEADER
    stamps = [row["ts"] for row in sample.rows]
    assert stamps == sorted(stamps)
    for row in sample.rows:
        assert TS.fullmatch(row["ts"])
        assert row["env"] == "prod"
        assert row["service"] in SERVICES
        assert float(row["latency_ms"]) > 0
        assert int(row["status_code"]) in {200, 201, 204, 401, 403, 500, 503}
        assert int(row["bytes"]) >= 0
        assert row["actor_id"]
        assert row["tenant_id"] in {"acme", "globex", "initech"}
    assert any("," in row["user_agent"] for row in sample.rows)


def test_audit_events_match_metrics_rows(sample: Sample) -> None:
    for event in sample.audit:
        row = sample.rows_by_request[event["request"]["request_id"]]
        assert row["ts"] == event["ts"]
        assert row["trace_id"] == event["request"]["trace_id"]
        assert row["route"] == event["request"]["route"]
        assert row["method"] == event["request"]["method"]
        assert row["actor_id"] == event["actor"]["id"]
        assert row["client_ip"] == event["client"]["ip"]
        assert row["user_agent"] == event["client"]["ua"]
    assert len(sample.rows) > len(sample.audit)


def test_spans_lines_are_export_requests(sample: Sample) -> None:
    for line in sample.span_lines:
        request = json.loads(line)
        assert set(request) == {"resourceSpans"}
        services = [
            attributes(entry["resource"])["service.name"] for entry in request["resourceSpans"]
        ]
        assert len(services) == len(set(services))
        assert set(services) <= SERVICES
        for entry in request["resourceSpans"]:
            (scope_spans,) = entry["scopeSpans"]
            assert scope_spans["scope"]["name"] == "secobs.sample"
            for span in scope_spans["spans"]:
                assert span["kind"] in {1, 2, 3}
                assert span["startTimeUnixNano"].isdigit()
                assert span["endTimeUnixNano"].isdigit()
                assert span["status"] in ({}, {"code": 2})
    assert len(sample.span_lines) == math.ceil(len(sample.rows) / 20)


def test_spans_form_trees_in_time(sample: Sample) -> None:
    for trace_id, spans in sample.traces.items():
        assert 2 <= len(spans) <= 5, trace_id
        by_id = {span["spanId"]: span for _, span in spans}
        ((root_service, root),) = [
            (service, span) for service, span in spans if not span.get("parentSpanId")
        ]
        assert root_service == "gateway"
        assert root["kind"] == 2
        for _, span in spans:
            start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
            assert start <= end
            if span.get("parentSpanId"):
                parent = by_id[span["parentSpanId"]]
                assert int(parent["startTimeUnixNano"]) <= start
                assert end <= int(parent["endTimeUnixNano"])


def test_root_duration_equals_latency(sample: Sample) -> None:
    assert set(sample.traces) == {row["trace_id"] for row in sample.rows}
    for row in sample.rows:
        (root,) = [
            span for _, span in sample.traces[row["trace_id"]] if not span.get("parentSpanId")
        ]
        duration = int(root["endTimeUnixNano"]) - int(root["startTimeUnixNano"])
        assert duration == int(Decimal(row["latency_ms"]) * 1_000_000)
        assert int(root["startTimeUnixNano"]) == int(parse_ts(row["ts"]).timestamp() * 1000) * 10**6


def test_root_and_service_spans_carry_context(sample: Sample) -> None:
    for row in sample.rows:
        spans = sample.traces[row["trace_id"]]
        servers = [span for _, span in spans if span["kind"] == 2]
        assert 1 <= len(servers) <= 2
        for span in servers:
            context = attributes(span)
            assert context["enduser.id"] == row["actor_id"]
            assert context["tenant.id"] == row["tenant_id"]
            assert context["request.id"] == row["request_id"]
            assert context["http.route"] == row["route"]
            assert context["http.request.method"] == row["method"]
            assert context["http.response.status_code"] == int(row["status_code"])
            assert isinstance(context["security.risk_score"], int)
            assert isinstance(context["security.signals"], list)
            assert len(context["security.geo_country"]) == 2
            assert context["auth.method"]
        errors = [span for _, span in spans if span["status"]]
        assert bool(errors) == (int(row["status_code"]) >= 500)


def test_audit_span_belongs_to_trace(sample: Sample) -> None:
    for event in sample.audit:
        spans = dict(
            (span["spanId"], (service, span))
            for service, span in sample.traces[event["request"]["trace_id"]]
        )
        service, span = spans[event["request"]["span_id"]]
        assert service == event["service"]
        context = attributes(span)
        assert context["security.risk_score"] == event["security"]["risk_score"]
        assert context["security.signals"] == event["security"]["signals"]
        assert context["security.geo_country"] == event["client"]["geo"]["country"]
        assert context.get("security.token_id") == event["security"]["token_id"]


def test_benign_traffic_looks_benign(sample: Sample) -> None:
    attack = set(sample.truth["trace_ids"])
    benign = [event for event in sample.audit if event["request"]["trace_id"] not in attack]
    low_risk = [event for event in benign if event["security"]["risk_score"] <= 30]
    no_signals = [event for event in benign if not event["security"]["signals"]]
    assert len(low_risk) >= 0.95 * len(benign)
    assert len(no_signals) >= 0.95 * len(benign)
    assert max(event["security"]["risk_score"] for event in benign) < 50
    kinds = {event["event"] for event in benign}
    assert kinds == EVENTS
    reasons = {event["reason"] for event in benign}
    assert {"invalid_password", "missing_role"} <= reasons
    actors = {event["actor"]["id"] for event in benign}
    users = {actor for actor in actors if actor.startswith("u-")}
    assert 40 <= len(users) <= 60
    assert any(actor.startswith("svc-") for actor in actors)
    assert all(re.fullmatch(r"(u-(acme|globex|initech)-\d{3})|(svc-[a-z-]+)", a) for a in actors)


def test_benign_logins_and_exports_fast(sample: Sample) -> None:
    attack = set(sample.truth["trace_ids"])
    benign_logins = 0
    benign_exports = 0
    for event in sample.audit:
        if event["request"]["trace_id"] in attack:
            continue
        latency = float(sample.rows_by_request[event["request"]["request_id"]]["latency_ms"])
        if event["event"] == "auth.login":
            benign_logins += 1
            assert latency < 600
        if event["event"] == "data.export":
            benign_exports += 1
            assert 150 <= latency <= 600
    assert benign_logins > 100
    assert benign_exports > 0


def test_spray_matches_ground_truth(sample: Sample) -> None:
    spray = sample.truth["spray"]
    assert len(spray["ips"]) == 2
    start, end = parse_ts(spray["start"]), parse_ts(spray["end"])
    assert start.date().isoformat() == "2026-02-24"
    assert end - start < timedelta(hours=1)
    attempts = [
        event
        for event in sample.audit
        if event["client"]["ip"] in spray["ips"] and event["result"] == "failure"
    ]
    assert len(attempts) == spray["attempts"]
    targets_by_ip = defaultdict(set)
    for event in attempts:
        assert event["event"] == "auth.login"
        assert event["reason"] == "invalid_password"
        assert 60 <= event["security"]["risk_score"] <= 75
        assert "password_spray_suspected" in event["security"]["signals"]
        assert start <= parse_ts(event["ts"]) <= end
        latency = float(sample.rows_by_request[event["request"]["request_id"]]["latency_ms"])
        assert 80 <= latency <= 250
        targets_by_ip[event["client"]["ip"]].add(event["actor"]["id"])
    for ip in spray["ips"]:
        assert len(targets_by_ip[ip]) >= 25
        attempts_from_ip = sum(1 for event in attempts if event["client"]["ip"] == ip)
        assert attempts_from_ip <= 2 * len(targets_by_ip[ip])
    targeted = set().union(*targets_by_ip.values())
    assert sorted(targeted) == spray["targeted_actors"]
    assert {actor.split("-")[1] for actor in targeted} == {"acme", "globex", "initech"}


def test_spray_success_on_victim(sample: Sample) -> None:
    success = sample.truth["spray"]["success"]
    event = sample.events_by_request[success["request_id"]]
    assert event["event"] == "auth.login"
    assert event["result"] == "success"
    assert event["actor"]["id"] == sample.truth["takeover"]["actor_id"]
    assert event["client"]["ip"] in sample.truth["spray"]["ips"]
    assert event["security"]["risk_score"] >= 85
    assert event["security"]["mfa"] is False
    assert "password_spray_suspected" in event["security"]["signals"]
    assert success["ip"] in sample.truth["takeover"]["attacker_ips"]


def test_takeover_matches_ground_truth(sample: Sample) -> None:
    takeover = sample.truth["takeover"]
    assert takeover["tenant_id"] == "globex"
    home = sample.events_by_request[takeover["home"]["request_id"]]
    foreign = sample.events_by_request[takeover["foreign"]["request_id"]]
    for event, expected in ((home, takeover["home"]), (foreign, takeover["foreign"])):
        assert event["event"] == "auth.login"
        assert event["result"] == "success"
        assert event["actor"]["id"] == takeover["actor_id"]
        assert event["actor"]["tenant_id"] == "globex"
        assert event["security"]["mfa"] is False
        assert event["ts"] == expected["ts"]
        assert event["client"]["ip"] == expected["ip"]
        assert event["client"]["geo"]["country"] == expected["country"]
        assert event["client"]["geo"]["city"] == expected["city"]
    assert home["client"]["geo"]["country"] == "DE"
    assert foreign["client"]["ip"] in takeover["attacker_ips"]
    assert foreign["security"]["risk_score"] >= 90
    assert set(foreign["security"]["signals"]) == {"geo_anomaly", "new_device"}
    assert home["security"]["risk_score"] <= 30
    assert foreign["client"]["ua"] != home["client"]["ua"]

    gap = parse_ts(foreign["ts"]) - parse_ts(home["ts"])
    assert timedelta(0) < gap < timedelta(minutes=15)
    home_city = CITY_COORDINATES[home["client"]["geo"]["city"]]
    foreign_city = CITY_COORDINATES[foreign["client"]["geo"]["city"]]
    assert distance_km(home_city, foreign_city) > 5000


def test_attacker_logins_slow(sample: Sample) -> None:
    for login in (sample.truth["takeover"]["foreign"], sample.truth["spray"]["success"]):
        latency = float(sample.rows_by_request[login["request_id"]]["latency_ms"])
        assert 1200 <= latency <= 2500
        names = {span["name"] for _, span in sample.traces[login["trace_id"]]}
        assert "risk.geo_check" in names
    home = sample.truth["takeover"]["home"]
    assert float(sample.rows_by_request[home["request_id"]]["latency_ms"]) < 600


def test_escalation_matches_ground_truth(sample: Sample) -> None:
    escalation = sample.truth["privilege_escalation"]
    assert escalation["role"] == "admin"
    event = sample.events_by_request[escalation["request_id"]]
    assert event["event"] == "admin.change_role"
    assert event["request"]["route"] == "/v1/admin/roles"
    assert event["result"] == "success"
    assert event["actor"]["id"] == escalation["actor_id"] == sample.truth["takeover"]["actor_id"]
    assert event["ts"] == escalation["ts"]
    assert event["security"]["risk_score"] >= 80
    assert event["client"]["ip"] == sample.truth["takeover"]["foreign"]["ip"]
    assign = [
        attributes(span)
        for _, span in sample.traces[event["request"]["trace_id"]]
        if span["name"] == "role.assign"
    ]
    assert assign == [{"iam.role.granted": "admin", "iam.target.id": escalation["actor_id"]}]


def test_token_matches_ground_truth(sample: Sample) -> None:
    token = sample.truth["token"]
    assert TOKEN_ID.fullmatch(token["token_id"])
    assert sample.truth["tokens"] == [token["token_id"]]
    event = sample.events_by_request[token["request_id"]]
    assert event["event"] == "token.create"
    assert event["request"]["route"] == "/v1/tokens"
    assert event["security"]["token_id"] == token["token_id"]
    assert event["ts"] == token["created"]
    assert event["actor"]["id"] == sample.truth["takeover"]["actor_id"]
    assert "admin" in event["actor"]["roles"]


def test_token_ids_hashed(sample: Sample) -> None:
    for event in sample.audit:
        token_id = event["security"]["token_id"]
        assert token_id is None or TOKEN_ID.fullmatch(token_id)
        if event["security"]["auth_method"] in {"api_key", "jwt"}:
            assert token_id is not None


def test_exports_match_ground_truth(sample: Sample) -> None:
    exports = sample.truth["exports"]
    assert 40 <= exports["count"] <= 80
    assert len(exports["trace_ids"]) == len(exports["request_ids"]) == exports["count"]
    foreign_ip = sample.truth["takeover"]["foreign"]["ip"]
    token_id = sample.truth["token"]["token_id"]
    for request_id, trace_id in zip(exports["request_ids"], exports["trace_ids"], strict=True):
        event = sample.events_by_request[request_id]
        assert event["request"]["trace_id"] == trace_id
        assert event["event"] == "data.export"
        assert event["request"]["method"] == "POST"
        assert event["request"]["route"] == "/v1/export"
        assert event["security"]["auth_method"] == "api_key"
        assert event["security"]["token_id"] == token_id
        assert event["client"]["ip"] == foreign_ip
        assert event["actor"]["id"] == sample.truth["takeover"]["actor_id"]
        row = sample.rows_by_request[request_id]
        assert 3000 <= float(row["latency_ms"]) <= 9000
        assert int(row["bytes"]) >= 1_000_000
        assert trace_id in sample.traces
        root_context = [
            attributes(span) for service, span in sample.traces[trace_id] if service == "gateway"
        ]
        assert root_context[0]["security.token_id"] == token_id
    burst = parse_ts(exports["end"]) - parse_ts(exports["start"])
    assert burst <= timedelta(minutes=25)
    token_exports = [event for event in sample.audit if event["security"]["token_id"] == token_id]
    assert len(token_exports) == exports["count"] + 1


def test_attack_steps_in_order(sample: Sample) -> None:
    truth = sample.truth
    steps = [
        truth["spray"]["start"],
        truth["spray"]["end"],
        truth["spray"]["success"]["ts"],
        truth["takeover"]["home"]["ts"],
        truth["takeover"]["foreign"]["ts"],
        truth["privilege_escalation"]["ts"],
        truth["token"]["created"],
        truth["exports"]["start"],
        truth["exports"]["end"],
    ]
    assert steps == sorted(steps)
    assert len(set(steps)) == len(steps)
    assert all(step.startswith("2026-02-24T") for step in steps)
    assert truth["window"] == {
        "start": "2026-02-23T00:00:00.000Z",
        "end": "2026-02-25T00:00:00.000Z",
    }


def test_ground_truth_lists(sample: Sample) -> None:
    truth = sample.truth
    assert truth["seed"] == 7
    assert len(truth["ips"]) == 3
    assert set(truth["ips"]) == set(truth["spray"]["ips"]) | set(truth["takeover"]["attacker_ips"])
    assert truth["takeover"]["actor_id"] in truth["actors"]
    assert set(truth["spray"]["targeted_actors"]) <= set(truth["actors"])
    assert set(truth["exports"]["trace_ids"]) <= set(truth["trace_ids"])
    assert truth["takeover"]["home"]["trace_id"] not in truth["trace_ids"]
    assert truth["takeover"]["foreign"]["trace_id"] in truth["trace_ids"]
    for trace_id in truth["trace_ids"]:
        assert trace_id in sample.traces
    attack_ips = {
        event["client"]["ip"]
        for event in sample.audit
        if event["request"]["trace_id"] in set(truth["trace_ids"])
    }
    assert attack_ips == set(truth["ips"])
    text = sample.files.ground_truth.read_text(encoding="utf-8")
    assert text == json.dumps(truth, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_victim_without_mfa_everywhere(sample: Sample) -> None:
    victim = sample.truth["takeover"]["actor_id"]
    logins = [
        event
        for event in sample.audit
        if event["actor"]["id"] == victim and event["event"] == "auth.login"
    ]
    assert logins
    assert all(event["security"]["mfa"] is False for event in logins)


def test_generate_rejects_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="at least"):
        generate(tmp_path, events=10)
    with pytest.raises(UsageError, match="events must be an integer"):
        generate(tmp_path, events=True)
    with pytest.raises(UsageError, match="seed must be an integer"):
        generate(tmp_path, seed="7")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_memory_flat_as_events_grow(tmp_path: Path) -> None:
    code = (
        "import resource, sys\n"
        "from secobs.sample import generate\n"
        "generate(sys.argv[1], events=int(sys.argv[2]))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )

    def peak_kib(events: int) -> int:
        out = tmp_path / str(events)
        command = [sys.executable, "-c", code, str(out), str(events)]
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        return int(result.stdout)

    small = peak_kib(1_000)
    large = peak_kib(20_000)
    # Holding the 20,000 events and their traces in memory would add well over 50 MiB.
    assert large - small < 20 * 1024


# Scenarios.

SCENARIO_NAMES = ("benign", "spray", "takeover", "escalation", "token_theft", "export_spike",
                  "stuffing")  # fmt: skip


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    written = {}
    for name in SCENARIO_NAMES:
        folder = tmp_path_factory.mktemp(name)
        files = generate(folder, seed=11, events=MIN_SCENARIO_EVENTS, scenario=name)
        written[name] = (files.audit, json.loads(files.ground_truth.read_text(encoding="utf-8")))
    return written


MIN_SCENARIO_EVENTS = 1000


def audit_by_trace(path: Path) -> dict[str, dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {record["request"]["trace_id"]: record for record in records}


def test_scenario_counts_and_labels(scenarios) -> None:
    for name, (audit, truth) in scenarios.items():
        assert truth["scenario"] == name
        by_trace = audit_by_trace(audit)
        assert len(by_trace) == MIN_SCENARIO_EVENTS, name
        labelled = [trace for trace in truth["trace_ids"] if trace in by_trace]
        # Every labelled audited request is in the file, and the count matches.
        assert len(labelled) == truth["events"], name


def test_benign_scenario_has_no_attack(scenarios) -> None:
    audit, truth = scenarios["benign"]
    assert truth["trace_ids"] == []
    assert truth["actors"] == []
    ips = {record["client"]["ip"] for record in audit_by_trace(audit).values()}
    # Attackers use 203.0.113.128/25, which no benign actor has.
    assert not any(ip.startswith("203.0.113.") and int(ip.rsplit(".", 1)[1]) >= 128
                   for ip in ips)  # fmt: skip


def test_scenario_attack_events_by_kind(scenarios) -> None:
    expected_events = {
        "spray": {"auth.login"},
        "takeover": {"auth.login", "data.read"},
        "escalation": {"auth.login", "authz.denied", "admin.change_role"},
        "token_theft": {"data.read", "data.export"},
        "export_spike": {"data.export"},
        "stuffing": {"auth.login"},
    }
    for name, kinds in expected_events.items():
        audit, truth = scenarios[name]
        by_trace = audit_by_trace(audit)
        found = {by_trace[trace]["event"] for trace in truth["trace_ids"] if trace in by_trace}
        assert found == kinds, name


def test_token_theft_uses_created_token(scenarios) -> None:
    audit, truth = scenarios["token_theft"]
    by_trace = audit_by_trace(audit)
    stolen = [by_trace[trace] for trace in truth["trace_ids"] if trace in by_trace]
    assert {record["security"]["token_id"] for record in stolen} == {truth["token_id"]}
    created = [record for record in by_trace.values()
               if record["event"] == "token.create"
               and record["security"]["token_id"] == truth["token_id"]]  # fmt: skip
    assert len(created) == 1
    assert created[0]["client"]["ip"] not in {record["client"]["ip"] for record in stolen}


def test_unknown_scenario_rejected(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="scenario"):
        generate(tmp_path, scenario="no_such")
