"""RFC 8785 (JSON Canonicalization Scheme) canonical bytes, with an orjson fast path.

``rfc8785`` (pure Python) is the reference implementation here and passes every RFC 8785 test
vector. It costs about 25 µs for a typical audit event, so the common case goes through
``orjson`` instead, and its output is kept only when it provably equals the RFC 8785 bytes:

- Keys are sorted. orjson sorts by UTF-8 bytes, which is code point order, while RFC 8785
  sorts by UTF-16 code units. The two orders differ only between a character from U+E000 to
  U+FFFF and one above U+FFFF. Both are encoded with the UTF-8 lead bytes 0xEE to 0xF4, so
  output that contains none of those bytes is sorted the same way.
- Strings are escaped the same way: ``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t`` and
  ``\\u00xx`` in lower case for the other control characters, and everything else as UTF-8,
  U+007F, U+2028, U+2029 and ``</script>`` included (checked by the test vectors and by
  property tests). Lone surrogates make orjson raise.
- Integers are exact. ``OPT_STRICT_INTEGER`` makes orjson raise outside ±(2**53 - 1), the
  I-JSON range, and rfc8785 rejects such integers too.
- Floats: orjson writes the same shortest round-trip digits as ECMAScript. It writes an
  integral float as ``10.0`` or ``-0.0`` where RFC 8785 writes ``10`` and ``0``. It uses
  exponent notation from 1e16 and below 1e-5, where RFC 8785 uses it only from 1e21 and
  below 1e-6. Output with a number token ending in ``.0`` or with an exponent (a digit, then
  ``e+`` or ``e-``, then a digit) goes to rfc8785. Strings that happen to contain those
  patterns only cost a slower path.
- orjson writes NaN and infinities as ``null``. A value that was not parsed by orjson (which
  rejects them) is checked for non-finite floats when its output contains ``null``.
"""

from __future__ import annotations

import json
import marshal
import math
import re
from typing import Any

import orjson
import rfc8785

# Raised for a value that RFC 8785 cannot represent: a NaN or infinity, an integer outside
# ±(2**53 - 1), a lone surrogate, a non-string key or a type that JSON does not have.
CanonicalizationError = rfc8785.CanonicalizationError

_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_LEAD_BYTES_ABOVE_UE000 = re.compile(rb"[\xee-\xf4]")
_INTEGRAL_FLOAT = re.compile(rb"\.0[,\]}]")
_EXPONENT = re.compile(rb"e[-+][0-9]")


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical form of a JSON value as UTF-8 bytes.

    Raises CanonicalizationError for a value that RFC 8785 cannot represent exactly. Values
    must be built from dict, list, str, int, float, bool and None, as json.loads returns them.
    """
    fast = canonicalize_fast(value, floats_checked=False)
    if fast is not None:
        return fast
    return canonicalize_reference(value)


def canonicalize_reference(value: Any) -> bytes:
    """Return the RFC 8785 bytes from the rfc8785 package alone, without the fast path."""
    try:
        return rfc8785.dumps(value)
    except RecursionError:
        raise CanonicalizationError("value is nested too deeply") from None


def canonicalize_fast(value: Any, *, floats_checked: bool) -> bytes | None:
    """Return orjson's bytes for a value when they equal its RFC 8785 form, or None.

    None means only that the fast path does not apply: call canonicalize. Pass
    ``floats_checked=True`` only for values that orjson.loads returned, because orjson
    rejects NaN and infinities while parsing.
    """
    try:
        out = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    if not out.isascii() and _LEAD_BYTES_ABOVE_UE000.search(out):
        return None
    if _INTEGRAL_FLOAT.search(out) or out.endswith(b".0") or _has_exponent(out):
        return None
    if not floats_checked and b"null" in out and not _floats_finite(value):
        return None
    return out


def loads_fast(data: bytes | str) -> Any:
    """Parse JSON text with orjson, for canonicalize_fast with ``floats_checked=True``.

    Raises ValueError for text that orjson rejects: invalid JSON, NaN and Infinity literals,
    numbers that overflow a double and escaped lone surrogates. orjson parses integers beyond
    64 bits as floats, so the value is only good for canonicalize_fast, which returns None for
    such a float because orjson writes it with an exponent. Parse with json.loads, which keeps
    integers exact, whenever this raises or canonicalize_fast returns None.
    """
    return orjson.loads(data)


def canonicalize_text(data: bytes | str) -> bytes:
    """Parse JSON text and return its RFC 8785 canonical bytes.

    Raises ValueError for text that is not JSON and CanonicalizationError for a value that
    RFC 8785 cannot represent exactly, such as the integer 1718000000123456789.
    """
    try:
        fast = canonicalize_fast(loads_fast(data), floats_checked=True)
    except ValueError:
        fast = None
    if fast is not None:
        return fast
    return canonicalize_reference(json.loads(data))


def _has_exponent(out: bytes) -> bool:
    """Return True when a number in orjson output may be written with an exponent.

    The search starts at the literal ``e`` because a regex that starts with a digit class is
    several times slower in Python's re module. Text such as ``acme-011`` is not a number
    because the ``e`` follows a letter.
    """
    for match in _EXPONENT.finditer(out):
        start = match.start()
        if start > 0 and 0x30 <= out[start - 1] <= 0x39:
            return True
    return False


def _floats_finite(value: Any) -> bool:
    """Return False when a NaN or infinity occurs anywhere in a JSON value.

    marshal (format version 2 and later) writes each float as its 8 IEEE 754 bytes in
    little-endian order. A NaN or infinity has all exponent bits set, so its last byte is
    0x7F or 0xFF. Output without either byte therefore has no such float, and marshal in C is
    about three times faster than walking the value in Python. Other values that contain
    those bytes (the integer -1, a string of 127 characters) only cost the walk.
    """
    try:
        packed = marshal.dumps(value)
    except ValueError:
        packed = b"\xff"
    if b"\x7f" not in packed and b"\xff" not in packed:
        return True
    return _walk_floats_finite(value)


def _walk_floats_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float and not math.isfinite(item):
            return False
    return True
