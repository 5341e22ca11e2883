"""Tests for secret detection, masking and redaction (`secobs.secrets`)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from secobs.ingest.records import ArrowBatch, Rejected, Row
from secobs.secrets import (
    MARKER,
    PATTERNS,
    Redactor,
    candidate_mask,
    find_in_field,
    find_secrets,
    load_or_create_key,
    mask_secret,
    mask_text,
)
from tests import secret_corpus as corpus

REPO = Path(__file__).resolve().parent.parent
KEY = bytes(range(32))


@pytest.mark.parametrize(
    ("kind", "text", "secret"),
    corpus.TEXT_CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(corpus.TEXT_CASES)],
)
def test_pattern_finds_secret(kind, text, secret):
    found = [(m.kind, text[m.start : m.end]) for m in find_secrets(text)]
    assert (kind, secret) in found


def test_every_pattern_has_a_case():
    tested = {case[0] for case in corpus.TEXT_CASES}
    assert tested == {pattern.kind for pattern in PATTERNS}


def test_prefilter_selects_every_case():
    texts = [case[1] for case in corpus.TEXT_CASES]
    assert candidate_mask(pa.array(texts)).to_pylist() == [True] * len(texts)


@pytest.mark.parametrize(
    "text",
    [
        '{"reason":"invalid_password","security":{"auth_method":"password"}}',
        '{"token_id":"tok_ed7099a0e3c707e4a9d822a3961e2d2c","event":"token.create"}',
        '{"signals":["password_spray_suspected"],"auth_method":"api_key"}',
        '{"password": null, "token": "", "api_key": "***", "secret": "<redacted>"}',
        "password=${DB_PASSWORD} token={{ vault_token }}",
        'WWW-Authenticate: Bearer realm="api"',
        "the basic authentication flow failed",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    ],
)
def test_no_false_positive(text):
    assert find_secrets(text) == []


def test_sample_data_has_no_secrets():
    for name in ("audit.ndjson", "requests.csv", "spans.otlp.jsonl"):
        texts = (REPO / "sample_data" / name).read_text().splitlines()
        assert not any(candidate_mask(pa.array(texts)).to_pylist()), name
        assert not any(find_secrets(text) for text in texts), name


def test_field_name_makes_value_a_secret():
    assert [(m.kind, m.start, m.end) for m in find_in_field("db_password", "hunter")] == [
        ("password", 0, 6)
    ]
    bearer = find_in_field("Authorization", "Bearer " + corpus.BEARER)
    assert [(m.kind, m.start) for m in bearer] == [("bearer_token", 7)]
    scheme_only = find_in_field("authorization", "Token abcdef")
    assert [(m.kind, m.start, m.end) for m in scheme_only] == [("authorization", 6, 12)]
    assert find_in_field("password", "null") == []
    assert find_in_field("password", "[REDACTED:password:0123456789abcdef]") == []
    assert find_in_field("user_agent", "Mozilla/5.0") == []


def test_mask_shows_public_prefix_and_length_only():
    assert mask_secret("aws_access_key_id", corpus.AWS_KEY_ID) == "AKIA***(20 chars)"
    assert (
        mask_secret("github_token", corpus.GITHUB_PAT)
        == f"github_pat_***({len(corpus.GITHUB_PAT)} chars)"
    )
    assert mask_secret("password", corpus.PASSWORD) == f"***({len(corpus.PASSWORD)} chars)"
    masked = mask_text(f"user=bob password={corpus.PASSWD} key={corpus.AWS_KEY_ID}")
    assert masked == (
        f"user=bob password=[password:***({len(corpus.PASSWD)} chars)] "
        "key=[aws_access_key_id:AKIA***(20 chars)]"
    )


def test_redaction_marker_is_keyed_hmac():
    redactor = Redactor(KEY)
    text = f"password={corpus.PASSWD} again password={corpus.PASSWD}"
    redacted = redactor.redact_text(text)
    markers = MARKER.findall(redacted)
    assert len(markers) == 2
    assert markers[0] == markers[1]
    import hashlib
    import hmac

    expected = hmac.new(KEY, corpus.PASSWD.encode(), hashlib.sha256).hexdigest()[:16]
    assert markers[0] == f"[REDACTED:password:{expected}]"
    assert Redactor(b"another key 0123456789").redact_text(text) != redacted
    assert redactor.counts == {"password": 2}
    assert redactor.redacted == 2


@pytest.mark.parametrize("case", corpus.TEXT_CASES, ids=[c[0] for c in corpus.TEXT_CASES])
def test_redaction_removes_secret_and_is_idempotent(case):
    _, text, secret = case
    redactor = Redactor(KEY)
    once = redactor.redact_text(text)
    assert secret not in once
    assert MARKER.search(once)
    assert redactor.redact_text(once) == once


def test_redacted_json_stays_valid():
    event = {
        "headers": {"authorization": "Bearer " + corpus.BEARER, "cookie": corpus.COOKIE},
        "body": {"password": corpus.PASSWORD, "pin_password": 123456, "api_key": None},
        "message": f"retry\npassword={corpus.PASSWD}\n{corpus.PEM}",
        "nested": json.dumps({"client_secret": corpus.CLIENT_SECRET}),
        "url": f"https://u:{corpus.URL_PASSWORD}@h.example.org/?sig={corpus.AZURE_SIG}",
    }
    text = json.dumps(event)
    redacted = Redactor(KEY).redact_text(text)
    parsed = orjson.loads(redacted)
    assert parsed["body"]["api_key"] is None
    assert MARKER.fullmatch(parsed["body"]["pin_password"])
    assert parsed["headers"]["authorization"].startswith("Bearer [REDACTED:")
    for secret in (corpus.BEARER, corpus.PASSWORD, corpus.PASSWD, corpus.CLIENT_SECRET, "123456"):
        assert secret not in redacted
    assert corpus.PEM_BODY not in redacted


def test_redact_items():
    redactor = Redactor(KEY)
    row = Row(
        "audit_events",
        3,
        {"user_agent": f"curl {corpus.AWS_KEY_ID}", "roles": ["x", corpus.JWT], "risk_score": 5},
    )
    rejected = Rejected(
        4, f"bad value {corpus.GITHUB_TOKEN}", f'{{"token": "{corpus.ACCESS_TOKEN}"'
    )
    out_row, out_rejected = redactor.redact_stream([row, rejected])
    assert out_row.record == 3
    assert out_row.values["risk_score"] == 5
    assert out_row.values["user_agent"].startswith("curl [REDACTED:aws_access_key_id:")
    assert out_row.values["roles"][0] == "x"
    assert MARKER.fullmatch(out_row.values["roles"][1])
    assert out_rejected.record == 4
    assert corpus.GITHUB_TOKEN not in out_rejected.reason
    assert corpus.ACCESS_TOKEN not in out_rejected.raw
    assert redactor.counts == {"aws_access_key_id": 1, "jwt": 1, "github_token": 1, "token": 1}


def test_redact_table_matches_row_redaction():
    texts = [case[1] for case in corpus.TEXT_CASES] + ["clean", None]
    lists = [[text] if text else None for text in texts]
    table = pa.table(
        {
            "raw": pa.array(texts, pa.string()),
            "signals": pa.array(lists, pa.list_(pa.string())),
            "risk_score": pa.array(range(len(texts)), pa.int32()),
        }
    )
    vectorised = Redactor(KEY)
    out = vectorised.redact_item(ArrowBatch("audit_events", table)).data
    per_row = Redactor(KEY)
    expected = [per_row.redact_text(text) if text else text for text in texts]
    assert out.column("raw").to_pylist() == expected
    assert out.column("signals").to_pylist() == [[text] if text else None for text in expected]
    assert out.column("risk_score").to_pylist() == list(range(len(texts)))
    assert out.schema == table.schema
    assert vectorised.redacted == 2 * per_row.redacted


def test_key_file_created_private_and_reused(tmp_path):
    path = tmp_path / "evidence" / "redaction.key"
    first = load_or_create_key(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == first
    assert Redactor.for_case(tmp_path).fingerprint("x") == Redactor(first).fingerprint("x")
