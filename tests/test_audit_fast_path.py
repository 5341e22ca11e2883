"""The DuckDB fast path for audit.v1 gives exactly what the Python reader gives.

Both readers run on the same files, clean and dirty, and their rows and rejections are
compared record by record.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secobs.ingest.audit_sql import can_use_fast_path, read_audit_v1_fast
from secobs.ingest.audit_v1 import read_audit_v1
from secobs.ingest.records import ArrowBatch, Rejected, Row
from secobs.sample import generate


def outcome(items) -> dict[int, tuple]:
    """Map record number -> ("row", values) or ("rejected", reason, raw)."""
    result: dict[int, tuple] = {}
    for item in items:
        if isinstance(item, ArrowBatch):
            for values in item.data.to_pylist():
                record = values.pop("source_record")
                result[record] = ("row", values)
        elif isinstance(item, Row):
            result[item.record] = ("row", dict(item.values))
        else:
            assert isinstance(item, Rejected)
            result[item.record] = ("rejected", item.reason, item.raw)
    return result


def normalise(result: dict[int, tuple]) -> dict[int, tuple]:
    """Give both readers' rows the same set of keys (absent in a Row means NULL)."""
    normalised = {}
    for record, value in result.items():
        if value[0] == "row":
            normalised[record] = ("row", {key: item for key, item in value[1].items()})
        else:
            normalised[record] = value
    return normalised


def assert_same(path: Path) -> dict[int, tuple]:
    fast = normalise(outcome(read_audit_v1_fast(path)))
    slow = normalise(outcome(read_audit_v1(path)))
    assert sorted(fast) == sorted(slow)
    for record in slow:
        if slow[record][0] == "row":
            expected = slow[record][1]
            got = {key: fast[record][1].get(key) for key in expected}
            assert got == expected, f"record {record}"
            extra = {key: value for key, value in fast[record][1].items() if key not in expected}
            assert all(value is None for value in extra.values()), extra
        else:
            assert fast[record] == slow[record]
    return slow


def test_sample_file_same_rows(tmp_path):
    files = generate(tmp_path / "sample", events=1000)
    assert can_use_fast_path(files.audit)
    result = assert_same(files.audit)
    assert len(result) == 1000
    assert all(value[0] == "row" for value in result.values())


BASE = {
    "schema": "audit.v1",
    "ts": "2026-02-23T10:00:00.123Z",
    "service": "auth",
    "event": "auth.login",
    "request": {"request_id": "r1", "trace_id": "ab" * 16, "span_id": "cd" * 8},
    "actor": {"type": "user", "id": "u-1", "tenant_id": "acme", "roles": ["member"]},
    "client": {"ip": "198.51.100.1", "ua": "agent", "geo": {"country": "DE", "lat": 52.5}},
    "security": {"auth_method": "password", "mfa": True, "risk_score": 10, "signals": ["x"]},
}

VARIANTS = [
    {"ts": "2026-02-23 10:00:00"},
    {"ts": "2026-02-23T12:00:00+02:00"},
    {"ts": "2026-02-23T10:00:00.123456789Z"},
    {"ts": "2026-02-23T10:00:00+0200"},
    {"ts": 1700000000},
    {"ts": "nope"},
    {"schema": "audit.v2"},
    {"event": ""},
    {"event": None},
    {"request": {"trace_id": "AB" * 16}},
    {"request": {"trace_id": "fT4cCpsvSOahxdDz4rSaFw=="}},
    {"request": {"span_id": "abc"}},
    {"request": "r1"},
    {"actor": {"roles": ["member", 3]}},
    {"actor": {"roles": "admin"}},
    {"actor": {"roles": [None]}},
    {"security": {"signals": ["a", None]}},
    {"actor": None},
    {"client": {"geo": {"lat": "52.5"}}},
    {"client": {"geo": None, "ip": None}},
    {"client": {"ip": "::ffff:8.8.8.8"}},
    {"client": {"ip": "2001:DB8::1"}},
    {"client": {"ip": "010.1.2.3"}},
    {"client": {"ip": "not-an-ip"}},
    {"client": {"ip": "AWS Internal"}},
    {"client": {"ip": ""}},
    {"client": {"ip": "2001:db8::7"}},
    {"client": {"ip": "2001:0DB8:0:0::7"}},
    {"client": {"ip": "fe80::1:2:3:4:5:6:7:8"}},
    {"client": {"ip": "1:2"}},
    {"client": {"ip": "::"}},
    {"security": {"risk_score": 55.5}},
    {"security": {"risk_score": 101}},
    {"security": {"risk_score": True}},
    {"security": {"risk_score": "10"}},
    {"security": {"mfa": "yes"}},
    {"security": {"signals": None}},
    {"service": 7},
    {"reason": ["a"]},
]


def test_dirty_variants_same_outcome(tmp_path):
    lines = [json.dumps(BASE)]
    for variant in VARIANTS:
        event = json.loads(json.dumps(BASE))
        for key, value in variant.items():
            if isinstance(value, dict) and isinstance(event.get(key), dict):
                event[key].update(value)
            else:
                event[key] = value
        lines.append(json.dumps(event))
    lines += [
        "not json",
        "[1]",
        "{}",
        '{"ts": "2026-02-23T10:00:00Z", "event": "x"}',
        " " * 3 + "{}",
    ]
    path = tmp_path / "dirty.ndjson"
    path.write_text("\n".join(lines) + "\n")
    assert can_use_fast_path(path)
    result = assert_same(path)
    assert len(result) == len(lines)
    kinds = [result[record][0] for record in sorted(result)]
    assert kinds.count("row") >= 10 and kinds.count("rejected") >= 10


def test_files_the_fast_path_avoids(tmp_path):
    line = json.dumps(BASE)
    cases = {
        "bom.ndjson": b"\xef\xbb\xbf" + line.encode() + b"\n",
        "blank.ndjson": (line + "\n\n" + line + "\n").encode(),
        "control.ndjson": (line + "\n").encode() + b'{"ts":"x\x01"}\n',
        "mixed.ndjson": (line + "\r\n" + line + "\n").encode(),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert not can_use_fast_path(path), name
        assert_same(path)
    windows = tmp_path / "crlf.ndjson"
    windows.write_bytes((line + "\r\n" + line + "\r\n").encode())
    assert can_use_fast_path(windows)
    result = assert_same(windows)
    assert [value[0] for value in result.values()] == ["row", "row"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.floats(-1e3, 1e3) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
paths = st.sampled_from(
    [
        ("ts",),
        ("event",),
        ("service",),
        ("schema",),
        ("request",),
        ("request", "trace_id"),
        ("request", "route"),
        ("actor",),
        ("actor", "roles"),
        ("actor", "id"),
        ("client", "geo"),
        ("client", "geo", "lon"),
        ("security", "risk_score"),
        ("security", "mfa"),
        ("security", "signals"),
        ("security",),
    ]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(st.tuples(paths, json_values), min_size=1, max_size=3))
def test_random_changes_same_outcome(tmp_path, changes):
    event = json.loads(json.dumps(BASE))
    for path, value in changes:
        target = event
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
    file = tmp_path / "random.ndjson"
    file.write_text(json.dumps(BASE) + "\n" + json.dumps(event) + "\n")
    if can_use_fast_path(file):
        assert_same(file)
