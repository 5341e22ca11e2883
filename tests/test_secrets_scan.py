"""Tests for `secobs scan`: planted secrets in NDJSON, JSON, CSV and log files."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from secobs.cli import main
from secobs.gates.scan import scan_files
from secobs.secrets import Redactor, load_or_create_key
from tests import secret_corpus as corpus

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def planted(tmp_path) -> Path:
    """Write one file per layout with secrets in headers, nested JSON, columns and log lines."""
    folder = tmp_path / "telemetry"
    folder.mkdir()
    events = [
        {"event": "auth.login", "request": {"route": "/v1/login"}},
        {
            "event": "data.export",
            "request": {
                "route": f"/v1/export?api_key={corpus.API_KEY}",
                "headers": {"Authorization": "Bearer " + corpus.BEARER, "Cookie": corpus.COOKIE},
            },
            "body": {"user": {"credentials": {"password": corpus.PASSWORD}}},
        },
        {
            "event": "x",
            "attributes": [{"key": "x-api-key", "value": {"stringValue": corpus.API_KEY}}],
        },
    ]
    lines = [json.dumps(event) for event in events]
    lines.insert(2, "")
    (folder / "events.ndjson").write_text("\n".join(lines) + "\n")
    (folder / "config.json").write_text(
        json.dumps([{"name": "ok"}, {"service_account": {"private_key": corpus.PEM, "n": 1}}])
    )
    with (folder / "requests.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["ts", "user_agent", "password", "headers"])
        writer.writerow(["2026-02-23T00:00:00Z", "curl/8", "", "{}"])
        writer.writerow(
            [
                "2026-02-23T00:00:01Z",
                f"sdk {corpus.AWS_KEY_ID}",
                corpus.PASSWD,
                json.dumps({"set-cookie": corpus.COOKIE, "x": [corpus.JWT]}),
            ]
        )
    (folder / "app.log").write_text(
        "INFO started\n"
        f"DEBUG env aws_secret_access_key={corpus.AWS_SECRET} region=eu\n"
        f"WARN posting to slack with {corpus.SLACK_TOKEN}\n"
        f"ERROR connect postgres://app:{corpus.URL_PASSWORD}@db.example.org/x failed\n"
    )
    return folder


EXPECTED = [
    ("app.log", 2, "", "aws_secret_access_key"),
    ("app.log", 3, "", "slack_token"),
    ("app.log", 4, "", "url_credentials"),
    ("config.json", 1, "/service_account/private_key", "private_key"),
    ("events.ndjson", 2, "/request/route", "api_key"),
    ("events.ndjson", 2, "/request/headers/Authorization", "bearer_token"),
    ("events.ndjson", 2, "/request/headers/Cookie", "cookie"),
    ("events.ndjson", 2, "/body/user/credentials/password", "password"),
    ("events.ndjson", 4, "/attributes/0/value/stringValue", "api_key"),
    ("requests.csv", 2, "user_agent", "aws_access_key_id"),
    ("requests.csv", 2, "password", "password"),
    ("requests.csv", 2, "headers/set-cookie", "cookie"),
    ("requests.csv", 2, "headers/x/0", "jwt"),
]


def test_every_planted_secret_found(planted):
    result = scan_files([planted])
    found = sorted((Path(f.path).name, f.record, f.field, f.kind) for f in result.findings)
    assert found == sorted(EXPECTED)
    assert result.records == 3 + 2 + 2 + 4
    assert result.counts["cookie"] == 2
    assert not result.ok


def test_findings_never_hold_the_secret(planted):
    result = scan_files([planted])
    text = json.dumps(result.to_json())
    for secret in corpus.EVERY_SECRET:
        assert secret not in text


def test_fingerprints_match_case_markers(planted, tmp_path):
    key_file = tmp_path / "case" / "evidence" / "redaction.key"
    result = scan_files([planted / "app.log"], key_file=key_file)
    redactor = Redactor(load_or_create_key(key_file))
    marker = redactor.redact_text(f"aws_secret_access_key={corpus.AWS_SECRET}")
    assert f":{result.findings[0].fingerprint}]" in marker


def test_sample_data_is_clean():
    result = scan_files([REPO / "sample_data"])
    assert result.findings == []
    assert result.records > 9000


def test_cli_prints_no_secret(planted, caplog):
    runner = CliRunner()
    caplog.set_level(logging.DEBUG, logger="secobs")
    text = runner.invoke(main, ["-v", "scan", str(planted)])
    as_json = runner.invoke(main, ["scan", str(planted), "--json"])
    assert text.exit_code == 1
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert len(report["findings"]) == len(EXPECTED)
    assert (
        f"{planted / 'requests.csv'}:2: password: password ***({len(corpus.PASSWD)} chars)"
        in text.output
    )
    for secret in corpus.EVERY_SECRET:
        assert secret not in text.output
        assert secret not in as_json.output
        assert secret not in caplog.text


def test_cli_exit_codes(tmp_path):
    runner = CliRunner()
    clean = tmp_path / "clean.log"
    clean.write_text("all quiet\n")
    passed = runner.invoke(main, ["scan", str(clean)])
    assert passed.exit_code == 0
    assert "0 secrets in 1 records of 1 files" in passed.output
    missing = runner.invoke(main, ["scan", str(tmp_path / "none.log")])
    assert missing.exit_code == 2
