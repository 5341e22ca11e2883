"""Tests that ingest redacts secrets before anything reaches the lake or the quarantine."""

from __future__ import annotations

import copy
import csv
import json
import logging
import stat
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from secobs.cli import main
from secobs.ingest import ingest
from secobs.secrets import MARKER, Redactor, load_or_create_key, redaction
from tests import secret_corpus as corpus
from tests.test_schema_validate import FULL_EVENT

PLANTED = [
    corpus.AWS_KEY_ID,
    corpus.BEARER,
    corpus.PASSWD,
    corpus.GITHUB_TOKEN,
    corpus.SLACK_TOKEN,
    corpus.API_KEY,
    corpus.JWT,
]


def audit_line(**changes: object) -> str:
    event = copy.deepcopy(FULL_EVENT)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = event
        for part in parents:
            node = node[part]
        node[last] = value
    return json.dumps(event, separators=(",", ":"))


@pytest.fixture
def sources(tmp_path) -> list[Path]:
    audit = tmp_path / "audit.ndjson"
    lines = [
        audit_line(),
        # Clean lines: mapped by the DuckDB fast path (an Arrow batch).
        audit_line(client__ua=f"sdk {corpus.AWS_KEY_ID}"),
        audit_line(request__route=f"/v1/export?api_key={corpus.API_KEY}"),
        # Upper-case trace id: mapped by the Python reader (a Row).
        audit_line(
            request__trace_id=FULL_EVENT["request"]["trace_id"].upper(),
            reason=None,
            client__ua=f"Bearer {corpus.BEARER}",
        ),
        # Rejected: risk score out of range, secret in an unmapped field.
        audit_line(security__risk_score=500, headers={"authorization": f"Bearer {corpus.BEARER}"}),
        # Rejected: not JSON at all.
        f'{{"event": "auth.login", "msg": "passwd={corpus.PASSWD}" ',
        audit_line(actor__id=corpus.GITHUB_TOKEN),
    ]
    audit.write_text("\n".join(lines) + "\n")
    requests = tmp_path / "requests.csv"
    with requests.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            ["ts", "request_id", "trace_id", "route", "status_code", "latency_ms", "user_agent"]
        )
        writer.writerow(
            [
                "2026-02-23T00:00:01Z",
                "r1",
                "",
                f"/hook?token={corpus.SLACK_TOKEN}",
                200,
                1.5,
                "curl",
            ]
        )
        writer.writerow(["2026-02-23T00:00:02Z", "r2", "", "/v1/x", 200, 2.0, f"jwt {corpus.JWT}"])
        writer.writerow(
            ["2026-02-23T00:00:03Z", "r3", "", "/v1/x", "not-a-number", 2.0, corpus.JWT]
        )
    return [audit, requests]


def all_strings(case: Path) -> str:
    """Return every value of every Parquet file in the case, as one text."""
    parts = []
    for path in sorted(case.rglob("*.parquet")):
        parts.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
    return "\n".join(parts)


def manifest_rows(case: Path) -> dict[str, dict]:
    rows = [pq.read_table(path).to_pylist()[0] for path in (case / "manifest").glob("*.parquet")]
    return {Path(row["path"]).name: row for row in rows}


def test_ingest_stores_no_secret(tmp_path, sources, caplog):
    caplog.set_level(logging.DEBUG, logger="secobs")
    case = tmp_path / "case"
    runner = CliRunner()
    outcome = runner.invoke(main, ["-v", "ingest", str(case), *map(str, sources), "--json"])
    assert outcome.exit_code == 1  # records were quarantined
    stored = all_strings(case)
    for secret in PLANTED:
        assert secret not in outcome.output
        assert secret not in caplog.text
        assert secret not in stored
    assert MARKER.search(stored)

    manifest = manifest_rows(case)
    # Audit: the ua and route secrets appear in a column and in raw (2 x 2), the Row's bearer
    # in ua and raw (2), the rejected bearer once in raw, the broken line's passwd once, the
    # actor id in actor_id and raw (2).
    assert manifest["audit.ndjson"]["redacted"] == 4 + 2 + 1 + 1 + 2
    # Requests: the route token and the user agent JWT (loaded), the JWT in the quarantined row.
    assert manifest["requests.csv"]["redacted"] == 3
    assert "redacted" in caplog.text


def test_same_secret_same_marker(tmp_path, sources):
    case = tmp_path / "case"
    ingest(case, sources)
    key = load_or_create_key(case / "evidence" / "redaction.key")
    expected = Redactor(key).marker("aws_access_key_id", corpus.AWS_KEY_ID)
    rows = pq.read_table(next((case / "lake" / "audit_events").rglob("*.parquet"))).to_pylist()
    row = next(r for r in rows if r["user_agent"] and "aws_access_key_id" in r["user_agent"])
    assert row["user_agent"] == f"sdk {expected}"
    assert expected in row["raw"]
    assert json.loads(row["raw"])["client"]["ua"] == f"sdk {expected}"


def test_key_file_is_private(tmp_path, sources):
    case = tmp_path / "case"
    ingest(case, sources[:1])
    key_file = case / "evidence" / "redaction.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_redaction_can_be_turned_off(tmp_path, sources):
    case = tmp_path / "case"
    with redaction(False):
        ingest(case, sources)
    stored = all_strings(case)
    assert corpus.AWS_KEY_ID in stored
    assert not (case / "evidence" / "redaction.key").exists()
    assert manifest_rows(case)["audit.ndjson"]["redacted"] is None


def test_sample_ingest_redacts_nothing(demo_case):
    for name, row in manifest_rows(demo_case).items():
        assert row["redacted"] == 0, name
