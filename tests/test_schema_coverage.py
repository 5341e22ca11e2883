"""Tests for `secobs schema coverage`: required fields on sensitive routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from secobs.cli import main
from secobs.errors import UsageError
from secobs.gates.coverage import check_coverage, route_regex
from tests.test_schema_validate import event_with, write_ndjson

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("pattern", "route", "matches"),
    [
        ("/v1/export", "/v1/export", True),
        ("/v1/export", "/v1/export/1", False),
        ("/v1/admin/*", "/v1/admin/roles", True),
        ("/v1/admin/*", "/v1/admin/roles/42", False),
        ("/v1/admin/*", "/v1/admin", False),
        ("/v1/admin/**", "/v1/admin/roles/42", True),
        ("/v1/admin/**", "/v1/admin", True),
        ("/v1/*/export", "/v1/acme/export", True),
        ("/v1/token?", "/v1/tokens", True),
        ("/v1/token?", "/v1/token/s", False),
        ("/v1/a.b", "/v1/aXb", False),
    ],
)
def test_route_glob(pattern, route, matches):
    assert bool(route_regex(pattern).match(route)) is matches


def route_event(route: str, **changes: object) -> dict:
    return event_with({"request.route": route, **changes})


@pytest.fixture
def events_file(tmp_path) -> Path:
    return write_ndjson(
        tmp_path / "audit.ndjson",
        [
            route_event("/v1/export"),  # 1: complete
            route_event("/v1/export", **{"client": None}),  # 2: no client block
            route_event("/v1/admin/roles", **{"actor": {}}),  # 3: empty actor
            route_event("/v1/admin/roles/42", **{"security": None}),  # 4: only for /v1/admin/**
            route_event("/v1/projects", **{"actor": None}),  # 5: not sensitive
            route_event("/v1/admin/users", **{"actor": {"id": " ", "type": None}}),  # 6: blank
            "{not json",  # 7
        ],
    )


def test_gaps_on_glob_routes(events_file):
    result = check_coverage([events_file], ["/v1/export", "/v1/admin/*", "/v1/old/*"])
    gaps = [(gap.record, gap.route, gap.pattern, gap.missing) for gap in result.gaps]
    assert gaps == [
        (2, "/v1/export", "/v1/export", "client"),
        (3, "/v1/admin/roles", "/v1/admin/*", "actor"),
        (6, "/v1/admin/users", "/v1/admin/*", "actor"),
    ]
    summary = {s.pattern: (s.events, s.events_with_gaps) for s in result.routes}
    assert summary == {"/v1/export": (2, 1), "/v1/admin/*": (2, 2), "/v1/old/*": (0, 0)}
    assert result.unreadable == 1
    assert any("'/v1/old/*' matched no event" in warning for warning in result.warnings)
    assert not result.ok


def test_deep_glob_and_custom_fields(events_file):
    result = check_coverage(
        [events_file], ["/v1/admin/**"], ["actor.id", "security.auth_method", "client.geo.city"]
    )
    gaps = [(gap.record, gap.missing) for gap in result.gaps]
    assert gaps == [
        (3, "actor.id"),
        (4, "security.auth_method"),
        (6, "actor.id"),
    ]
    assert [(s.events, s.events_with_gaps) for s in result.routes] == [(3, 3)]


def test_complete_events_pass(tmp_path):
    path = write_ndjson(tmp_path / "a.ndjson", [route_event("/v1/export")] * 3)
    result = check_coverage([path], ["/v1/export"])
    assert result.ok
    assert result.gaps == []
    assert result.warnings == []


def test_sample_covers_sensitive_routes():
    result = check_coverage(
        [REPO / "sample_data" / "audit.ndjson"], ["/v1/export", "/v1/admin/*", "/v1/tokens"]
    )
    assert result.ok
    assert all(summary.events > 0 for summary in result.routes)


def test_route_with_secret_is_masked(tmp_path):
    secret = "reset" + "Z9" * 10
    path = write_ndjson(
        tmp_path / "a.ndjson", [route_event(f"/v1/export?token={secret}", **{"client": None})]
    )
    result = check_coverage([path], ["/v1/export*"])
    assert len(result.gaps) == 1
    assert secret not in json.dumps(result.to_json())
    assert result.gaps[0].route.startswith("/v1/export?token=[token:***(")


def test_invalid_arguments():
    with pytest.raises(UsageError):
        check_coverage([], [])
    with pytest.raises(UsageError):
        check_coverage([], ["/v1/x"], ["actor..id"])


def test_cli_exit_codes_and_json(events_file, tmp_path):
    runner = CliRunner()
    failed = runner.invoke(
        main, ["schema", "coverage", str(events_file), "--routes", "/v1/export,/v1/admin/*"]
    )
    assert failed.exit_code == 1
    assert f"{events_file}:2: /v1/export (/v1/export) missing client" in failed.output
    assert "/v1/admin/*: 2 events, 2 with gaps" in failed.output

    report = runner.invoke(
        main,
        ["schema", "coverage", str(events_file), "--routes", "/v1/export", "--json"],
    )
    assert report.exit_code == 1
    parsed = json.loads(report.stdout)
    assert parsed["gaps"][0] == {
        "path": str(events_file),
        "record": 2,
        "route": "/v1/export",
        "pattern": "/v1/export",
        "missing": "client",
    }

    clean = write_ndjson(tmp_path / "clean.ndjson", [route_event("/v1/export")])
    passed = runner.invoke(
        main, ["schema", "coverage", str(clean), "--routes", "/v1/export,/v1/renamed"]
    )
    assert passed.exit_code == 0
    assert "warning: route pattern '/v1/renamed' matched no event" in passed.stderr

    usage = runner.invoke(main, ["schema", "coverage", str(clean)])
    assert usage.exit_code == 2
    bad_field = runner.invoke(
        main, ["schema", "coverage", str(clean), "--routes", "/x", "--require", "a..b"]
    )
    assert bad_field.exit_code == 2
