"""The correlation query catalog: headers, binding, and golden results on small cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from secobs.case import Case
from secobs.errors import QueryError
from secobs.ingest import ingest
from secobs.investigation import blast_radius
from secobs.queries import _PLACEHOLDER, _strip_comments, catalog, get_query, parse_query

from .conftest import write_lines

T = "0af7651916cd43dd8448eb211c80319c"
T2 = "1bf7651916cd43dd8448eb211c80319d"
T3 = "2cf7651916cd43dd8448eb211c80319e"


def audit(
    ts,
    event,
    actor,
    *,
    risk=0,
    request_id=None,
    trace_id=None,
    span_id=None,
    token_id=None,
    result="success",
    ip="203.0.113.5",
    country="DE",
):
    return json.dumps(
        {
            "schema": "audit.v1",
            "ts": ts,
            "service": "auth",
            "event": event,
            "result": result,
            "request": {
                "request_id": request_id,
                "trace_id": trace_id,
                "span_id": span_id,
                "route": "/v1/login",
                "method": "POST",
            },
            "actor": {"type": "user", "id": actor, "tenant_id": "acme", "roles": ["member"]},
            "client": {"ip": ip, "ua": "test-agent", "geo": {"country": country}},
            "security": {
                "auth_method": "password",
                "token_id": token_id,
                "mfa": False,
                "risk_score": risk,
                "signals": [],
            },
        }
    )


def span(trace_id, span_id, parent, service, name, start_ns, end_ns, **attributes):
    attribute_list = []
    for key, value in attributes.items():
        key = key.replace("__", ".")
        if isinstance(value, int):
            attribute_list.append({"key": key, "value": {"intValue": str(value)}})
        else:
            attribute_list.append({"key": key, "value": {"stringValue": value}})
    body = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "attributes": attribute_list,
    }
    if parent:
        body["parentSpanId"] = parent
    return {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {}, "spans": [body]}],
    }


def ns(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000


@pytest.fixture
def golden_case(tmp_path: Path) -> Path:
    """A small case: two risky logins (one slow by request_id, one slow only by trace_id),
    a quiet login, an actor's token and an export trace with a child chain."""
    audit_path = write_lines(
        tmp_path / "audit.ndjson",
        [
            audit(
                "2026-02-24T10:00:00Z",
                "auth.login",
                "mallory",
                risk=90,
                request_id="r1",
                trace_id=T,
            ),
            audit(
                "2026-02-24T10:05:00Z",
                "auth.login",
                "bob",
                risk=80,
                request_id="r-missing",
                trace_id=T2,
            ),
            audit(
                "2026-02-24T10:06:00Z", "auth.login", "carol", risk=95, request_id="r3", trace_id=T3
            ),
            audit("2026-02-24T10:07:00Z", "auth.login", "dave", risk=10, request_id="r4"),
            audit(
                "2026-02-24T10:10:00Z",
                "token.create",
                "mallory",
                risk=60,
                request_id="r5",
                token_id="tok_abc",
            ),
            audit(
                "2026-02-24T10:20:00Z",
                "data.export",
                "mallory",
                risk=70,
                request_id="r6",
                trace_id="3d" + "0" * 30,
                span_id="00000000000000a1",
                token_id="tok_abc",
            ),
        ],
    )
    requests_path = write_lines(
        tmp_path / "requests.csv",
        [
            "ts,request_id,trace_id,service,env,route,method,status_code,latency_ms,bytes,client_ip,user_agent,actor_id,tenant_id",
            f"2026-02-24T10:00:00Z,r1,{T},auth,prod,/v1/login,POST,200,1500.5,10,203.0.113.5,ua,mallory,acme",
            f"2026-02-24T10:05:00Z,r2,{T2},auth,prod,/v1/login,POST,200,2500,10,203.0.113.6,ua,bob,acme",
            f"2026-02-24T10:06:00Z,r3,{T3},auth,prod,/v1/login,POST,200,120,10,203.0.113.7,ua,carol,acme",
            "2026-02-24T10:07:00Z,r4,,auth,prod,/v1/login,POST,200,3000,10,203.0.113.8,ua,dave,acme",
            "2026-02-24T10:15:00Z,r9,,billing,prod,/v1/billing,GET,200,80,10,203.0.113.5,ua,mallory,acme",
        ],
    )
    export_trace = "3d" + "0" * 30
    start = ns("2026-02-24T10:20:00Z")
    spans_path = tmp_path / "spans.otlp.jsonl"
    documents = [
        span(
            export_trace,
            "00000000000000a0",
            None,
            "gateway",
            "POST /v1/export",
            start,
            start + 5_000_000_000,
            enduser__id="mallory",
            tenant__id="acme",
            http__route="/v1/export",
            security__token_id="tok_abc",
        ),
        span(
            export_trace,
            "00000000000000a1",
            "00000000000000a0",
            "export-worker",
            "export",
            start + 1,
            start + 4_000_000_000,
            tenant__id="acme",
        ),
        span(
            export_trace,
            "00000000000000a2",
            "00000000000000a1",
            "storage",
            "read rows",
            start + 2,
            start + 3_000_000_000,
        ),
        span(
            T3,
            "00000000000000b0",
            None,
            "gateway",
            "POST /v1/login",
            ns("2026-02-24T10:06:00Z"),
            ns("2026-02-24T10:06:00Z") + 120_000_000,
            enduser__id="carol",
        ),
    ]
    spans_path.write_text(json.dumps({"resourceSpans": documents}) + "\n")
    ingest(tmp_path / "case", [audit_path, requests_path, spans_path])
    return tmp_path / "case"


def test_catalog_has_the_three_queries():
    assert {"risky_logins_with_latency", "actor_timeline", "blast_radius"} <= set(catalog())


@pytest.mark.parametrize("name", sorted(catalog()))
def test_declared_parameters_match_placeholders(name):
    query = catalog()[name]
    used = set(_PLACEHOLDER.findall(_strip_comments(query.sql)))
    assert used == {parameter.name for parameter in query.parameters}
    assert query.description


def test_header_mismatch_is_rejected():
    text = "-- name: broken\n-- param: a INTEGER = 1\nSELECT $b\n"
    with pytest.raises(QueryError, match="do not match"):
        parse_query(text, "broken.sql")


def test_parameter_values_are_bound_not_formatted(golden_case):
    con = Case.open(golden_case).connect()
    hostile = "x' OR '1'='1"
    rows = get_query("actor_timeline").run(con, actor_id=hostile).fetchall()
    assert rows == []
    assert con.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 6


def test_invalid_parameter_names_the_query():
    with pytest.raises(QueryError, match="risky_logins_with_latency.*min_risk"):
        get_query("risky_logins_with_latency").bind({"min_risk": "high"})
    with pytest.raises(QueryError, match="unknown parameter"):
        get_query("risky_logins_with_latency").bind({"nope": "1"})
    with pytest.raises(QueryError, match="missing required parameter actor_id"):
        get_query("actor_timeline").bind({})
    with pytest.raises(QueryError, match="give one of"):
        get_query("blast_radius").bind({})


def test_risky_logins_join_request_then_trace(golden_case):
    con = Case.open(golden_case).connect()
    rows = get_query("risky_logins_with_latency").frame(con)
    assert rows["actor_id"].to_list() == ["mallory", "bob"]
    assert rows["latency_ms"].to_list() == [1500.5, 2500.0]
    assert rows["joined_on"].to_list() == ["request_id", "trace_id"]


def test_risky_logins_thresholds_are_inclusive(golden_case):
    con = Case.open(golden_case).connect()
    query = get_query("risky_logins_with_latency")
    rows = query.frame(con, min_risk=90, min_latency_ms=1500.5)
    assert rows["actor_id"].to_list() == ["mallory"]
    slow_and_quiet = query.frame(con, min_risk=0, min_latency_ms=120)
    assert sorted(slow_and_quiet["actor_id"].to_list()) == ["bob", "carol", "dave", "mallory"]
    carol = slow_and_quiet.filter(slow_and_quiet["actor_id"] == "carol")
    assert carol["joined_on"].to_list() == ["request_id"]


def test_actor_timeline_merges_sources_in_time_order(golden_case):
    con = Case.open(golden_case).connect()
    rows = get_query("actor_timeline").frame(con, actor_id="mallory")
    assert rows["source"].to_list() == ["audit", "request", "audit", "request", "audit", "span"]
    assert rows["ts"].is_sorted()
    assert rows["activity"].to_list()[:2] == ["auth.login", "POST /v1/login"]


def test_actor_timeline_window(golden_case):
    con = Case.open(golden_case).connect()
    rows = get_query("actor_timeline").frame(
        con, actor_id="mallory", start="2026-02-24T10:10:00Z", end="2026-02-24T10:20:00Z"
    )
    assert rows["activity"].to_list() == ["token.create", "GET /v1/billing"]
    assert rows["ts"].min() == datetime(2026, 2, 24, 10, 10, tzinfo=UTC)


def test_blast_radius_from_token_reaches_descendants(golden_case):
    con = Case.open(golden_case).connect()
    radius = blast_radius(con, token_id="tok_abc")
    assert radius.traces == ["3d" + "0" * 30]
    assert radius.services == ["export-worker", "gateway", "storage"]
    assert radius.actors == ["mallory"]
    assert radius.tenants == ["acme"]
    assert radius.export_traces == 1
    relations = dict(zip(radius.spans["span_id"], radius.spans["relation"], strict=True))
    assert relations == {
        "00000000000000a0": "seed",
        "00000000000000a1": "seed",
        "00000000000000a2": "descendant",
    }
    depths = dict(zip(radius.spans["span_id"], radius.spans["depth"], strict=True))
    assert depths == {"00000000000000a0": 0, "00000000000000a1": 1, "00000000000000a2": 2}


def test_blast_radius_from_actor(golden_case):
    con = Case.open(golden_case).connect()
    radius = blast_radius(con, actor_id="carol")
    assert radius.traces == [T3]
    assert radius.spans["span_id"].to_list() == ["00000000000000b0"]


def test_blast_radius_accepts_upper_case_trace_id(golden_case):
    con = Case.open(golden_case).connect()
    radius = blast_radius(con, trace_id=("3D" + "0" * 30))
    assert radius.spans.height == 3


def test_blast_radius_on_real_trace(tmp_path, realdata):
    path = realdata / "otlp" / "jaeger-integration-example_trace.json"
    ingest(tmp_path / "case", [path])
    con = Case.open(tmp_path / "case").connect()
    radius = blast_radius(con, trace_id="00000000000000000000000000000011")
    assert radius.spans.height == 5
    assert radius.services == ["example-service-1", "example-service-2", "example-service-3"]


def test_queries_run_on_case_without_audit_events(tmp_path, realdata):
    ingest(tmp_path / "case", [realdata / "otlp" / "jaeger-integration-example_trace.json"])
    con = Case.open(tmp_path / "case").connect()
    assert get_query("actor_timeline").run(con, actor_id="anyone").fetchall() == []
    assert get_query("risky_logins_with_latency").run(con).fetchall() == []


def test_blast_radius_terminates_on_cycles(tmp_path, case_inputs):
    """Self-parent, a two-span cycle and an orphan: the walk ends and flags each."""
    ingest(tmp_path / "case", [case_inputs / "C07_span_tree_anomalies.csv"])
    con = Case.open(tmp_path / "case").connect()
    trace = "5f1d9c0e7a3b4c2d8e6f0a1b2c3d4e5f"
    names = {str(n) * 16: letter for n, letter in zip(range(1, 9), "ABCDEFGH", strict=True)}

    def descendants(letter):
        span_id = next(key for key, value in names.items() if value == letter)
        spans = blast_radius(con, trace_id=trace, span_id=span_id).spans
        return {
            names[row["span_id"]]
            for row in spans.iter_rows(named=True)
            if row["relation"] == "descendant"
        }

    assert descendants("A") == {"B", "C"}
    assert descendants("B") == {"C"}
    assert descendants("G") == {"H"}
    assert descendants("D") == set()
    assert descendants("E") == {"F"}
    assert descendants("F") == {"E"}

    everything = blast_radius(con, trace_id=trace).spans
    assert everything.height == 8
    flags = {names[row["span_id"]]: row["flags"] for row in everything.iter_rows(named=True)}
    assert flags["D"] == ["self_parent"]
    assert flags["G"] == ["orphan"]
    assert flags["E"] == ["parent_cycle"]
    assert flags["F"] == ["parent_cycle"]
    assert flags["A"] == []
    assert flags["H"] == []
    roots = {names[row["span_id"]] for row in everything.iter_rows(named=True) if row["depth"] == 0}
    assert roots == {"A", "D", "G"}


@pytest.mark.parametrize(
    ("name", "route", "expected"),
    [
        ("POST /v1/export", None, True),
        ("export.serialize", None, True),
        ("export", None, True),
        ("mail not exported", None, False),
        ("exporter heartbeat", None, False),
        ("GET /v1/reports", "/v1/export/jobs", True),
    ],
)
def test_blast_radius_export_spans(tmp_path, name, route, expected):
    attributes = {"http__route": route} if route else {}
    document = {
        "resourceSpans": [span(T, "00000000000000c0", None, "svc", name, 1, 2, **attributes)]
    }
    path = tmp_path / "one.json"
    path.write_text(json.dumps(document))
    ingest(tmp_path / "case", [path])
    con = Case.open(tmp_path / "case").connect()
    radius = blast_radius(con, trace_id=T)
    assert radius.spans["is_export"].to_list() == [expected]
