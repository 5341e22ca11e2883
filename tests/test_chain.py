"""Evidence hash chain: canonical bytes, chain files, seals and how tampering is classified.

Expected chains are built here with hashlib, rfc8785 and json directly, so the module under
test is checked against the chain formula rather than against its own output.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secobs import chain
from secobs.errors import CaseError, InputError, UsageError

GENESIS = "0" * 64
SHARED = Path(os.environ.get("SECOBS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
JCS_VECTORS = SHARED / "vectors" / "jcs"
MAX_SAFE = 2**53 - 1

PROPERTY = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


# Independent chain builders


def jcs_bytes(event: dict) -> bytes:
    return rfc8785.dumps(event)


def seed_bytes(event: dict) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def build_chain(events: list[dict], canonical=jcs_bytes) -> list[dict]:
    """Chain events as records with prev_hash and hash, following the chain formula."""
    records = []
    prev = GENESIS
    for event in events:
        digest = hashlib.sha256(prev.encode() + canonical(event)).hexdigest()
        records.append({**event, "prev_hash": prev, "hash": digest})
        prev = digest
    return records


def build_seed_file(path: Path, events: list[dict], separators=(",", ":")) -> list[dict]:
    """Write a chain the way services do it with the standard library alone."""
    records = []
    prev = GENESIS
    with path.open("w", encoding="utf-8") as handle:
        for event in events:
            text = json.dumps(event, sort_keys=True, separators=separators)
            digest = hashlib.sha256((prev + text).encode()).hexdigest()
            record = dict(event, prev_hash=prev, hash=digest)
            handle.write(json.dumps(record) + "\n")
            records.append(record)
            prev = digest
    return records


def write_records(path: Path, records: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def verify_both(records: list[dict], mode: str = "jcs") -> chain.Verification:
    """Verify records in memory and as an NDJSON file, and check both agree."""
    in_memory = chain.verify_records(records, mode)
    with tempfile.TemporaryDirectory() as folder:
        path = write_records(Path(folder) / "chain.ndjson", records)
        from_file = chain.verify_file(path, mode)
    assert from_file.valid == in_memory.valid
    assert from_file.problem == in_memory.problem
    assert from_file.first_bad == in_memory.first_bad
    assert from_file.head_hash == in_memory.head_hash
    if from_file.first_bad is not None:
        # One record per line, so record i is on line i + 1.
        assert from_file.source == f"{path}, line {from_file.first_bad + 1}"
        assert in_memory.source == f"index {in_memory.first_bad}"
    return from_file


def sourced(events: list[dict]) -> list[tuple[dict, str, int]]:
    """Attach a source file and record number to each event, distinct for every event."""
    return [(event, f"audit-{i % 3}.ndjson", 10 * i + 7) for i, event in enumerate(events)]


def source_of(item: tuple[dict, str, int]) -> str:
    return f"{item[1]}, record {item[2]}"


# Strategies for audit-like events

text = st.text(max_size=10)
safe_ints = st.integers(min_value=-MAX_SAFE, max_value=MAX_SAFE)
# RFC 8785 writes integral floats from 2**53 up to 1e21 as integers beyond the I-JSON range,
# which jcs mode rejects, so chains that must verify leave them out.
finite_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: not (x.is_integer() and MAX_SAFE < abs(x) < 1e21)
)
scalars = st.one_of(st.none(), st.booleans(), safe_ints, finite_floats, text)
nested = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
audit_events = st.fixed_dictionaries(
    {
        "schema": st.just("audit.v1"),
        "ts": st.just("2026-02-23T10:15:00Z"),
        "event": st.sampled_from(
            ["auth.login", "admin.change_role", "data.export", "token.create"]
        ),
        "result": st.sampled_from(["success", "failure"]),
        "actor": st.fixed_dictionaries({"id": text, "roles": st.lists(text, max_size=3)}),
        "security": st.fixed_dictionaries(
            {"risk_score": st.integers(0, 100) | st.floats(0, 100), "mfa": st.booleans()}
        ),
    },
    optional={
        "client": st.fixed_dictionaries({"ip": text, "ua": text, "geo": nested}),
        "reason": st.none() | text,
        "extra": nested,
    },
)
chains = st.lists(audit_events, min_size=1, max_size=8)
chains_of_two = st.lists(audit_events, min_size=2, max_size=8)


def unique(events: list[dict]) -> list[dict]:
    """Give every event a sequence number, so no two events have the same digest."""
    return [{**event, "seq": i} for i, event in enumerate(events)]


# Canonical bytes


def test_jcs_hand_worked_event():
    event = {
        "ts": "2026-02-23T10:00:00Z",
        "event": "auth.login",
        "actor": {"roles": ["admin"], "id": "zoë"},
        "security": {"risk_score": 87.50, "mfa": False},
        "n": 1e-05,
        "big": 10.0,
        "€": "é",
        "a\u000f": None,
        "\U0001f600": 1,
        "\ufb01": 2,
    }
    # Keys sort by UTF-16 code units, so U+1F600 (surrogate 0xD83D) comes before U+FB01.
    expected = (
        b'{"a\\u000f":null,'
        b'"actor":{"id":"zo\xc3\xab","roles":["admin"]},'
        b'"big":10,'
        b'"event":"auth.login",'
        b'"n":0.00001,'
        b'"security":{"mfa":false,"risk_score":87.5},'
        b'"ts":"2026-02-23T10:00:00Z",'
        b'"\xe2\x82\xac":"\xc3\xa9",'
        b'"\xf0\x9f\x98\x80":1,'
        b'"\xef\xac\x81":2}'
    )
    assert chain.jcs(event) == expected
    assert (
        chain.hash_event(GENESIS, event) == hashlib.sha256(GENESIS.encode() + expected).hexdigest()
    )


def test_jcs_matches_reference_vectors():
    folder = JCS_VECTORS
    if not folder.exists():
        pytest.skip(f"{folder} is not available (set SECOBS_SHARED to the shared data folder)")
    names = sorted(path.stem for path in (folder / "input").glob("*.json"))
    assert names
    for name in names:
        value = json.loads((folder / "input" / f"{name}.json").read_text(encoding="utf-8"))
        expected = (folder / "output" / f"{name}.json").read_bytes()
        assert chain.jcs(value) == expected, name


def test_jcs_rejects_integers_outside_safe_range():
    assert chain.jcs({"n": MAX_SAFE}) == b'{"n":9007199254740991}'
    assert chain.jcs({"n": -MAX_SAFE}) == b'{"n":-9007199254740991}'
    for value in (MAX_SAFE + 1, -MAX_SAFE - 1, 2**64):
        with pytest.raises(InputError, match=str(value)):
            chain.jcs({"n": value})


def test_jcs_rejects_nan_and_lone_surrogate():
    with pytest.raises(InputError):
        chain.jcs({"n": float("nan")})
    with pytest.raises(InputError):
        chain.jcs({"s": "\ud800"})


def test_hash_event_seed_mode_uses_compact_separators():
    event = {"b": 1.0, "a": "é"}
    expected = hashlib.sha256((GENESIS + '{"a":"\\u00e9","b":1.0}').encode()).hexdigest()
    assert chain.hash_event(GENESIS, event, mode="seed") == expected


def test_unknown_mode_is_rejected(tmp_path):
    with pytest.raises(UsageError, match="'jcs' or 'seed'"):
        chain.verify_records([], mode="sha")
    with pytest.raises(UsageError):
        chain.seal_events([], tmp_path, mode="plain")


# Chain files: untouched chains


@PROPERTY
@given(events=chains)
def test_untouched_chain_verifies(events):
    records = build_chain(events)
    result = verify_both(records)
    assert result.valid
    assert result.records == len(events)
    assert result.first_bad is None
    assert result.problem is None
    assert result.head_hash == records[-1]["hash"]


def test_empty_chain_is_valid(tmp_path):
    path = tmp_path / "empty.ndjson"
    path.write_bytes(b"")
    result = chain.verify_file(path)
    assert result.valid
    assert result.records == 0
    assert result.head_hash is None


def test_blank_lines_skipped(tmp_path):
    records = build_chain([{"n": i} for i in range(3)])
    records[2]["n"] = 99
    lines = [json.dumps(record) for record in records]
    path = tmp_path / "chain.ndjson"
    path.write_text(lines[0] + "\n\n" + lines[1] + "\n   \n" + lines[2] + "\n", encoding="utf-8")
    result = chain.verify_file(path)
    assert result.problem == "modified"
    assert result.first_bad == 2
    assert "line 5" in result.detail


def test_key_order_and_spacing_do_not_matter(tmp_path):
    records = build_chain([{"b": [1, 2.5, "x"], "a": {"z": None, "y": "ü"}}, {"c": True}])
    path = tmp_path / "chain.ndjson"
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            reordered = dict(reversed(list(record.items())))
            handle.write(json.dumps(reordered, indent=2).replace("\n", " ") + "\n")
    result = chain.verify_file(path)
    assert result.valid
    assert result.head_hash == records[-1]["hash"]


# Chain files: tampering


@PROPERTY
@given(events=chains, data=st.data())
def test_modified_event_is_found(events, data):
    records = build_chain(events)
    m = data.draw(st.integers(0, len(records) - 1), label="m")
    change = data.draw(
        st.sampled_from(["add_field", "change_nested", "drop_field"]), label="change"
    )
    if change == "add_field":
        records[m]["tampered"] = True
    elif change == "change_nested":
        records[m]["actor"] = {**records[m]["actor"], "id": records[m]["actor"]["id"] + "x"}
    else:
        del records[m]["result"]
    result = verify_both(records)
    assert not result.valid
    assert result.problem == "modified"
    assert result.first_bad == m
    assert result.head_hash == (records[m - 1]["hash"] if m else None)


@PROPERTY
@given(events=chains_of_two, data=st.data())
def test_deleted_record_is_found(events, data):
    records = build_chain(events)
    m = data.draw(st.integers(0, len(records) - 2), label="m")
    del records[m]
    result = verify_both(records)
    assert result.problem == "deleted"
    assert result.first_bad == m


@PROPERTY
@given(events=chains, data=st.data())
def test_inserted_copy_is_found(events, data):
    records = build_chain(events)
    k = data.draw(st.integers(0, len(records) - 1), label="copied")
    m = data.draw(st.integers(0, len(records)), label="position")
    records.insert(m, dict(records[k]))
    result = verify_both(records)
    assert result.problem == "inserted"
    # A copy placed right before its original is indistinguishable from it, so the second of
    # the two identical records is the one reported.
    assert result.first_bad == (k + 1 if m == k else m)


@PROPERTY
@given(events=chains, fresh=audit_events, data=st.data())
def test_inserted_chained_record_is_found(events, fresh, data):
    records = build_chain(events)
    m = data.draw(st.integers(0, len(records) - 1), label="position")
    prev = records[m - 1]["hash"] if m else GENESIS
    event = {**fresh, "inserted": True}
    digest = hashlib.sha256(prev.encode() + jcs_bytes(event)).hexdigest()
    records.insert(m, {**event, "prev_hash": prev, "hash": digest})
    result = verify_both(records)
    assert result.problem == "inserted"
    assert result.first_bad == m
    assert result.head_hash == (records[m - 1]["hash"] if m else None)


@PROPERTY
@given(events=chains, fresh=audit_events, data=st.data())
def test_inserted_record_with_bogus_hashes_is_found(events, fresh, data):
    records = build_chain(events)
    m = data.draw(st.integers(0, len(records) - 1), label="position")
    bogus = data.draw(st.lists(st.sampled_from("0123456789abcdef"), min_size=128, max_size=128))
    bogus = "".join(bogus)
    records.insert(m, {**fresh, "prev_hash": bogus[:64], "hash": bogus[64:]})
    result = verify_both(records)
    assert result.problem == "inserted"
    assert result.first_bad == m


def test_chained_insert_run_found():
    records = build_chain([{"n": i} for i in range(5)])
    forged = []
    prev = records[1]["hash"]
    for event in ({"forged": 1}, {"forged": 2}):
        digest = hashlib.sha256(prev.encode() + jcs_bytes(event)).hexdigest()
        forged.append({**event, "prev_hash": prev, "hash": digest})
        prev = digest
    tampered = records[:2] + forged + records[2:]
    result = verify_both(tampered)
    assert result.problem == "inserted"
    assert result.first_bad == 2
    assert result.head_hash == records[1]["hash"]


@PROPERTY
@given(events=chains_of_two, data=st.data())
def test_swapped_neighbours_are_found(events, data):
    records = build_chain(events)
    m = data.draw(st.integers(0, len(records) - 2), label="m")
    records[m], records[m + 1] = records[m + 1], records[m]
    result = verify_both(records)
    assert result.problem == "reordered"
    assert result.first_bad == m


def test_record_moved_far_later_is_reordered():
    records = build_chain([{"n": i} for i in range(8)])
    moved = records.pop(1)
    records.insert(6, moved)
    result = verify_both(records)
    assert result.problem == "reordered"
    assert result.first_bad == 1


def test_truncated_tail_is_not_visible_in_a_file():
    records = build_chain([{"n": i} for i in range(4)])
    result = verify_both(records[:2])
    assert result.valid
    assert result.head_hash == records[1]["hash"]


def test_malformed_lines_name_line(tmp_path):
    records = build_chain([{"n": i} for i in range(3)])
    good = [json.dumps(record) for record in records]
    missing_hash = json.dumps({"n": 1, "prev_hash": records[0]["hash"]})
    upper_hash = json.dumps({**records[1], "hash": records[1]["hash"].upper()})
    cases = {
        "not json": "{not json",
        "array": "[1, 2]",
        "missing hash": missing_hash,
        "upper-case hash": upper_hash,
    }
    for name, bad_line in cases.items():
        path = tmp_path / "chain.ndjson"
        path.write_text("\n".join([good[0], bad_line, good[2]]) + "\n", encoding="utf-8")
        result = chain.verify_file(path)
        assert result.problem == "malformed", name
        assert result.first_bad == 1, name
        assert "line 2" in result.detail, name


def test_invalid_utf8_line_is_malformed(tmp_path):
    records = build_chain([{"n": 0}])
    path = tmp_path / "chain.ndjson"
    path.write_bytes(json.dumps(records[0]).encode() + b"\n" + b'{"s": "\xff"}\n')
    result = chain.verify_file(path)
    assert result.problem == "malformed"
    assert result.first_bad == 1
    assert "UTF-8" in result.detail


def test_missing_chain_file_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        chain.verify_file(tmp_path / "absent.ndjson")


# Unrepresentable numbers in jcs mode


def test_big_integer_is_unrepresentable_in_jcs_mode(tmp_path):
    events = [{"n": 1}, {"n": 2}, {"n": 2**53, "event": "data.export"}]
    path = tmp_path / "chain.ndjson"
    build_seed_file(path, events)
    result = chain.verify_file(path, mode="jcs")
    assert result.problem == "unrepresentable"
    assert result.first_bad == 2
    assert "line 3" in result.detail
    assert chain.verify_file(path, mode="seed").valid


def test_big_integer_never_rounded():
    # The hash covers 9007199254740992, which is what 2**53 + 1 becomes as a double.
    rounded = b'{"n":9007199254740992}'
    record = {
        "n": 2**53 + 1,
        "prev_hash": GENESIS,
        "hash": hashlib.sha256(GENESIS.encode() + rounded).hexdigest(),
    }
    result = chain.verify_records([record])
    assert not result.valid
    assert result.problem == "unrepresentable"
    assert result.first_bad == 0


def test_jcs_rejects_unsafe_integral_float(tmp_path):
    # RFC 8785 writes 1e16 as 10000000000000000, which reads back as an unsafe integer.
    assert rfc8785.dumps(1e16) == b"10000000000000000"
    with pytest.raises(InputError):
        chain.jcs({"bytes": 1e16})
    with pytest.raises(InputError) as raised:
        chain.export_chain([({"bytes": 1e16}, "big.ndjson", 4)], tmp_path / "chain.ndjson")
    assert raised.value.record == 4
    record = {"bytes": 10**16, "prev_hash": GENESIS}
    record["hash"] = hashlib.sha256(GENESIS.encode() + b'{"bytes":10000000000000000}').hexdigest()
    assert chain.verify_records([record]).problem == "unrepresentable"
    assert chain.jcs({"a": 1e21, "b": 9007199254740990.0}) == b'{"a":1e+21,"b":9007199254740990}'


def test_nan_literal_is_unrepresentable_in_jcs_mode(tmp_path):
    path = tmp_path / "chain.ndjson"
    build_seed_file(path, [{"score": float("nan")}])
    assert "NaN" in path.read_text()
    assert chain.verify_file(path, mode="jcs").problem == "unrepresentable"
    assert chain.verify_file(path, mode="seed").valid


# Seed mode

SEED_EVENTS = [
    {"event": "auth.login", "score": 0.1, "tiny": 1e-05, "whole": 10.0, "user": "zoë"},
    {"event": "data.export", "bytes": 2**64 + 1, "neg": -(2**70), "city": "東京", "emoji": "🙂"},
    {"event": "token.create", "nested": {"b": [1.5e300, -0.0, 5e-324], "a": None}, "ok": True},
    {"event": "authz.denied", "ratio": 1 / 3, "big_float": 1e16, "note": 'quote " and \\'},
]


def test_seed_file_verifies(tmp_path):
    path = tmp_path / "seed.ndjson"
    records = build_seed_file(path, SEED_EVENTS)
    result = chain.verify_file(path, mode="seed")
    assert result.valid
    assert result.records == len(SEED_EVENTS)
    assert result.mode == "seed"
    assert result.head_hash == records[-1]["hash"]
    assert "compact separators" in result.detail


def test_seed_file_reserialised_still_verifies(tmp_path):
    path = tmp_path / "seed.ndjson"
    records = build_seed_file(path, SEED_EVENTS)
    shuffler = random.Random(7)

    def shuffle(value):
        if isinstance(value, dict):
            items = [(key, shuffle(item)) for key, item in value.items()]
            shuffler.shuffle(items)
            return dict(items)
        if isinstance(value, list):
            return [shuffle(item) for item in value]
        return value

    respaced = tmp_path / "respaced.ndjson"
    with respaced.open("w", encoding="utf-8") as handle:
        for record in records:
            text = json.dumps(shuffle(record), indent=2, ensure_ascii=False)
            handle.write(text.replace("\n", " ") + "\n")
    assert respaced.read_text(encoding="utf-8") != path.read_text(encoding="utf-8")
    result = chain.verify_file(respaced, mode="seed")
    assert result.valid
    assert result.head_hash == records[-1]["hash"]


def test_seed_default_separators_verify(tmp_path):
    path = tmp_path / "seed.ndjson"
    records = build_seed_file(path, SEED_EVENTS, separators=(", ", ": "))
    result = chain.verify_file(path, mode="seed")
    assert result.valid
    assert result.head_hash == records[-1]["hash"]
    assert "default separators" in result.detail


def test_seed_variant_is_fixed_for_the_whole_file(tmp_path):
    compact = build_seed_file(tmp_path / "compact.ndjson", SEED_EVENTS)
    default = build_seed_file(tmp_path / "default.ndjson", SEED_EVENTS, separators=(", ", ": "))
    # Record 2 is re-hashed with the default separators and chained onward from there.
    event = SEED_EVENTS[2]
    text = json.dumps(event, sort_keys=True)
    mixed_hash = hashlib.sha256((compact[1]["hash"] + text).encode()).hexdigest()
    mixed = compact[:2] + [{**event, "prev_hash": compact[1]["hash"], "hash": mixed_hash}]
    assert default[0]["hash"] != compact[0]["hash"]
    result = chain.verify_records(mixed, mode="seed")
    assert result.problem == "modified"
    assert result.first_bad == 2


def test_empty_first_event_leaves_seed_variant_open(tmp_path):
    path = tmp_path / "seed.ndjson"
    build_seed_file(path, [{}, *SEED_EVENTS], separators=(", ", ": "))
    result = chain.verify_file(path, mode="seed")
    assert result.valid
    assert "default separators" in result.detail


@PROPERTY
@given(
    events=st.lists(
        st.dictionaries(
            text.filter(lambda key: key not in ("prev_hash", "hash")),
            st.recursive(
                st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text),
                lambda children: (
                    st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3)
                ),
                max_leaves=6,
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=6,
    ),
    separators=st.sampled_from([(",", ":"), (", ", ": ")]),
)
def test_seed_files_with_any_numbers_verify(events, separators):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seed.ndjson"
        records = build_seed_file(path, events, separators)
        result = chain.verify_file(path, mode="seed")
    assert result.valid
    assert result.head_hash == records[-1]["hash"]


def test_jcs_chain_in_seed_mode_is_wrong_mode():
    records = build_chain(SEED_EVENTS[:1] + [{"n": 1}])
    result = chain.verify_records(records, mode="seed")
    assert result.problem == "wrong_mode"
    assert result.first_bad == 0
    assert "whole chain verifies" in result.detail
    assert "jcs mode" in result.detail


def test_seed_chain_in_jcs_mode_is_wrong_mode(tmp_path):
    path = tmp_path / "seed.ndjson"
    build_seed_file(path, SEED_EVENTS[:1] + [{"n": 1}])
    result = chain.verify_file(path, mode="jcs")
    assert result.problem == "wrong_mode"
    assert result.first_bad == 0
    assert result.source == f"{path}, line 1"
    assert "seed mode with compact separators" in result.detail
    assert "--mode seed" in result.detail


# Export


@PROPERTY
@given(events=chains)
def test_export_writes_verifiable_chain(events):
    expected = build_chain(events)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out" / "chain.ndjson"
        summary = chain.export_chain(sourced(events), path)
        lines = path.read_bytes().splitlines()
        result = chain.verify_file(path)
    assert summary.records == len(events)
    assert summary.head_hash == expected[-1]["hash"]
    assert lines[0] == rfc8785.dumps(expected[0])
    assert result.valid
    assert result.head_hash == expected[-1]["hash"]


def test_export_seed_mode_writes_seed_chain(tmp_path):
    path = tmp_path / "chain.ndjson"
    chain.export_chain(sourced(SEED_EVENTS), path, mode="seed")
    expected = build_chain(SEED_EVENTS, canonical=seed_bytes)
    assert [json.loads(line) for line in path.read_text().splitlines()][1] == expected[1]
    assert chain.verify_file(path, mode="seed").valid


def test_export_rejects_reserved_field(tmp_path):
    events = sourced([{"n": 1}, {"n": 2, "hash": "x"}])
    with pytest.raises(InputError, match="'hash'") as raised:
        chain.export_chain(events, tmp_path / "chain.ndjson")
    assert raised.value.path == "audit-1.ndjson"
    assert raised.value.record == 17
    assert list(tmp_path.iterdir()) == []


# Seals


def sealed_case(tmp_path: Path, events: list[dict]) -> tuple[list, Path]:
    items = sourced(events)
    evidence = tmp_path / "evidence"
    chain.seal_events(items, evidence)
    return items, evidence


def test_seal_writes_digest_list(tmp_path):
    events = unique([{"event": "auth.login", "user": "zoë"}, {"event": "data.export"}])
    items = sourced(events)
    seal = chain.seal_events(items, tmp_path)
    expected = build_chain(events)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "chain-seal.json",
        "chain-seal.parquet",
    ]
    assert seal.records == 2
    assert seal.head_hash == expected[-1]["hash"]
    assert seal.path == tmp_path / "chain-seal.json"

    meta = json.loads((tmp_path / "chain-seal.json").read_text())
    assert meta["records"] == 2
    assert meta["head_hash"] == expected[-1]["hash"]
    assert meta["mode"] == "jcs"
    assert meta["version"] == 2
    assert meta["sealed_at"].endswith("Z")
    assert meta["raw_digests"] == 0
    assert meta["row_columns"] is None

    table = pq.read_table(tmp_path / "chain-seal.parquet")
    assert table.schema.field("index").type == pa.int64()
    assert table.schema.field("source_record").type == pa.int64()
    assert table.column("index").to_pylist() == [0, 1]
    assert table.column("source_file").to_pylist() == ["audit-0.ndjson", "audit-1.ndjson"]
    assert table.column("source_record").to_pylist() == [7, 17]
    digests = [hashlib.sha256(jcs_bytes(event)).hexdigest() for event in events]
    assert table.column("digest").to_pylist() == digests
    assert table.column("hash").to_pylist() == [record["hash"] for record in expected]
    assert table.column("digest_kind").to_pylist() == ["jcs", "jcs"]
    assert table.column("row_digest").to_pylist() == [None, None]


def test_seal_failure_leaves_previous_seal(tmp_path):
    items, evidence = sealed_case(tmp_path, unique([{"n": 1}, {"n": 2}]))
    before = {path.name: path.read_bytes() for path in evidence.iterdir()}
    bad = [*items, ({"n": 2**60}, "late.ndjson", 3)]
    with pytest.raises(InputError) as raised:
        chain.seal_events(bad, evidence)
    assert raised.value.path == "late.ndjson"
    assert raised.value.record == 3
    after = {path.name: path.read_bytes() for path in evidence.iterdir()}
    assert after == before


@PROPERTY
@given(events=chains)
def test_sealed_untouched_events_verify(events):
    events = unique(events)
    with tempfile.TemporaryDirectory() as folder:
        items, evidence = sealed_case(Path(folder), events)
        result = chain.verify_sealed(items, evidence)
    assert result.valid
    assert result.records == len(events)
    assert result.head_hash == build_chain(events)[-1]["hash"]


@PROPERTY
@given(events=chains, data=st.data())
def test_sealed_modify_is_found(events, data):
    events = unique(events)
    m = data.draw(st.integers(0, len(events) - 1), label="m")
    with tempfile.TemporaryDirectory() as folder:
        items, evidence = sealed_case(Path(folder), events)
        current = list(items)
        event, source_file, source_record = current[m]
        current[m] = ({**event, "result": "tampered"}, source_file, source_record)
        result = chain.verify_sealed(current, evidence)
    assert result.problem == "modified"
    assert result.first_bad == m
    assert source_of(items[m]) in result.detail
    assert result.source == source_of(items[m])


@PROPERTY
@given(events=chains_of_two, data=st.data())
def test_sealed_delete_is_found(events, data):
    events = unique(events)
    m = data.draw(st.integers(0, len(events) - 2), label="m")
    with tempfile.TemporaryDirectory() as folder:
        items, evidence = sealed_case(Path(folder), events)
        result = chain.verify_sealed(items[:m] + items[m + 1 :], evidence)
    assert result.problem == "deleted"
    assert result.first_bad == m
    assert source_of(items[m]) in result.detail
    assert result.source == source_of(items[m])


@PROPERTY
@given(events=chains, fresh=audit_events, data=st.data())
def test_sealed_insert_is_found(events, fresh, data):
    events = unique(events)
    m = data.draw(st.integers(0, len(events)), label="position")
    inserted = ({**fresh, "inserted": True}, "forged.ndjson", 1)
    with tempfile.TemporaryDirectory() as folder:
        items, evidence = sealed_case(Path(folder), events)
        result = chain.verify_sealed(items[:m] + [inserted] + items[m:], evidence)
    assert result.problem == "inserted"
    assert result.first_bad == m
    assert "forged.ndjson, record 1" in result.detail
    assert result.source == "forged.ndjson, record 1"


@PROPERTY
@given(events=chains, data=st.data())
def test_sealed_inserted_copy_is_found(events, data):
    events = unique(events)
    k = data.draw(st.integers(0, len(events) - 1), label="copied")
    m = data.draw(st.integers(0, len(events)), label="position")
    with tempfile.TemporaryDirectory() as folder:
        items, evidence = sealed_case(Path(folder), events)
        result = chain.verify_sealed(items[:m] + [items[k]] + items[m:], evidence)
    # A copy placed right before the event that precedes its original reads as a swap of
    # those two: b[m] == a[m+1] and b[m+1] == a[m]. A copy placed right before its original
    # matches the seal there, so the next event is the first that differs.
    assert result.problem == ("reordered" if m == k - 1 else "inserted")
    assert result.first_bad == (k + 1 if m == k else m)


@PROPERTY
@given(events=chains_of_two, data=st.data())
def test_sealed_swap_is_found(events, data):
    events = unique(events)
    m = data.draw(st.integers(0, len(events) - 2), label="m")
    with tempfile.TemporaryDirectory() as folder:
        items, evidence = sealed_case(Path(folder), events)
        current = list(items)
        current[m], current[m + 1] = current[m + 1], current[m]
        result = chain.verify_sealed(current, evidence)
    assert result.problem == "reordered"
    assert result.first_bad == m
    assert source_of(items[m + 1]) in result.detail
    assert result.source == source_of(items[m + 1])


@PROPERTY
@given(events=chains, data=st.data())
def test_sealed_truncation_is_found(events, data):
    events = unique(events)
    kept_count = data.draw(st.integers(0, len(events) - 1), label="kept")
    with tempfile.TemporaryDirectory() as folder:
        items, evidence = sealed_case(Path(folder), events)
        result = chain.verify_sealed(items[:kept_count], evidence)
    assert result.problem == "truncated"
    assert result.first_bad == kept_count
    assert source_of(items[kept_count]) in result.detail
    assert result.source == source_of(items[kept_count])
    expected_head = build_chain(events)[kept_count - 1]["hash"] if kept_count else None
    assert result.head_hash == expected_head


def test_sealed_change_across_batches_is_found(tmp_path):
    events = [{"event": "auth.login", "seq": i} for i in range(9000)]
    items, evidence = sealed_case(tmp_path, events)
    current = list(items)
    current[8500] = ({"event": "auth.login", "seq": -1}, current[8500][1], current[8500][2])
    result = chain.verify_sealed(current, evidence)
    assert result.problem == "modified"
    assert result.first_bad == 8500
    assert chain.verify_sealed(items, evidence).valid


def test_sealed_unrepresentable_event_is_reported(tmp_path):
    items, evidence = sealed_case(tmp_path, unique([{"n": 1}, {"n": 2}]))
    current = [items[0], ({"n": 2**53}, items[1][1], items[1][2])]
    result = chain.verify_sealed(current, evidence)
    assert result.problem == "unrepresentable"
    assert result.first_bad == 1


def test_seed_mode_seal_round_trip(tmp_path):
    items = sourced(SEED_EVENTS)
    seal = chain.seal_events(items, tmp_path, mode="seed")
    assert seal.head_hash == build_chain(SEED_EVENTS, canonical=seed_bytes)[-1]["hash"]
    result = chain.verify_sealed(items, tmp_path)
    assert result.valid
    assert result.mode == "seed"


def test_verify_without_seal_asks_to_seal_first(tmp_path):
    with pytest.raises(CaseError, match="secobs chain seal"):
        chain.verify_sealed([], tmp_path)


def test_altered_digest_list_is_rejected(tmp_path):
    items, evidence = sealed_case(tmp_path, unique([{"n": 1}, {"n": 2}]))
    parquet = evidence / "chain-seal.parquet"
    table = pq.read_table(parquet)
    digests = table.column("digest").to_pylist()
    digests[0] = hashlib.sha256(b"{}").hexdigest()
    altered = table.set_column(3, "digest", pa.array(digests, pa.string()))
    pq.write_table(altered, parquet)
    with pytest.raises(CaseError, match="SHA-256"):
        chain.verify_sealed(items, evidence)


def test_altered_head_hash_is_rejected(tmp_path):
    items, evidence = sealed_case(tmp_path, unique([{"n": 1}, {"n": 2}]))
    meta_path = evidence / "chain-seal.json"
    meta = json.loads(meta_path.read_text())
    meta["head_hash"] = GENESIS
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CaseError, match="head_hash"):
        chain.verify_sealed(items, evidence)


def test_verification_to_json_keys():
    result = chain.verify_records(build_chain([{"n": 1}]))
    assert result.to_json() == {
        "valid": True,
        "records": 1,
        "first_bad": None,
        "problem": None,
        "mode": "jcs",
        "detail": result.detail,
        "head_hash": hashlib.sha256(GENESIS.encode() + b'{"n":1}').hexdigest(),
    }


def test_verification_to_json_names_source():
    result = chain.verify_records([{"n": 1, "prev_hash": GENESIS, "hash": GENESIS}])
    assert result.to_json()["source"] == "index 0"
    assert result.to_json()["problem"] == "modified"


def test_no_temporary_files_left_after_export(tmp_path):
    chain.export_chain(sourced([{"n": 1}]), tmp_path / "chain.ndjson")
    assert os.listdir(tmp_path) == ["chain.ndjson"]
