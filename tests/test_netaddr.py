"""IP normalisation and scopes, including the private, shared and mapped cases."""

from __future__ import annotations

import csv

import pytest

from secobs.netaddr import classify_ip, normalize_ip


def test_ip_normalisation_case(case_inputs):
    with (case_inputs / "C13_ip_normalization.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 15
    for row in rows:
        info = classify_ip(row["raw_ip"])
        assert (info.ip or "") == row["expected_ip"], row
        assert info.scope == row["expected_scope"], row
        assert info.geolocatable == (row["geolocate"] == "yes"), row


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("203.0.113.9:8080", "203.0.113.9"),
        ("fe80::1%eth0", "fe80::1"),
        (" 198.51.100.7 ", "198.51.100.7"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("AWS Internal", None),
        ("support.amazonaws.com", None),
        ("null", None),
        ("-", None),
        ("", None),
        (None, None),
        (12, None),
    ],
)
def test_normalize_ip_forms(value, expected):
    assert normalize_ip(value) == expected


def test_documentation_ranges_are_not_global():
    assert classify_ip("203.0.113.5").scope == "documentation"
    assert classify_ip("2001:db8::5").scope == "documentation"
    assert classify_ip("8.8.8.8").geolocatable
