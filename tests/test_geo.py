"""Tests for offline geolocation: scopes, the mmdb reader, the site map and the gazetteer."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from secobs.errors import InputError
from secobs.geo import Geolocator, load_sites, locate_place, place_coordinates

from .conftest import CASES, require


def c13_rows() -> list[dict[str, str]]:
    path = require(CASES / "C13_ip_normalization.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_c13_scope_and_normal_form() -> None:
    geolocator = Geolocator(mmdb=None, sites=None)
    rows = c13_rows()
    assert len(rows) == 15
    for row in rows:
        found = geolocator.lookup(row["raw_ip"])
        assert found.ip == (row["expected_ip"] or None), row["raw_ip"]
        assert found.scope == row["expected_scope"], row["raw_ip"]


def test_c13_geolocates_only_global() -> None:
    geolocator = Geolocator(mmdb=None, sites=None)
    for row in c13_rows():
        found = geolocator.lookup(row["raw_ip"])
        if row["geolocate"] == "yes":
            assert found.country is not None, row["raw_ip"]
            assert found.source == "registry"
        else:
            assert found.country is None, row["raw_ip"]
            assert found.source is None


def test_c13_mapped_ipv6_matches_ipv4() -> None:
    geolocator = Geolocator(mmdb=None, sites=None)
    assert geolocator.lookup("::ffff:8.8.8.8") == geolocator.lookup("8.8.8.8")
    assert geolocator.lookup("0:0:0:0:0:ffff:9.9.9.9").country == (
        geolocator.lookup("9.9.9.9").country
    )
    # Registry data: Google's 8.8.8.0/24 is assigned in the United States (ARIN).
    assert geolocator.lookup("8.8.8.8").country == "US"


@pytest.mark.parametrize(
    "value", [None, "", "-", "null", "AWS Internal", "support.amazonaws.com", 42, "999.1.1.1"]
)
def test_lookup_never_raises_on_junk(value: object) -> None:
    found = Geolocator(mmdb=None, sites=None).lookup(value)
    assert found.ip is None
    assert found.scope == "invalid"
    assert found.country is None


def test_documentation_addresses_not_placed() -> None:
    geolocator = Geolocator(mmdb=None, sites=None)
    for ip in ("192.0.2.30", "198.51.100.7", "203.0.113.148", "2001:db8::1"):
        found = geolocator.lookup(ip)
        assert found.scope == "documentation"
        assert found.country is None


def write_mmdb(path: Path) -> None:
    """Write a small City-layout MaxMind DB with one IPv4 and one IPv6 network."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoIP2-City", ipv4_compatible=True)
    city = {
        "country": {"iso_code": "JP"},
        "city": {"names": {"en": "Tokyo"}},
        "subdivisions": [{"names": {"en": "Tokyo"}}],
        "location": {"latitude": 35.6895, "longitude": 139.6917},
    }
    writer.insert_network(IPSet(["8.8.4.0/24"]), city)
    writer.insert_network(IPSet(["2001:4860::/32"]), {"country": {"iso_code": "CH"}})
    writer.to_db_file(str(path))


def test_mmdb_city_record(tmp_path: Path) -> None:
    pytest.importorskip("mmdb_writer")
    database = tmp_path / "test.mmdb"
    write_mmdb(database)
    geolocator = Geolocator(mmdb=database, sites=None)
    found = geolocator.lookup("8.8.4.4")
    assert found.source == "mmdb"
    assert found.country == "JP"
    assert found.city == "Tokyo"
    assert found.region == "Tokyo"
    assert found.lat == pytest.approx(35.6895)
    assert found.lon == pytest.approx(139.6917)
    # The mapped IPv6 form reads the same IPv4 record.
    assert geolocator.lookup("::ffff:8.8.4.4") == found
    assert geolocator.lookup("2001:4860:4860::8888").country == "CH"
    # An address that the file does not hold falls through to the registry data.
    fallback = geolocator.lookup("8.8.8.8")
    assert fallback.source == "registry"
    assert fallback.country == "US"
    # Private addresses never reach the file.
    assert geolocator.lookup("10.0.0.1").source is None
    geolocator.close()


def test_mmdb_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mmdb_writer")
    database = tmp_path / "env.mmdb"
    write_mmdb(database)
    monkeypatch.setenv("SECOBS_MMDB", str(database))
    assert Geolocator(registry=False).lookup("8.8.4.4").city == "Tokyo"


def test_mmdb_unreadable_raises_input_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a database")
    with pytest.raises(InputError) as raised:
        Geolocator(mmdb=broken, sites=None)
    assert raised.value.path == str(broken)


def test_site_map_places_private_ranges(tmp_path: Path) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text(
        "cidr,site,country,city,lat,lon\n"
        "10.0.0.0/8,corp,DE,Berlin,52.52,13.405\n"
        "10.20.0.0/16,lab,DE,Munich,48.137,11.575\n"
        "8.8.8.0/24,egress,,,,\n",
        encoding="utf-8",
    )
    geolocator = Geolocator(mmdb=None, sites=sites)
    lab = geolocator.lookup("10.20.3.4")
    assert (lab.site, lab.city, lab.lat, lab.lon) == ("lab", "Munich", 48.137, 11.575)
    assert geolocator.lookup("10.9.9.9").site == "corp"
    egress = geolocator.lookup("::ffff:8.8.8.8")
    assert egress.site == "egress"
    assert egress.country is None
    assert not egress.has_coordinates
    assert geolocator.lookup("192.168.1.1").source is None


def test_site_map_bad_row(tmp_path: Path) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text("cidr,site,country,city,lat,lon\nnot-a-net,x,DE,Berlin,1,2\n", "utf-8")
    with pytest.raises(InputError) as raised:
        load_sites(sites)
    assert raised.value.record == 1
    sites.write_text("cidr,site,country,city,lat,lon\n10.0.0.0/8,x,DE,Berlin,52.5,\n", "utf-8")
    with pytest.raises(InputError):
        load_sites(sites)
    sites.write_text("cidr,site\n10.0.0.0/8,x\n", "utf-8")
    with pytest.raises(InputError, match="lat"):
        load_sites(sites)


@pytest.mark.parametrize(
    ("country", "region", "city", "lat", "lon"),
    [
        ("DE", "Bavaria", "Munich", 48.14, 11.58),
        ("DE", "Hesse", "Frankfurt am Main", 50.12, 8.68),
        ("BR", "São Paulo", "São Paulo", -23.55, -46.64),
        ("BR", "Sao Paulo", "sao paulo", -23.55, -46.64),
        ("SG", "Singapore", "Singapore", 1.29, 103.85),
        ("US", "Virginia", "Ashburn", 39.04, -77.49),
        ("US", "New York", "New York", 40.71, -74.01),
        ("GB", "England", "Manchester", 53.48, -2.24),
    ],
)
def test_gazetteer_cities(country: str, region: str, city: str, lat: float, lon: float) -> None:
    coordinates = place_coordinates(country, region, city)
    assert coordinates is not None
    assert coordinates[0] == pytest.approx(lat, abs=0.05)
    assert coordinates[1] == pytest.approx(lon, abs=0.05)


def test_gazetteer_unknown_place() -> None:
    assert place_coordinates("DE", None, "Atlantis") is None
    assert place_coordinates(None, None, "Berlin") is None
    assert place_coordinates("DE", None, None) is None
    unknown = locate_place("ZZ", None, "Nowhere")
    assert unknown.country == "ZZ"
    assert not unknown.has_coordinates
    assert unknown.source is None
