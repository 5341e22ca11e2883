"""Tests for geodesic distances and login pairing."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from secobs.travel import TravelSettings, geodesic_m, impossible_travel, login_pairs

HALF_MERIDIAN_M = 20_003_931.5


def test_c15_geodesic_edge_pairs(case_inputs: Path) -> None:
    with (case_inputs / "C15_geodesic_edge_pairs.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7
    for row in rows:
        lat1, lon1, lat2, lon2 = (float(row[key]) for key in ("lat1", "lon1", "lat2", "lon2"))
        distance = geodesic_m(lat1, lon1, lat2, lon2)
        assert math.isfinite(distance), row["note"]
        assert distance == pytest.approx(float(row["expected_wgs84_m"]), abs=0.5), row["note"]
        assert distance <= HALF_MERIDIAN_M, row["note"]
        # Distance does not depend on direction.
        assert geodesic_m(lat2, lon2, lat1, lon1) == pytest.approx(distance, abs=0.5)


def logins(*rows: tuple[int, str, str, float | None, float | None, str]) -> pl.DataFrame:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "ts": [start + timedelta(seconds=row[0]) for row in rows],
            "actor_id": [row[1] for row in rows],
            "tenant_id": ["t1"] * len(rows),
            "client_ip": [row[2] for row in rows],
            "geo_country": [None] * len(rows),
            "geo_city": [None] * len(rows),
            "geo_lat": [row[3] for row in rows],
            "geo_lon": [row[4] for row in rows],
            "result": [row[5] for row in rows],
            "source_file": ["f"] * len(rows),
            "source_record": list(range(1, len(rows) + 1)),
        },
        schema_overrides={"geo_country": pl.String, "geo_city": pl.String},
    )


def test_pairs_across_antimeridian() -> None:
    # One degree of longitude on the equator, across 180°, in one hour: about 111 km/h.
    frame = logins((0, "a", "1.1.1.1", 0.0, 179.5, "success"),
                   (3600, "a", "1.1.1.2", 0.0, -179.5, "success"))  # fmt: skip
    pairs = login_pairs(frame)
    assert pairs["distance_km"][0] == pytest.approx(111.319491, abs=1e-3)
    assert pairs["speed_kmh"][0] == pytest.approx(111.319491, abs=1e-3)
    assert impossible_travel(pairs).height == 0


def test_pairs_skip_unknown_coordinates_and_other_actors() -> None:
    frame = logins(
        (0, "a", "1.1.1.1", 52.52, 13.405, "success"),
        (10, "a", "1.1.1.2", None, None, "success"),
        (20, "b", "1.1.1.3", 1.29, 103.85, "success"),
        (30, "a", "1.1.1.4", 52.52, 13.405, "success"),
    )
    pairs = login_pairs(frame)
    assert pairs.height == 1
    assert pairs["distance_km"][0] == 0
    assert pairs["speed_kmh"][0] == 0


def test_simultaneous_speed_finite() -> None:
    frame = logins((0, "a", "1.1.1.1", 52.52, 13.405, "success"),
                   (0, "a", "1.1.1.2", 1.29, 103.85, "success"))  # fmt: skip
    pairs = login_pairs(frame)
    assert pairs["simultaneous"][0] is True
    assert math.isfinite(pairs["speed_kmh"][0])
    assert impossible_travel(pairs).height == 1


def test_threshold_speed_is_exclusive() -> None:
    # 1,000 km due north along a meridian is not exactly 9° of latitude, so take the measured
    # distance and place the second login exactly at max speed.
    distance_km = geodesic_m(0.0, 0.0, 9.0, 0.0) / 1000
    seconds = distance_km / 900 * 3600
    frame = logins((0, "a", "1.1.1.1", 0.0, 0.0, "success"),
                   (seconds, "a", "1.1.1.2", 9.0, 0.0, "success"))  # fmt: skip
    pairs = login_pairs(frame)
    assert pairs["speed_kmh"][0] == pytest.approx(900, rel=1e-6)
    assert impossible_travel(pairs, TravelSettings(max_speed_kmh=901)).height == 0
    assert impossible_travel(pairs, TravelSettings(max_speed_kmh=899)).height == 1


def test_exempt_range_with_mapped_address() -> None:
    frame = logins((0, "a", "1.1.1.1", 52.52, 13.405, "success"),
                   (60, "a", "::ffff:10.8.0.5", 1.29, 103.85, "success"))  # fmt: skip
    assert login_pairs(frame, TravelSettings(exempt_networks=("10.8.0.0/16",))).height == 0
    assert login_pairs(frame).height == 1
