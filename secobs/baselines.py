"""First-seen baselines per actor (device, country, network) and adaptive z-score baselines.

First-seen flags compare each audit event with the same actor's earlier events in the case:
an event is the first from its device, country or network when no earlier event of the actor
had that value. An actor's very first events say nothing about change, so a flag is set only
when the actor already had at least `min_history` events.

The z-score baselines live in the catalog query `baseline_anomaly`; `zscores` runs it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import duckdb
import polars as pl

from secobs.netaddr import parse_ip
from secobs.queries import get_query

DEFAULT_MIN_HISTORY = 5
"""Earlier events an actor needs before a first-seen value counts as new."""

# Browser and client families, most specific first: Edge and Opera also name Chrome and Safari.
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/")),
    ("Firefox", re.compile(r"\bFirefox/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
)
_PRODUCT = re.compile(r"^\s*([A-Za-z][\w.-]*)(?:/|\s|$)")


def device_family(user_agent: str | None) -> str | None:
    """Name a user agent's family: browser and system ("Chrome on Windows") or client name.

    Versions are dropped, so a browser update is not a new device. A non-browser client such
    as "python-requests/2.31.0" is named by its first product token ("python-requests").
    """
    if not user_agent or not user_agent.strip():
        return None
    if "Mozilla/" in user_agent:
        browser = next((name for name, rule in _BROWSERS if rule.search(user_agent)), "Browser")
        system = next((name for name, rule in _SYSTEMS if rule.search(user_agent)), None)
        return f"{browser} on {system}" if system else browser
    match = _PRODUCT.match(user_agent)
    return match.group(1).lower() if match else user_agent.strip()[:64]


def network_key(ip: object, asn: int | None = None) -> str | None:
    """Name the network of an address: its AS when known, else its /24 (IPv4) or /48 (IPv6)."""
    if asn is not None:
        return f"AS{asn}"
    address = parse_ip(ip)
    if address is None:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def first_seen(events: pl.DataFrame, *, min_history: int = DEFAULT_MIN_HISTORY) -> pl.DataFrame:
    """Add new_device, new_country and new_network flags and the actor's prior event count.

    `events` needs ts, actor_id, device, geo_country, network, source_file and source_record.
    A null value (unknown device, country or network) is never new. Rows come back in
    (actor_id, ts, source_file, source_record) order.
    """
    order = ["actor_id", "ts", "source_file", "source_record"]
    frame = events.sort(order, nulls_last=True).with_columns(
        pl.int_range(pl.len()).over("actor_id").alias("prior_events")
    )
    established = pl.col("actor_id").is_not_null() & (pl.col("prior_events") >= min_history)
    flags = []
    for column, flag in (
        ("device", "new_device"),
        ("geo_country", "new_country"),
        ("network", "new_network"),
    ):
        first = pl.struct("actor_id", column).is_first_distinct()
        flags.append((first & pl.col(column).is_not_null() & established).alias(flag))
    return frame.with_columns(flags)


def zscores(con: duckdb.DuckDBPyConnection, **params: Any) -> pl.DataFrame:
    """Run the `baseline_anomaly` query; `threshold=None` returns the z-score of every bucket."""
    return get_query("baseline_anomaly").frame(con, **params)
