"""Tests for the security lens over the sample incident."""

from __future__ import annotations

from pathlib import Path

import pytest

from secobs.case import Case
from secobs.detect import run_detections
from secobs.errors import UsageError
from secobs.lens import security_lens
from secobs.queries import get_query


@pytest.fixture(scope="module")
def con(demo_case: Path):
    run_detections(demo_case)
    connection = Case.open(demo_case).connect()
    yield connection
    connection.close()


def test_lens_risk_and_events(con) -> None:
    rows = security_lens(con, min_risk=80, events=["admin.*"])
    assert rows.height >= 1
    assert set(rows["event"]) == {"admin.change_role"}
    scores = rows.select("risk_score", "computed_risk_score").rows()
    assert all(max(logged or 0, computed or 0) >= 80 for logged, computed in scores)


def test_lens_matches_catalog_query(con) -> None:
    # The 69 attack exports use an API key and were logged with risk 60 to 75; the service
    # accounts' exports also use API keys but score at most 20.
    function_rows = security_lens(con, min_risk=60, auth_methods=["api_key"], route="/v1/export")
    query_rows = get_query("security_lens").frame(
        con, min_risk=60, auth_method="api_key", route="/v1/export"
    )
    assert function_rows.height == query_rows.height
    assert function_rows.height == 69


def test_lens_on_spans(con) -> None:
    rows = security_lens(con, "spans_enriched", min_risk=90, route="/v1/login")
    assert rows.height > 0
    assert set(rows["http_route"]) == {"/v1/login"}


def test_lens_missing_column(con) -> None:
    with pytest.raises(UsageError, match="auth_method"):
        security_lens(con, "request_metrics", auth_methods=["jwt"])
    with pytest.raises(UsageError, match="no_such_table"):
        security_lens(con, "no_such_table")


def test_lens_query_event_prefix(con) -> None:
    query = get_query("security_lens")
    prefixed = query.frame(con, events="admin.*, token.create")
    assert set(prefixed["event"]) == {"admin.change_role", "token.create"}
    exact = query.frame(con, events="admin.change_role")
    assert exact.height == prefixed.filter(prefixed["event"] == "admin.change_role").height
