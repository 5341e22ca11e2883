"""Playbooks over a case whose telemetry carries markup: every HTML output shows it as text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secobs.ingest import ingest
from secobs.playbooks import (
    AbuseBaselinesPlaybook,
    AccountTakeoverPlaybook,
    AdhocSqlPlaybook,
    BlastRadiusPlaybook,
    EvidenceIntegrityPlaybook,
    TriageOverviewPlaybook,
)

from .conftest import write_lines

SCRIPT = "<script>alert(1)</script>"
HOSTILE_ACTOR = "<img src=x onerror=alert(1)>"
HOSTILE_ROUTE = "/v1/<script>alert(1)</script>"
HOSTILE_TOKEN = "tok_<b>stolen</b>"
TRACE_LOGIN = "0af7651916cd43dd8448eb211c80319c"
TRACE_EXPORT = "4bf92f3577b34da6a3ce929d0e0e4736"
BURST_IP = "198.51.100.66"
RAW_MARKUP = (SCRIPT, HOSTILE_ACTOR, "<b>stolen</b>")
ESCAPED_ACTOR = "&lt;img src=x onerror=alert(1)&gt;"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


def audit_event(ts: str, event: str, **fields) -> str:
    record = {
        "schema": "audit.v1",
        "ts": ts,
        "service": "auth",
        "env": "prod",
        "version": "git:9f3c2a1",
        "event": event,
        "severity": "info",
        "result": fields.get("result", "success"),
        "request": {
            "request_id": fields.get("request_id"),
            "trace_id": fields.get("trace_id"),
            "method": "POST",
            "route": fields.get("route", HOSTILE_ROUTE),
        },
        "actor": {
            "type": "user",
            "id": fields.get("actor", HOSTILE_ACTOR),
            "tenant_id": "acme",
            "roles": ["member"],
        },
        "client": {
            "ip": fields.get("ip", "203.0.113.5"),
            "ua": SCRIPT,
            "geo": {"country": fields.get("country", "NZ"), "city": fields.get("city", "Auckland")},
        },
        "security": {
            "auth_method": "password",
            "token_id": fields.get("token_id"),
            "mfa": False,
            "risk_score": fields.get("risk", 10),
            "signals": [],
        },
    }
    return json.dumps(record)


def span(trace_id: str, span_id: str, parent: str | None, name: str, start_s: int, **attrs) -> dict:
    start = 1771920000 + start_s
    values = [{"key": key, "value": {"stringValue": value}} for key, value in attrs.items()]
    record = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(start * 10**9),
        "endTimeUnixNano": str(start * 10**9 + 250_000_000),
        "attributes": values,
        "status": {},
    }
    if parent:
        record["parentSpanId"] = parent
    return record


def spans_line(service: str, spans: list[dict]) -> str:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]})


def build_hostile_case(folder: Path) -> Path:
    """Ingest a small case with markup in actor ids, user agents, routes and span names."""
    audit = [
        audit_event(
            "2026-02-24T08:00:00Z",
            "auth.login",
            risk=95,
            request_id="r-1",
            trace_id=TRACE_LOGIN,
        ),
        # Ten minutes later from New York: far faster than any flight from Auckland.
        audit_event(
            "2026-02-24T08:10:00Z",
            "auth.login",
            risk=90,
            request_id="r-2",
            country="US",
            city="New York",
            ip="192.0.2.10",
        ),
        audit_event("2026-02-24T08:12:00Z", "token.create", risk=60, token_id=HOSTILE_TOKEN),
        audit_event(
            "2026-02-24T08:20:00Z",
            "data.export",
            risk=70,
            trace_id=TRACE_EXPORT,
            route="/v1/export",
        ),
    ]
    # Six failed logins from one address within five minutes: one auth-failure burst.
    audit += [
        audit_event(
            f"2026-02-24T09:0{minute}:00Z",
            "auth.login",
            result="failure",
            actor=f"victim-{minute}",
            ip=BURST_IP,
            risk=40,
        )
        for minute in range(6)
    ]
    requests = [
        "ts,request_id,trace_id,service,env,route,method,status_code,latency_ms,bytes,"
        "client_ip,user_agent,actor_id,tenant_id",
        f'2026-02-24T08:00:00.5Z,r-1,{TRACE_LOGIN},auth,prod,"{HOSTILE_ROUTE}",POST,200,1800,'
        f'512,203.0.113.5,"{SCRIPT}","{HOSTILE_ACTOR}",acme',
    ]
    who = {"enduser.id": HOSTILE_ACTOR, "tenant.id": "acme", "http.route": HOSTILE_ROUTE}
    spans = [
        spans_line(
            "gateway",
            [
                span(TRACE_LOGIN, "b7ad6b7169203331", None, SCRIPT, 0, **who),
                span(TRACE_LOGIN, "00f067aa0ba902b7", "b7ad6b7169203331", "check", 0, **who),
                span(
                    TRACE_EXPORT,
                    "53995c3f42cd8ad8",
                    None,
                    "export",
                    1200,
                    **{**who, "http.route": "/v1/export/<script>alert(1)</script>"},
                ),
            ],
        )
    ]
    sources = [
        write_lines(folder / "audit.ndjson", audit),
        write_lines(folder / "requests.csv", requests),
        write_lines(folder / "spans.otlp.jsonl", spans),
    ]
    result = ingest(folder / "case", sources)
    assert result.quarantined == 0, result.to_json()
    return folder / "case"


@pytest.fixture(scope="module")
def hostile_case(tmp_path_factory) -> Path:
    return build_hostile_case(tmp_path_factory.mktemp("hostile"))


def rendered_html(playbook) -> str:
    """Return every HTML and SVG output of the playbook's output area and status line."""
    texts = [playbook.status.value]
    for output in playbook.output.outputs:
        data = output["data"]
        texts += [data.get("text/html", ""), data.get("image/svg+xml", "")]
    return "\n".join(texts)


def assert_no_markup(text: str) -> None:
    for raw in RAW_MARKUP:
        assert raw not in text
    assert "<script" not in text
    assert "<img" not in text


def test_hostile_case_holds_markup(hostile_case):
    playbook = AdhocSqlPlaybook(
        hostile_case,
        sql="SELECT DISTINCT actor_id, user_agent, route FROM audit_events WHERE risk_score > 80",
        parameters="",
    )
    rows = playbook.result.rows()
    assert rows == [(HOSTILE_ACTOR, SCRIPT, HOSTILE_ROUTE)]


def test_account_takeover_escapes_markup(hostile_case):
    playbook = AccountTakeoverPlaybook(hostile_case)

    assert playbook.actor_picker.value == HOSTILE_ACTOR
    text = rendered_html(playbook)
    assert_no_markup(text)
    assert ESCAPED_ACTOR in text
    assert ESCAPED_SCRIPT in text  # the user agent in the first-seen table
    assert playbook.legs["impossible"].to_list() == [True]


def test_triage_escapes_markup(hostile_case):
    playbook = TriageOverviewPlaybook(hostile_case)

    text = rendered_html(playbook)
    assert_no_markup(text)
    assert ESCAPED_ACTOR in text
    assert playbook.tables["top_actors"]["actor_id"][0] == HOSTILE_ACTOR


def test_blast_radius_escapes_markup(hostile_case):
    playbook = BlastRadiusPlaybook(hostile_case, actor_id=HOSTILE_ACTOR)

    assert set(playbook.radius.traces) == {TRACE_LOGIN, TRACE_EXPORT}
    text = rendered_html(playbook)
    assert_no_markup(text)
    assert ESCAPED_ACTOR in text
    assert ESCAPED_SCRIPT in text


def test_blast_radius_token_seed_escapes(hostile_case):
    playbook = BlastRadiusPlaybook(hostile_case, token_id=HOSTILE_TOKEN)

    text = rendered_html(playbook)
    assert_no_markup(text)
    assert "tok_&lt;b&gt;stolen&lt;/b&gt;" in text


def test_abuse_baselines_escapes_markup(hostile_case):
    playbook = AbuseBaselinesPlaybook(hostile_case)

    assert playbook.bursts["client_ip"].to_list() == [BURST_IP]
    assert_no_markup(rendered_html(playbook))


def test_adhoc_sql_escapes_results_and_errors(hostile_case):
    playbook = AdhocSqlPlaybook(
        hostile_case,
        sql="SELECT actor_id, user_agent, count(*) AS events FROM audit_events GROUP BY ALL",
        parameters="",
    )
    text = rendered_html(playbook)
    assert_no_markup(text)
    assert ESCAPED_ACTOR in text

    # A value bound as a parameter comes back as data, and is escaped when shown.
    playbook.sql_box.value = "SELECT $label AS label"
    playbook.parameters_box.value = f"label = '{SCRIPT}'"
    playbook.run_button.click()
    assert playbook.result["label"].to_list() == [SCRIPT]
    assert_no_markup(rendered_html(playbook))


def test_evidence_integrity_escapes_paths(tmp_path):
    folder = tmp_path / HOSTILE_ACTOR
    folder.mkdir()
    case = build_hostile_case(folder)
    playbook = EvidenceIntegrityPlaybook(case)
    playbook.check_button.click()

    text = rendered_html(playbook)
    assert_no_markup(text)
    assert ESCAPED_ACTOR in text
    assert playbook.source_check["status"].to_list() == ["unchanged"] * 3
