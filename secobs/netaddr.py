"""IP address normalisation and scope, for ingest and for geolocation.

`normalize_ip` returns the canonical text of an address: IPv4-mapped IPv6 becomes IPv4,
IPv6 is compressed and lower-cased, a bracketed or port-suffixed form is unwrapped. Anything
that is not an address (a service name such as "support.amazonaws.com", "AWS Internal", "-",
"null") gives None, so it is never geolocated or counted as an external address.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_BRACKETED = re.compile(r"^\[(?P<host>[0-9A-Fa-f:.]+)\](?::\d+)?$")
_IPV4_WITH_PORT = re.compile(r"^(?P<host>\d{1,3}(?:\.\d{1,3}){3}):\d+$")

# Scopes that are never geolocated: they say nothing about where a person is.
LOCAL_SCOPES = frozenset(
    {
        "private",
        "shared_cgnat",
        "loopback",
        "link_local",
        "unique_local",
        "documentation",
        "multicast",
        "reserved",
        "unspecified",
    }
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_ULA = ipaddress.ip_network("fc00::/7")
_DOCUMENTATION = tuple(
    ipaddress.ip_network(network)
    for network in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


@dataclass(frozen=True)
class IpInfo:
    """An address as received, its canonical form (None when invalid) and its scope."""

    raw: str | None
    ip: str | None
    scope: str  # global, private, shared_cgnat, loopback, link_local, ... or invalid

    @property
    def geolocatable(self) -> bool:
        return self.ip is not None and self.scope == "global"


def parse_ip(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse an address, unwrapping brackets, ports and IPv4-mapped IPv6; None if invalid."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    for pattern in (_BRACKETED, _IPV4_WITH_PORT):
        match = pattern.match(text)
        if match:
            text = match["host"]
            break
    if "%" in text:  # an IPv6 zone index such as fe80::1%eth0
        text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalize_ip(value: object) -> str | None:
    """Return the canonical text of an IP address, or None when the value is not one."""
    address = parse_ip(value)
    return None if address is None else str(address)


def ip_scope(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Name the scope of an address, checking the specific ranges before the general ones."""
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.version == 4 and address in _CGNAT:
        return "shared_cgnat"
    if address.version == 6 and address in _ULA:
        return "unique_local"
    if any(address.version == net.version and address in net for net in _DOCUMENTATION):
        return "documentation"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    return "global" if address.is_global else "reserved"


def classify_ip(value: object) -> IpInfo:
    """Normalise a value and name its scope; never raises."""
    address = parse_ip(value)
    raw = value if isinstance(value, str) else None
    if address is None:
        return IpInfo(raw, None, "invalid")
    return IpInfo(raw, str(address), ip_scope(address))
