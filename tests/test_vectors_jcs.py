"""RFC 8785 canonical JSON: published test vectors, the C17 number case, and the orjson fast path
checked against the rfc8785 reference implementation on generated values."""

from __future__ import annotations

import hashlib
import json
import math
import struct

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secobs import jcs
from tests.conftest import CASES, VECTORS, require

JCS = VECTORS / "jcs"
NAMES = ["arrays", "french", "structures", "unicode", "values", "weird"]
NUMBERS = "es6testfile100m.first10000.txt"
MAX_SAFE = 2**53 - 1

PROPERTY = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


def read_pair(name: str) -> tuple[bytes, bytes]:
    folder = require(JCS)
    return (folder / "input" / f"{name}.json").read_bytes(), (
        folder / "output" / f"{name}.json"
    ).read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_vector_canonicalize(name):
    source, expected = read_pair(name)
    assert jcs.canonicalize(json.loads(source)) == expected


@pytest.mark.parametrize("name", NAMES)
def test_vector_canonicalize_text(name):
    source, expected = read_pair(name)
    assert jcs.canonicalize_text(source) == expected


@pytest.mark.parametrize("name", NAMES)
def test_vector_is_idempotent(name):
    _, expected = read_pair(name)
    assert jcs.canonicalize_text(expected) == expected


@pytest.mark.parametrize("name", NAMES)
def test_vector_outhex_matches_output(name):
    _, expected = read_pair(name)
    hex_text = (JCS / "outhex" / f"{name}.txt").read_text()
    assert bytes.fromhex("".join(hex_text.split())) == expected


def number_vectors() -> list[tuple[str, float, str]]:
    path = require(JCS / "numbers" / NUMBERS)
    rows = []
    for line in path.read_text().splitlines():
        bits, expected = line.split(",")
        value = struct.unpack("<d", struct.pack("<Q", int(bits, 16)))[0]
        rows.append((bits, value, expected))
    return rows


def test_es6_number_vectors():
    rows = number_vectors()
    assert len(rows) == 10_000
    wrong = [
        (bits, expected, jcs.canonicalize(value))
        for bits, value, expected in rows
        if jcs.canonicalize(value) != expected.encode()
    ]
    assert wrong == []


def test_es6_number_vectors_inside_objects():
    rows = number_vectors()
    wrong = []
    for bits, value, expected in rows:
        want = b'{"n":[' + expected.encode() + b"]}"
        if jcs.canonicalize({"n": [value]}) != want:
            wrong.append(bits)
        # Integral values from 2**53 up to 1e21 are written as integers, which read back as
        # integers outside the I-JSON range and are rejected, as the next test shows.
        if not (value.is_integer() and MAX_SAFE < abs(value) < 1e21):
            if jcs.canonicalize_text(want) != want:
                wrong.append(bits)
    assert wrong == []


def test_big_integral_float_text_is_rejected():
    assert jcs.canonicalize(1e20) == b"100000000000000000000"
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize_text(b"100000000000000000000")


# C17: numbers formatted the ECMAScript way, and integers beyond the I-JSON range


def c17_expected() -> list[tuple[bytes, str]]:
    lines = require(CASES / "C17_expected_canonical.txt").read_text(encoding="utf-8").splitlines()
    pairs = []
    for i, line in enumerate(lines):
        if line.startswith("JCS "):
            digest = lines[i + 1].split()[1]
            pairs.append((line[len("JCS") :].strip().encode(), digest))
    return pairs


def c17_inputs() -> list[bytes]:
    return require(CASES / "C17_jcs_numbers.ndjson").read_bytes().splitlines()


def test_c17_numbers_canonicalise_the_ecmascript_way():
    expected, digest = c17_expected()[0]
    line = c17_inputs()[0]
    assert jcs.canonicalize_text(line) == expected
    assert jcs.canonicalize(json.loads(line)) == expected
    assert hashlib.sha256(expected).hexdigest() == digest
    assert digest == "10615bbe0417fd5f4c73c49a36a6f5612c9d40760cc57a6bb1945cb9db2e875b"


def test_c17_integer_beyond_2_53_is_rejected():
    line = c17_inputs()[1]
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize_text(line)
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize(json.loads(line))


def test_c17_integer_as_string_hashes():
    expected, digest = c17_expected()[2]
    assert jcs.canonicalize_text(c17_inputs()[2]) == expected
    assert hashlib.sha256(expected).hexdigest() == digest


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551616",
        "-9223372036854775809",
        "1000000000000000000000000",
        "[9007199254740992]",
        '{"n":-9007199254740992}',
    ],
)
def test_big_integer_text_is_rejected_not_rounded(text):
    # orjson reads integers beyond 64 bits as floats; the result must still be a rejection.
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize_text(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_float_is_rejected(value):
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize({"a": None, "b": [1, {"c": value}]})


@pytest.mark.parametrize("text", ['{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', "[1e400]"])
def test_non_finite_literal_is_rejected(text):
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize_text(text)


def test_lone_surrogate_is_rejected():
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize({"a": "\ud800"})
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize_text('{"a":"\\ud800"}')


@pytest.mark.parametrize(
    "value, expected",
    [
        ("\x7f", b'"\x7f"'),
        ("\u2028\u2029", '"\u2028\u2029"'.encode()),
        ("</script>", b'"</script>"'),
        ('\x00\x1f\x08\x0c\n\r\t"\\/', b'"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\/"'),
        ({"\ufb33": 1, "\U0001f602": 2}, '{"\U0001f602":2,"\ufb33":1}'.encode()),
        ({"b": 10.0, "a": -0.0}, b'{"a":0,"b":10}'),
        ([1e-6, 1e-7, 1e16, 1e21], b"[0.000001,1e-7,10000000000000000,1e+21]"),
        ([MAX_SAFE, -MAX_SAFE], b"[9007199254740991,-9007199254740991]"),
    ],
)
def test_escapes_and_numbers(value, expected):
    assert jcs.canonicalize(value) == expected


def test_fast_path_is_taken_for_plain_events():
    event = {"event": "auth.login", "actor": {"id": "u-1", "roles": ["admin"]}, "reason": None}
    assert jcs.canonicalize_fast(event, floats_checked=False) == rfc8785.dumps(event)


def test_fast_path_declines_utf16_order_difference():
    event = {"\ufb33": 1, "\U0001f602": 2}
    assert jcs.canonicalize_fast(event, floats_checked=False) is None


# Property tests: the fast path returns exactly the reference bytes or declines


keys = st.text(max_size=6) | st.sampled_from(["\ufb33", "\U0001f602", "é", "a", "Z"])
strings = st.text(max_size=12) | st.sampled_from(["\x7f", "\u2028", "</script>", "e+1", ".0,"])
floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE, max_value=MAX_SAFE),
    floats,
    strings,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)


def reference(value) -> bytes | None:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return None


@PROPERTY
@given(value=json_values)
def test_canonicalize_equals_rfc8785(value):
    expected = reference(value)
    if expected is None:
        with pytest.raises(jcs.CanonicalizationError):
            jcs.canonicalize(value)
    else:
        assert jcs.canonicalize(value) == expected


@PROPERTY
@given(value=json_values)
def test_fast_path_never_disagrees(value):
    fast = jcs.canonicalize_fast(value, floats_checked=False)
    if fast is not None:
        assert fast == rfc8785.dumps(value)


@PROPERTY
@given(value=json_values, ensure_ascii=st.booleans())
def test_canonicalize_text_equals_rfc8785(value, ensure_ascii):
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    expected = reference(json.loads(text))
    if expected is None:
        with pytest.raises(jcs.CanonicalizationError):
            jcs.canonicalize_text(text)
    else:
        assert jcs.canonicalize_text(text) == expected


@PROPERTY
@given(value=floats)
def test_float_text_parses_like_json_loads(value):
    # The fast path reads numbers with orjson; it must give the same double as json.loads.
    for text in (repr(value), json.dumps(value), rfc8785.dumps(value).decode()):
        expected = json.loads(text)
        if not isinstance(expected, float):
            continue  # integer syntax: json.loads returns an int, covered by the tests above
        assert jcs.loads_fast(text) == expected
        assert math.copysign(1, jcs.loads_fast(text)) == math.copysign(1, expected)


@PROPERTY
@given(value=st.integers(min_value=-(2**70), max_value=2**70))
def test_integers_outside_safe_range_are_rejected(value):
    if abs(value) <= MAX_SAFE:
        assert jcs.canonicalize([value]) == f"[{value}]".encode()
        assert jcs.canonicalize_text(str(value)) == str(value).encode()
    else:
        with pytest.raises(jcs.CanonicalizationError):
            jcs.canonicalize([value])
        with pytest.raises(jcs.CanonicalizationError):
            jcs.canonicalize_text(str(value))


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        -float("nan"),
        float("inf"),
        -float("inf"),
        struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000001))[0],
    ],
)
def test_non_finite_float_is_found_among_nulls(value):
    event = {"reason": None, "token_id": None, "nested": [{"score": value}], "text": "x" * 127}
    assert jcs.canonicalize_fast(event, floats_checked=False) is None
    with pytest.raises(jcs.CanonicalizationError):
        jcs.canonicalize(event)
