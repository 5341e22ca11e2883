"""The account-takeover playbook over a tiny case: actor order, refresh on change, export."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from secobs.errors import UsageError
from secobs.ingest import ingest
from secobs.playbook import AccountTakeoverPlaybook

from .conftest import write_lines

HOSTILE_ACTOR = "<img src=x onerror=alert(1)>"
REQUEST_HEADER = (
    "ts,request_id,trace_id,service,env,route,method,status_code,latency_ms,bytes,"
    "client_ip,user_agent,actor_id,tenant_id"
)


def audit(ts: str, actor: str, risk: int, request_id: str, *, event: str = "auth.login") -> str:
    return json.dumps(
        {
            "schema": "audit.v1",
            "ts": ts,
            "service": "auth",
            "env": "prod",
            "version": "git:9f3c2a1",
            "event": event,
            "severity": "info",
            "result": "success",
            "request": {"request_id": request_id, "method": "POST", "route": "/v1/login"},
            "actor": {"type": "user", "id": actor, "tenant_id": "acme", "roles": ["member"]},
            "client": {"ip": "203.0.113.5", "ua": "test-agent", "geo": {"country": "NZ"}},
            "security": {
                "auth_method": "password",
                "mfa": False,
                "risk_score": risk,
                "signals": ["geo_anomaly"] if risk >= 70 else [],
            },
        }
    )


def request(ts: str, request_id: str, actor: str, latency_ms: float, status: int = 200) -> str:
    return (
        f"{ts},{request_id},,auth,prod,/v1/login,POST,{status},{latency_ms},512,"
        f"203.0.113.5,test-agent,{actor},acme"
    )


# Audit events: bob is the riskiest (95), then carol (60), alice (20), the hostile id (10).
AUDIT_LINES = [
    audit("2026-02-24T08:00:00Z", "alice", 20, "r-a1"),
    audit("2026-02-24T09:00:00Z", "alice", 5, "r-a2", event="data.export"),
    audit("2026-02-24T08:30:00Z", "bob", 95, "r-b1"),
    audit("2026-02-24T10:00:00Z", "bob", 40, "r-b2", event="token.create"),
    audit("2026-02-24T07:00:00Z", "carol", 60, "r-c1"),
    audit("2026-02-24T07:30:00Z", HOSTILE_ACTOR, 10, "r-h1"),
]
REQUEST_LINES = [
    REQUEST_HEADER,
    request("2026-02-24T08:00:00.250Z", "r-a1", "alice", 120.0),
    request("2026-02-24T09:00:00.400Z", "r-a2", "alice", 300.0),
    request("2026-02-24T11:00:00Z", "r-a3", "alice", 90.0, status=403),
    request("2026-02-24T08:30:00.500Z", "r-b1", "bob", 1800.0),
    request("2026-02-24T10:00:00.100Z", "r-b2", "bob", 200.0),
    request("2026-02-24T12:00:00Z", "r-d1", "dave", 150.0),
]


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("playbook")
    sources = [
        write_lines(folder / "audit.ndjson", AUDIT_LINES),
        write_lines(folder / "requests.csv", REQUEST_LINES),
    ]
    result = ingest(folder / "case", sources)
    assert result.loaded["audit_events"] == 6
    assert result.loaded["request_metrics"] == 6
    return folder / "case"


def summary_html(playbook: AccountTakeoverPlaybook) -> str:
    return playbook.output.outputs[0]["data"]["text/html"]


def test_playbook_lists_riskiest_actor_first(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir)

    values = [value for _, value in playbook.actor_picker.options]
    assert values == ["bob", "carol", "alice", HOSTILE_ACTOR]
    assert playbook.actor_picker.value == "bob"
    assert playbook.actor_picker.options[0][0] == "bob (max risk 95, 2 audit events)"


def test_playbook_default_window_is_whole_activity(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir)

    assert playbook.start_picker.value == ""
    assert playbook.end_picker.value == ""
    # bob: two audit events and two requests.
    assert set(playbook.timeline["request_id"]) == {"r-b1", "r-b2"}
    assert playbook.timeline.height == 4
    assert set(playbook.charts) == {"timeline", "latency_risk", "login_map"}


def test_playbook_risky_logins_use_thresholds(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir)

    # Only bob's login reaches risk 70 and 1000 ms.
    assert playbook.risky_logins["request_id"].to_list() == ["r-b1"]
    assert playbook.risky_logins["latency_ms"].to_list() == [1800.0]


def test_changing_actor_reruns_timeline(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir)
    playbook.actor_picker.value = "alice"

    timeline = playbook.timeline
    assert set(timeline["request_id"]) == {"r-a1", "r-a2", "r-a3"}
    assert timeline.height == 5
    assert timeline["ts"].to_list() == sorted(timeline["ts"].to_list())
    assert summary_html(playbook).startswith("<b>alice</b>: 5 timeline rows")


def test_changing_window_narrows_rows(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir, actor_id="alice")
    playbook.start_picker.value = "2026-02-24T08:30:00Z"

    assert set(playbook.timeline["request_id"]) == {"r-a2", "r-a3"}
    assert playbook.timeline.height == 3

    playbook.end_picker.value = "2026-02-24T10:00:00Z"
    assert set(playbook.timeline["request_id"]) == {"r-a2"}
    assert playbook.timeline.height == 2


def test_window_filters_risky_logins(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir, start="2026-02-24T09:00:00Z")

    assert playbook.risky_logins.height == 0


def test_window_accepts_datetime(case_dir):
    playbook = AccountTakeoverPlaybook(
        case_dir, actor_id="bob", end=datetime.fromisoformat("2026-02-24T09:00:00+00:00")
    )

    assert playbook.end_picker.value == "2026-02-24T09:00:00+00:00"
    assert set(playbook.timeline["request_id"]) == {"r-b1"}


def test_actor_without_audit_events(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir, actor_id="dave")

    assert playbook.actor_picker.options[-1] == ("dave (no audit events)", "dave")
    assert playbook.timeline["source"].to_list() == ["request"]


def test_invalid_window_shows_error(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir)
    playbook.start_picker.value = "yesterday"

    assert "invalid window start" in playbook.error
    assert playbook.timeline is None
    assert playbook.charts == {}
    assert "yesterday" in playbook.output.outputs[0]["data"]["text/plain"]

    playbook.start_picker.value = ""
    assert playbook.error is None
    assert playbook.timeline.height == 4


def test_invalid_arguments_raise(case_dir):
    with pytest.raises(UsageError, match="invalid window end"):
        AccountTakeoverPlaybook(case_dir, end="not a time")
    with pytest.raises(UsageError, match="not before end"):
        AccountTakeoverPlaybook(case_dir, start="2026-02-24T10:00:00Z", end="2026-02-24T09:00:00Z")


def test_summary_escapes_actor_id(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir, actor_id=HOSTILE_ACTOR)

    html = summary_html(playbook)
    assert HOSTILE_ACTOR not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    svg = playbook.output.outputs[1]["data"]["image/svg+xml"]
    assert "<img" not in svg


def test_output_shows_charts_as_svg(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir)

    kinds = [next(iter(output["data"])) for output in playbook.output.outputs]
    # Summary, three charts (timeline, latency versus risk, login map), then the tables.
    assert kinds == ["text/html", *["image/svg+xml"] * 3, "text/html", "text/html"]


def test_widget_holds_pickers_and_output(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir)
    box = playbook.widget()

    assert box.children[0] is playbook.actor_picker
    assert box.children[1].children == (playbook.start_picker, playbook.end_picker)
    assert box.children[2].children == (playbook.export_button, playbook.status)
    assert box.children[3] is playbook.output


def test_export_writes_png_and_svg(case_dir, tmp_path):
    playbook = AccountTakeoverPlaybook(case_dir)
    paths = playbook.export(tmp_path / "charts")

    assert sorted(path.name for path in paths) == [
        "latency_risk.png",
        "latency_risk.svg",
        "login_map.png",
        "login_map.svg",
        "timeline.png",
        "timeline.svg",
    ]
    for path in paths:
        content = path.read_bytes()
        if path.suffix == ".png":
            assert content.startswith(b"\x89PNG")
        else:
            assert content.startswith(b"<svg")


def test_export_without_charts_raises(case_dir, tmp_path):
    playbook = AccountTakeoverPlaybook(case_dir)
    playbook.end_picker.value = "bad"

    with pytest.raises(UsageError, match="no charts"):
        playbook.export(tmp_path)


def test_case_without_audit_events(tmp_path):
    source = write_lines(tmp_path / "requests.csv", REQUEST_LINES)
    ingest(tmp_path / "case", [source])
    playbook = AccountTakeoverPlaybook(tmp_path / "case")

    assert playbook.actor_picker.options == ()
    assert playbook.actor_picker.value is None
    assert playbook.timeline is None
    assert set(playbook.charts) == {"latency_risk"}
    assert summary_html(playbook).startswith("No actor to follow")


def test_export_button_writes_to_reports(tmp_path):
    source = write_lines(tmp_path / "audit.ndjson", AUDIT_LINES)
    ingest(tmp_path / "case", [source])
    playbook = AccountTakeoverPlaybook(tmp_path / "case")
    playbook.export_button.click()

    folder = tmp_path / "case" / "reports" / "account_takeover"
    assert sorted(path.name for path in playbook.exported) == sorted(
        path.name for path in folder.iterdir()
    )
    assert len(playbook.exported) == 6
    assert "Saved 6 files" in playbook.status.value


def test_export_button_reports_failure(case_dir):
    playbook = AccountTakeoverPlaybook(case_dir)
    playbook.end_picker.value = "bad"
    playbook.export_button.click()

    assert playbook.exported == []
    assert playbook.status.value.startswith("<span>Export failed: no charts to export")


def test_logins_without_coordinates_are_skipped(case_dir):
    # The tiny case's logins name a country but no city, so none can be placed on the map.
    playbook = AccountTakeoverPlaybook(case_dir, actor_id="bob")

    assert playbook.logins.height == 1
    assert playbook.logins["lat"].to_list() == [None]
    assert playbook.legs.height == 0
