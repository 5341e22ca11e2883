"""Impossible travel: consecutive logins of one actor too far apart for the time between them.

Distances are WGS-84 geodesics (`geopy.distance.geodesic`, which uses Karney's algorithm from
geographiclib, so it converges for nearly antipodal points where Vincenty's method does not).
Speed is distance over elapsed time. Two logins in the same second, such as simultaneous
sessions, would give an infinite speed, so the elapsed time is floored at `min_elapsed_s`
(1 s by default) for the speed and the pair is marked `simultaneous`. Speeds are never
infinite or missing for a pair that has coordinates at both ends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
from geopy.distance import geodesic

from secobs.netaddr import parse_ip

DEFAULT_MAX_SPEED_KMH = 900.0
"""Speed above which travel is impossible: about a long-haul airliner's cruise."""

DEFAULT_MIN_DISTANCE_KM = 500.0
"""Shorter jumps are ignored, because city-level geolocation is often off by that much."""

DEFAULT_MIN_ELAPSED_S = 1.0

PAIR_SCHEMA = {
    "actor_id": pl.String,
    "tenant_id": pl.String,
    "from_ts": pl.Datetime("us", "UTC"),
    "to_ts": pl.Datetime("us", "UTC"),
    "from_ip": pl.String,
    "to_ip": pl.String,
    "from_country": pl.String,
    "to_country": pl.String,
    "from_city": pl.String,
    "to_city": pl.String,
    "distance_km": pl.Float64,
    "elapsed_s": pl.Float64,
    "speed_kmh": pl.Float64,
    "simultaneous": pl.Boolean,
    "from_source_file": pl.String,
    "from_source_record": pl.Int64,
    "to_source_file": pl.String,
    "to_source_record": pl.Int64,
}


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the WGS-84 geodesic distance in metres; longitudes may be written as ±180."""
    return float(geodesic((lat1, lon1), (lat2, lon2), ellipsoid="WGS-84").meters)


@dataclass(frozen=True)
class TravelSettings:
    """Thresholds of the impossible-travel detection.

    `exempt_networks` are VPN or corporate egress ranges: a login from them does not show
    where the person is, so it is left out of the pairs.
    """

    max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH
    min_distance_km: float = DEFAULT_MIN_DISTANCE_KM
    min_elapsed_s: float = DEFAULT_MIN_ELAPSED_S
    successful_only: bool = True
    exempt_networks: tuple[str, ...] = ()


def _networks(texts: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(text.strip(), strict=False) for text in texts if text.strip()]


def _is_exempt(ip: object, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    address = parse_ip(ip)
    return address is not None and any(
        address.version == network.version and address in network for network in networks
    )


def login_pairs(logins: pl.DataFrame, settings: TravelSettings | None = None) -> pl.DataFrame:
    """Pair each login of an actor with the actor's previous login that has coordinates.

    `logins` needs the columns ts, actor_id, tenant_id, client_ip, geo_country, geo_city,
    geo_lat, geo_lon, result, source_file and source_record. Logins without coordinates and
    logins from exempt networks are skipped, so they neither start nor end a pair.
    """
    settings = settings or TravelSettings()
    if settings.successful_only:
        logins = logins.filter(pl.col("result") == "success")
    logins = logins.filter(pl.col("geo_lat").is_not_null() & pl.col("geo_lon").is_not_null())
    exempt = _networks(settings.exempt_networks)
    if exempt:
        keep = [not _is_exempt(ip, exempt) for ip in logins["client_ip"].to_list()]
        logins = logins.filter(pl.Series(keep, dtype=pl.Boolean))
    logins = logins.sort("actor_id", "ts", "source_file", "source_record")

    rows = []
    previous: dict[str, object] | None = None
    for login in logins.iter_rows(named=True):
        if previous is not None and previous["actor_id"] == login["actor_id"]:
            rows.append(_pair(previous, login, settings.min_elapsed_s))
        previous = login
    return pl.DataFrame(rows, schema=PAIR_SCHEMA, orient="row")


def _pair(first: dict, second: dict, min_elapsed_s: float) -> tuple:
    distance_km = geodesic_m(
        first["geo_lat"], first["geo_lon"], second["geo_lat"], second["geo_lon"]
    )
    distance_km /= 1000.0
    elapsed_s = (second["ts"] - first["ts"]).total_seconds()
    speed_kmh = distance_km / (max(elapsed_s, min_elapsed_s) / 3600.0)
    return (
        second["actor_id"],
        second["tenant_id"],
        first["ts"],
        second["ts"],
        first["client_ip"],
        second["client_ip"],
        first["geo_country"],
        second["geo_country"],
        first["geo_city"],
        second["geo_city"],
        distance_km,
        elapsed_s,
        speed_kmh,
        elapsed_s < min_elapsed_s,
        first["source_file"],
        first["source_record"],
        second["source_file"],
        second["source_record"],
    )


def impossible_travel(pairs: pl.DataFrame, settings: TravelSettings | None = None) -> pl.DataFrame:
    """Keep the login pairs faster than `max_speed_kmh` and at least `min_distance_km` apart.

    The catalog query `impossible_travel` applies the same filter in SQL to the `login_pairs`
    view; this is its counterpart for a DataFrame in hand.
    """
    settings = settings or TravelSettings()
    return pairs.filter(
        (pl.col("speed_kmh") > settings.max_speed_kmh)
        & (pl.col("distance_km") >= settings.min_distance_km)
    )
