"""Seeded sample incident for a fictional multi-tenant SaaS API.

`generate` writes two days of telemetry in three formats: audit.v1 NDJSON, request metrics CSV
and OTLP/JSON spans. A ground-truth file names the attack hidden in the traffic. The attack is a
password spray, an account takeover from a distant country, a role escalation, an API token and
a burst of slow, large exports.

Every random choice comes from `random.Random` instances derived from the seed, and every
timestamp is computed from a fixed start instant, so the same seed and arguments give
byte-identical files. The attack draws from its own random stream, so it is the same at every
scale. All addresses come from the documentation ranges (RFC 5737 and RFC 3849), and every name
is fictional.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from secobs.errors import UsageError

logger = logging.getLogger("secobs")

DEFAULT_EVENTS = 4000
"""Audit events in the small rendition that `generate` writes when `events` is None."""

MIN_EVENTS = 1000
"""Minimum audit events `generate` accepts, because the attack alone takes up to about 175."""

AUDIT_FILE = "audit.ndjson"
REQUESTS_FILE = "requests.csv"
SPANS_FILE = "spans.otlp.jsonl"
GROUND_TRUTH_FILE = "ground_truth.json"
REQUEST_COLUMNS = (
    "ts",
    "request_id",
    "trace_id",
    "service",
    "env",
    "route",
    "method",
    "status_code",
    "latency_ms",
    "bytes",
    "client_ip",
    "user_agent",
    "actor_id",
    "tenant_id",
)

ENV = "prod"
SCOPE_NAME = "secobs.sample"
TRACES_PER_SPANS_LINE = 20

MB = 1_000_000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WINDOW_START_MS = int(datetime(2026, 2, 23, tzinfo=UTC).timestamp()) * 1000
WINDOW_END_MS = WINDOW_START_MS + 2 * DAY_MS

# OTLP span kinds and the error status code, as OTLP/JSON encodes them.
KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3
STATUS_ERROR = 2

SERVICE_VERSIONS = {
    "gateway": "git:4b1d9e0",
    "auth": "git:9f3c2a1",
    "billing": "git:c27e5f8",
    "export-worker": "git:e81a04d",
    "storage": "git:5d6f3b2",
}


@dataclass(frozen=True)
class SampleFiles:
    """Paths of the files `generate` wrote and the number of records in each."""

    audit: Path
    requests: Path
    spans: Path
    ground_truth: Path
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class Place:
    """A city as an audit event's geo block names it, with its UTC offset in February."""

    country: str
    region: str
    city: str
    utc_offset_minutes: int


@dataclass(frozen=True, slots=True)
class Client:
    """Source of a request: address, user agent and the place the address maps to."""

    ip: str
    user_agent: str
    place: Place


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An API operation, its audit event kind (None for unaudited reads) and value ranges.

    `latency_ms` and `bytes` are (low, high) ranges that requests draw from, skewed low.
    """

    event: str | None
    service: str
    method: str
    route: str
    status: int
    latency_ms: tuple[int, int]
    bytes: tuple[int, int]


PLACES = {
    "berlin": Place("DE", "Berlin", "Berlin", 60),
    "munich": Place("DE", "Bavaria", "Munich", 60),
    "frankfurt": Place("DE", "Hesse", "Frankfurt am Main", 60),
    "paris": Place("FR", "Île-de-France", "Paris", 60),
    "london": Place("GB", "England", "London", 0),
    "manchester": Place("GB", "England", "Manchester", 0),
    "new_york": Place("US", "New York", "New York", -300),
    "austin": Place("US", "Texas", "Austin", -360),
    "san_francisco": Place("US", "California", "San Francisco", -480),
    "ashburn": Place("US", "Virginia", "Ashburn", -300),
    "bengaluru": Place("IN", "Karnataka", "Bengaluru", 330),
    "mumbai": Place("IN", "Maharashtra", "Mumbai", 330),
    "dublin": Place("IE", "Leinster", "Dublin", 0),
    "amsterdam": Place("NL", "North Holland", "Amsterdam", 60),
    "sao_paulo": Place("BR", "São Paulo", "São Paulo", -180),
    "singapore": Place("SG", "Singapore", "Singapore", 480),
}

# Tenants: (tenant id, number of users, (home place, weight) pairs, login method).
# The login method "mixed" gives each user password or SSO at random.
TENANTS = (
    ("acme", 18, (("new_york", 5), ("san_francisco", 4), ("london", 3)), "sso"),
    ("globex", 17, (("berlin", 5), ("munich", 3), ("paris", 3), ("bengaluru", 2)), "password"),
    ("initech", 15, (("austin", 4), ("new_york", 2), ("mumbai", 3), ("manchester", 2)), "mixed"),
)
VICTIM_TENANT = "globex"
VICTIM_COUNTRY = "DE"
VICTIM_ROLES = ("member", "user_manager")

# Service accounts: (actor id, tenant id, place, user agent).
SERVICE_ACCOUNTS = (
    ("svc-acme-sync", "acme", "ashburn", "acme-sync/2.4.1 python-requests/2.31.0"),
    ("svc-globex-billing", "globex", "frankfurt", "globex-billing/1.8.0 Go-http-client/1.1"),
    ("svc-initech-reports", "initech", "dublin", "initech-reports/0.9.3 okhttp/4.12.0"),
)

BROWSER_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.6167.101 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.83",
)
SPRAY_USER_AGENTS = ("python-requests/2.31.0", "Go-http-client/1.1")
EXPORT_USER_AGENT = "curl/8.5.0"

ENDPOINTS = {
    "login": Endpoint("auth.login", "auth", "POST", "/v1/login", 200, (80, 590), (300, 900)),
    "login_failure": Endpoint(
        "auth.login", "auth", "POST", "/v1/login", 401, (80, 250), (120, 200)
    ),
    "slow_login": Endpoint(
        "auth.login", "auth", "POST", "/v1/login", 200, (1200, 2500), (300, 900)
    ),
    "logout": Endpoint("auth.logout", "auth", "POST", "/v1/logout", 204, (10, 60), (0, 0)),
    "refresh": Endpoint(
        "token.refresh", "auth", "POST", "/v1/tokens/refresh", 200, (20, 90), (600, 1200)
    ),
    "token_create": Endpoint(
        "token.create", "auth", "POST", "/v1/tokens", 201, (40, 150), (300, 500)
    ),
    "change_role": Endpoint(
        "admin.change_role", "auth", "POST", "/v1/admin/roles", 200, (30, 120), (200, 400)
    ),
    "deny_roles": Endpoint(
        "authz.denied", "auth", "POST", "/v1/admin/roles", 403, (8, 60), (90, 180)
    ),
    "read_projects": Endpoint(
        "data.read", "gateway", "GET", "/v1/projects", 200, (30, 250), (2_000, 60_000)
    ),
    "read_project": Endpoint(
        None, "gateway", "GET", "/v1/projects/{project_id}", 200, (15, 180), (1_000, 20_000)
    ),
    "read_invoices": Endpoint(
        "data.read", "billing", "GET", "/v1/billing/invoices", 200, (60, 400), (5_000, 120_000)
    ),
    "deny_invoices": Endpoint(
        "authz.denied", "billing", "GET", "/v1/billing/invoices", 403, (8, 60), (90, 180)
    ),
    "export": Endpoint(
        "data.export", "export-worker", "POST", "/v1/export", 200, (150, 600), (20_000, 900_000)
    ),
    "bulk_export": Endpoint(
        "data.export", "export-worker", "POST", "/v1/export", 200, (3000, 9000), (8 * MB, 64 * MB)
    ),
}

# Relative activity of a user by local hour of day (0-23). Service accounts run flat.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 4, 10, 14, 14, 14, 10, 14, 14, 14, 14, 9, 5, 3, 3, 3, 2, 2)
SERVICE_ACCOUNT_WEIGHT = 30

# Benign actions with weights per thousand draws. "mfa_failure" uses the login_failure endpoint.
USER_ACTIONS = (
    ("login", 100),
    ("login_failure", 25),
    ("mfa_failure", 5),
    ("logout", 40),
    ("refresh", 180),
    ("read_projects", 360),
    ("read_invoices", 250),
    ("export", 5),
    ("token_create", 4),
    ("change_role", 40),
)
SERVICE_ACTIONS = (("read_projects", 57), ("read_invoices", 40), ("export", 3))
DENIED_SHARE = 0.08
"""Share of invoice reads and role changes by users without the role that reach the API."""


@dataclass(slots=True)
class Actor:
    """A user or service account of the fictional API."""

    id: str
    type: str
    tenant_id: str
    roles: tuple[str, ...]
    place: Place
    clients: tuple[Client, ...]
    mfa: bool
    login_method: str
    activity: int
    token_id: str


@dataclass(slots=True)
class Span:
    """One span of a request's trace, with attributes already in OTLP/JSON form."""

    span_id: str
    parent_span_id: str
    service: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    error: bool
    attributes: list[dict[str, Any]]


@dataclass(slots=True)
class Request:
    """One HTTP request: its metrics row, its trace and, for an audited endpoint, its event."""

    endpoint: Endpoint
    start_ms: int
    latency_us: int
    request_id: str
    trace_id: str
    status: int
    bytes: int
    actor_id: str
    actor_type: str
    tenant_id: str
    roles: tuple[str, ...]
    client: Client
    auth_method: str
    token_id: str | None
    mfa: bool = False
    risk: int = 0
    signals: tuple[str, ...] = ()
    result: str = "success"
    reason: str | None = None
    audit_span_id: str = ""
    spans: tuple[Span, ...] = ()


def _random_hex(rng: random.Random, bits: int) -> str:
    """Return a non-zero random value as lower-case hex of bits // 4 digits."""
    value = 0
    while value == 0:
        value = rng.getrandbits(bits)
    return f"{value:0{bits // 4}x}"


def _token_id(rng: random.Random) -> str:
    """Return the hashed id of a fresh random token. The token itself is never kept."""
    return "tok_" + hashlib.sha256(rng.randbytes(32)).hexdigest()[:32]


def _skewed_int(rng: random.Random, low: int, high: int) -> int:
    """Return an int in [low, high], skewed towards low as latencies and sizes are."""
    return int(low + (high - low) * rng.betavariate(2.0, 5.0))


def _new_request(
    rng: random.Random, endpoint: Endpoint, actor: Actor, client: Client, at_ms: int
) -> Request:
    """Return a request with fresh ids and the endpoint's defaults, for callers to adjust."""
    service_account = actor.type == "service"
    low_ms, high_ms = endpoint.latency_ms
    return Request(
        endpoint=endpoint,
        start_ms=at_ms,
        latency_us=_skewed_int(rng, low_ms * 1000, high_ms * 1000),
        request_id="req-" + _random_hex(rng, 80),
        trace_id=_random_hex(rng, 128),
        status=endpoint.status,
        bytes=_skewed_int(rng, *endpoint.bytes),
        actor_id=actor.id,
        actor_type=actor.type,
        tenant_id=actor.tenant_id,
        roles=actor.roles,
        client=client,
        auth_method="api_key" if service_account else "session",
        token_id=actor.token_id if service_account else None,
        result="failure" if endpoint.status >= 400 else "success",
    )


def _format_ms(ms: int) -> str:
    """Format Unix milliseconds as RFC 3339 UTC with milliseconds and a Z suffix."""
    seconds, millis = divmod(ms, 1000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis:03d}Z"


def _format_latency(latency_us: int) -> str:
    """Format microseconds as decimal milliseconds without going through a float."""
    return f"{latency_us // 1000}.{latency_us % 1000:03d}"


def _severity(request: Request) -> str:
    if request.risk >= 80:
        return "high"
    if request.result == "failure" or request.risk >= 50:
        return "warning"
    return "info"


# Population.


def _address_pool() -> list[str]:
    """Return the addresses users may get. Attackers use 203.0.113.128/25, which is not here."""
    pool = [f"192.0.2.{host}" for host in range(10, 250)]
    pool += [f"198.51.100.{host}" for host in range(10, 250)]
    pool += [f"203.0.113.{host}" for host in range(10, 120)]
    return pool


def _build_population(rng: random.Random) -> tuple[list[Actor], Actor]:
    """Create the users and service accounts, and pick the account the attacker takes over."""
    addresses = rng.sample(_address_pool(), 60)
    actors: list[Actor] = []
    for tenant_id, size, places, method in TENANTS:
        names = [name for name, _ in places]
        weights = [weight for _, weight in places]
        for number in range(1, size + 1):
            place = PLACES[rng.choices(names, weights=weights)[0]]
            login_method = method if method != "mixed" else rng.choice(("password", "sso"))
            roles = ("member",)
            if number == 1:
                roles = ("member", "admin")
            elif rng.random() < 0.3:
                roles = ("member", "billing")
            ip = addresses.pop()
            if rng.random() < 0.15:
                ip = f"2001:db8:{rng.randrange(1, 0xFFFF):x}::{rng.randrange(1, 0xFFFF):x}"
            user_agents = rng.sample(BROWSER_USER_AGENTS, rng.randint(1, 2))
            actor = Actor(
                id=f"u-{tenant_id}-{number:03d}",
                type="user",
                tenant_id=tenant_id,
                roles=roles,
                place=place,
                clients=tuple(Client(ip, agent, place) for agent in user_agents),
                mfa=login_method == "sso" or rng.random() < 0.8,
                login_method=login_method,
                activity=rng.randint(1, 5),
                token_id=_token_id(rng),
            )
            actors.append(actor)
    victim = _choose_victim(actors, rng)

    for actor_id, tenant_id, place_name, user_agent in SERVICE_ACCOUNTS:
        place = PLACES[place_name]
        actor = Actor(
            id=actor_id,
            type="service",
            tenant_id=tenant_id,
            roles=("integration",),
            place=place,
            clients=(Client(addresses.pop(), user_agent, place),),
            mfa=False,
            login_method="api_key",
            activity=SERVICE_ACCOUNT_WEIGHT,
            token_id=_token_id(rng),
        )
        actors.append(actor)
    return actors, victim


def _choose_victim(users: list[Actor], rng: random.Random) -> Actor:
    """Pick a member without MFA in the victim tenant and country, adjusting one if none fits.

    The victim logs in with a password, has no MFA and has a role that may change roles.
    """
    members = [user for user in users if user.tenant_id == VICTIM_TENANT and len(user.roles) == 1]
    local = [user for user in members if user.place.country == VICTIM_COUNTRY] or members
    candidates = [user for user in local if not user.mfa] or local
    victim = rng.choice(candidates)
    if victim.place.country != VICTIM_COUNTRY:
        victim.place = PLACES["berlin"]
        victim.clients = tuple(Client(c.ip, c.user_agent, victim.place) for c in victim.clients)
    victim.mfa = False
    victim.login_method = "password"
    victim.roles = VICTIM_ROLES
    return victim


# Spans.


def _attribute(key: str, value: object) -> dict[str, Any]:
    """Encode one attribute as OTLP/JSON does, with 64-bit ints as decimal strings."""
    if isinstance(value, bool):
        encoded: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        encoded = {"intValue": str(value)}
    elif isinstance(value, float):
        encoded = {"doubleValue": value}
    elif isinstance(value, tuple | list):
        encoded = {"arrayValue": {"values": [{"stringValue": item} for item in value]}}
    else:
        encoded = {"stringValue": str(value)}
    return {"key": key, "value": encoded}


def _security_attributes(request: Request) -> list[dict[str, Any]]:
    """Return the request and security context that root and service spans carry."""
    attributes = [
        _attribute("enduser.id", request.actor_id),
        _attribute("tenant.id", request.tenant_id),
        _attribute("auth.method", request.auth_method),
        _attribute("security.risk_score", request.risk),
        _attribute("security.signals", request.signals),
        _attribute("security.geo_country", request.client.place.country),
        _attribute("http.route", request.endpoint.route),
        _attribute("http.request.method", request.endpoint.method),
        _attribute("http.response.status_code", request.status),
        _attribute("request.id", request.request_id),
    ]
    if request.token_id is not None:
        attributes.append(_attribute("security.token_id", request.token_id))
    return attributes


class _Trace:
    """Collects the spans of one trace, each child placed inside its parent's time window."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.spans: list[Span] = []

    def add(
        self,
        parent: Span | None,
        service: str,
        name: str,
        kind: int,
        window: tuple[int, int],
        attributes: list[dict[str, Any]] | None = None,
        error: bool = False,
    ) -> Span:
        """Add a span covering the part of its parent between two fractions, in per mille.

        A root span (no parent) takes `window` as its start and end in nanoseconds.
        """
        if parent is None:
            start_ns, end_ns = window
        else:
            duration = parent.end_ns - parent.start_ns
            start_ns = parent.start_ns + duration * window[0] // 1000
            end_ns = parent.start_ns + duration * window[1] // 1000
        parent_id = parent.span_id if parent else ""
        span_id = _random_hex(self.rng, 64)
        span = Span(
            span_id, parent_id, service, name, kind, start_ns, end_ns, error, attributes or []
        )
        self.spans.append(span)
        return span


def _attach_spans(
    request: Request,
    rng: random.Random,
    *,
    geo_check: bool = False,
    role: str = "",
    target: str = "",
) -> None:
    """Build the request's trace: a gateway root, the handling service and its children.

    The root lasts exactly the request's latency. The audit event's span id is the span of the
    service that handled the request. `geo_check` adds the slow risk check of a high-risk login,
    and `role` and `target` describe a role change.
    """
    endpoint = request.endpoint
    error = request.status >= 500
    start_ns = request.start_ms * 1_000_000
    window = (start_ns, start_ns + request.latency_us * 1000)
    name = f"{endpoint.method} {endpoint.route}"
    security = _security_attributes(request)
    client = [
        _attribute("client.address", request.client.ip),
        _attribute("user_agent.original", request.client.user_agent),
    ]
    trace = _Trace(rng)
    root = trace.add(None, "gateway", name, KIND_SERVER, window, security + client, error)

    if endpoint.service == "gateway":
        request.audit_span_id = root.span_id
        operation = "projects.list" if endpoint.route == "/v1/projects" else "projects.get"
        tenant = [_attribute("tenant.id", request.tenant_id)]
        trace.add(root, "gateway", operation, KIND_INTERNAL, (40, 960), tenant, error)
    else:
        inner = (rng.randint(5, 40), 1000 - rng.randint(3, 20))
        server = trace.add(root, endpoint.service, name, KIND_SERVER, inner, security, error)
        request.audit_span_id = server.span_id
        if endpoint.event != "authz.denied":
            _add_service_spans(trace, server, request, geo_check, role, target)
    request.spans = tuple(trace.spans)


def _add_service_spans(
    trace: _Trace, server: Span, request: Request, geo_check: bool, role: str, target: str
) -> None:
    """Add the spans a service writes below its server span, which depend on the route."""
    route = request.endpoint.route
    if route == "/v1/login":
        verify = "sso.verify_assertion" if request.auth_method == "sso" else "password.verify"
        method = [_attribute("auth.method", request.auth_method)]
        trace.add(server, "auth", verify, KIND_INTERNAL, (20, 200 if geo_check else 550), method)
        if request.mfa:
            mfa = [_attribute("security.mfa", True)]
            trace.add(server, "auth", "mfa.verify", KIND_INTERNAL, (600, 950), mfa)
        if geo_check:
            country = [_attribute("security.geo_country", request.client.place.country)]
            trace.add(server, "auth", "risk.geo_check", KIND_INTERNAL, (220, 985), country)
    elif route == "/v1/logout":
        trace.add(server, "auth", "session.revoke", KIND_INTERNAL, (100, 900))
    elif route in ("/v1/tokens", "/v1/tokens/refresh"):
        token = [_attribute("security.token_id", request.token_id or "")]
        trace.add(server, "auth", "token.issue", KIND_INTERNAL, (100, 900), token)
    elif route == "/v1/admin/roles":
        grant = [_attribute("iam.role.granted", role), _attribute("iam.target.id", target)]
        trace.add(server, "auth", "role.assign", KIND_INTERNAL, (100, 900), grant)
    elif route == "/v1/billing/invoices":
        table = [_attribute("db.collection.name", "invoices")]
        trace.add(server, "storage", "storage.query", KIND_CLIENT, (100, 900), table, server.error)
    elif route == "/v1/export":
        table = [_attribute("db.collection.name", "projects")]
        scan = trace.add(server, "storage", "storage.scan", KIND_CLIENT, (50, 800), table)
        read = [_attribute("storage.bytes_read", request.bytes * 3)]
        trace.add(scan, "storage", "storage.read_segments", KIND_INTERNAL, (100, 950), read)
        output = [_attribute("export.format", "csv"), _attribute("export.bytes", request.bytes)]
        trace.add(server, "export-worker", "export.serialize", KIND_INTERNAL, (810, 990), output)


# Benign traffic.


class _BenignTraffic:
    """Draws benign requests one time bucket at a time, so memory stays flat at any scale."""

    def __init__(self, actors: list[Actor], victim: Actor, escalation_ms: int, rng: random.Random):
        self.actors = actors
        self.victim = victim
        self.escalation_ms = escalation_ms
        self.rng = rng
        self._weights_by_hour: dict[int, list[int]] = {}
        self._user_actions = [name for name, _ in USER_ACTIONS]
        self._user_cum_weights = _cumulative([weight for _, weight in USER_ACTIONS])
        self._service_actions = [name for name, _ in SERVICE_ACTIONS]
        self._service_cum_weights = _cumulative([weight for _, weight in SERVICE_ACTIONS])

    def weights_at(self, ms: int) -> list[int]:
        """Return each actor's activity weight in the UTC hour that contains `ms`."""
        hour = (ms - WINDOW_START_MS) // HOUR_MS
        weights = self._weights_by_hour.get(hour)
        if weights is None:
            minute_of_day = (ms % DAY_MS) // MINUTE_MS
            weights = []
            for actor in self.actors:
                if actor.type == "service":
                    weights.append(actor.activity)
                    continue
                local_hour = (minute_of_day + actor.place.utc_offset_minutes) % (24 * 60) // 60
                weights.append(actor.activity * HOUR_WEIGHTS[local_hour])
            self._weights_by_hour[hour] = weights
        return weights

    def bucket(self, start_ms: int, end_ms: int, audited: int) -> list[Request]:
        """Return `audited` requests with audit events in [start_ms, end_ms), plus page reads."""
        rng = self.rng
        requests: list[Request] = []
        actor_cum_weights = _cumulative(self.weights_at(start_ms))
        for _ in range(audited):
            actor = rng.choices(self.actors, cum_weights=actor_cum_weights)[0]
            at_ms = rng.randrange(start_ms, end_ms)
            if actor.type == "service":
                actions, cum_weights = self._service_actions, self._service_cum_weights
            else:
                actions, cum_weights = self._user_actions, self._user_cum_weights
            request = self._act(actor, rng.choices(actions, cum_weights=cum_weights)[0], at_ms)
            requests.append(request)

            # A user who lists projects or invoices often opens a project page or two next.
            if request.endpoint.event == "data.read" and actor.type == "user":
                if rng.random() < 0.4:
                    for _ in range(rng.randint(1, 2)):
                        read_ms = rng.randint(at_ms, min(at_ms + 20_000, end_ms - 1))
                        requests.append(self._read_project(actor, read_ms))
        return requests

    def _request(self, action: str, actor: Actor, at_ms: int) -> Request:
        """Return a request from one of the actor's clients with a benign risk score."""
        rng = self.rng
        client = rng.choice(actor.clients)
        request = _new_request(rng, ENDPOINTS[action], actor, client, at_ms)
        if actor.type == "user":
            request.risk = min(30, int(rng.expovariate(1 / 7)))
            request.mfa = actor.mfa
        else:
            request.risk = rng.randint(0, 10)
        if actor is self.victim and at_ms > self.escalation_ms:
            request.roles = actor.roles + ("admin",)
        return request

    def _act(self, actor: Actor, action: str, at_ms: int) -> Request:
        """Return the request for one benign action, with its spans."""
        rng = self.rng
        if action in ("read_invoices", "change_role") and not _is_allowed(actor, action):
            # Users without the role mostly stay on pages they may use; a few reach the API.
            if rng.random() >= DENIED_SHARE:
                action = "read_projects"
            else:
                action = "deny_invoices" if action == "read_invoices" else "deny_roles"
        endpoint_name = "login_failure" if action == "mfa_failure" else action
        request = self._request(endpoint_name, actor, at_ms)
        role = target = ""

        if action == "login":
            request.auth_method = actor.login_method
            if rng.random() < 0.03:
                request.signals = ("new_device",)
                request.risk = rng.randint(25, 45)
        elif action in ("login_failure", "mfa_failure"):
            request.auth_method = actor.login_method
            request.reason = "invalid_password" if action == "login_failure" else "mfa_failed"
            request.roles = ()
            request.mfa = False
            request.risk = rng.randint(15, 45)
        elif action in ("deny_invoices", "deny_roles"):
            request.reason = "missing_role"
        elif action == "refresh":
            request.auth_method = "jwt"
            request.token_id = actor.token_id
        elif action == "token_create":
            request.token_id = _token_id(rng)
        elif action == "change_role":
            role = rng.choice(("project_viewer", "project_editor"))
            target = f"u-{actor.tenant_id}-{rng.randint(2, 15):03d}"
        elif action == "read_invoices" and rng.random() < 0.005:
            request.status = 503
            request.result = "failure"
            request.reason = "upstream_unavailable"
            request.bytes = 0
        _attach_spans(request, rng, role=role, target=target)
        return request

    def _read_project(self, actor: Actor, at_ms: int) -> Request:
        """Return a project page read, which has metrics and spans but no audit event."""
        request = self._request("read_project", actor, at_ms)
        request.risk = 0
        if self.rng.random() < 0.003:
            request.status = 500
            request.bytes = 0
        _attach_spans(request, self.rng)
        return request


def _is_allowed(actor: Actor, action: str) -> bool:
    """Return whether the actor's roles allow an invoice read or a role change."""
    if action == "read_invoices":
        return actor.type == "service" or "billing" in actor.roles or "admin" in actor.roles
    return "admin" in actor.roles


def _cumulative(weights: list[int]) -> list[int]:
    total = 0
    cumulative = []
    for weight in weights:
        total += weight
        cumulative.append(total)
    return cumulative


# Attack.


@dataclass(slots=True)
class _Attack:
    """The attack's requests in time order and the ground truth that describes them."""

    requests: list[Request]
    ground_truth: dict[str, Any]
    escalation_ms: int


class _AttackBuilder:
    """Plans the attack on day 2 from its own random stream, independent of the benign volume."""

    def __init__(self, actors: list[Actor], victim: Actor, rng: random.Random):
        self.users = [actor for actor in actors if actor.type == "user"]
        self.victim = victim
        self.rng = rng
        self.requests: list[Request] = []
        ips = rng.sample([f"203.0.113.{host}" for host in range(128, 255)], 3)
        self.spray_clients = (
            Client(ips[0], SPRAY_USER_AGENTS[0], PLACES["amsterdam"]),
            Client(ips[1], SPRAY_USER_AGENTS[1], PLACES["ashburn"]),
        )
        foreign_place = PLACES[rng.choice(("sao_paulo", "singapore"))]
        home_agents = [client.user_agent for client in victim.clients]
        new_agent = rng.choice([agent for agent in BROWSER_USER_AGENTS if agent not in home_agents])
        self.foreign = Client(ips[2], new_agent, foreign_place)
        self.exporter = Client(ips[2], EXPORT_USER_AGENT, foreign_place)

    def _add(
        self, action: str, at_ms: int, client: Client, risk: int, *signals: str, **details: str
    ) -> Request:
        """Add a request made with the victim's account, passing `details` to its spans."""
        request = _new_request(self.rng, ENDPOINTS[action], self.victim, client, at_ms)
        request.risk = risk
        request.signals = signals
        if action in ("login", "slow_login"):
            request.auth_method = "password"
        _attach_spans(request, self.rng, geo_check=action == "slow_login", **details)
        self.requests.append(request)
        return request

    def build(self) -> _Attack:
        """Plan every attack request and return them with the ground truth."""
        rng = self.rng
        victim = self.victim
        day_two = WINDOW_START_MS + DAY_MS

        spray = self._spray(day_two + 2 * HOUR_MS + 40 * MINUTE_MS + rng.randrange(10 * MINUTE_MS))
        spray_end = max(request.start_ms for request in spray)
        at_ms = spray_end + rng.randint(MINUTE_MS, 3 * MINUTE_MS)
        signals = ("password_spray_suspected", "new_device")
        cracked = self._add(
            "slow_login", at_ms, self.spray_clients[0], rng.randint(85, 92), *signals
        )

        # The real user signs in at home in the morning; the attacker follows minutes later.
        at_ms = day_two + 7 * HOUR_MS + 55 * MINUTE_MS + rng.randrange(20 * MINUTE_MS)
        home = self._add("login", at_ms, victim.clients[0], rng.randint(3, 15))
        at_ms += rng.randint(6 * MINUTE_MS, 12 * MINUTE_MS)
        signals = ("geo_anomaly", "new_device")
        foreign = self._add("slow_login", at_ms, self.foreign, rng.randint(90, 97), *signals)
        at_ms += rng.randint(40_000, 90_000)
        self._add("read_projects", at_ms, self.foreign, rng.randint(70, 79), "geo_anomaly")
        at_ms += rng.randint(30_000, 70_000)
        denied = self._add("deny_invoices", at_ms, self.foreign, rng.randint(70, 79), "geo_anomaly")
        denied.reason = "missing_role"

        at_ms += rng.randint(2 * MINUTE_MS, 4 * MINUTE_MS)
        signals = ("geo_anomaly", "privilege_change")
        risk = rng.randint(80, 90)
        escalation = self._add(
            "change_role", at_ms, self.foreign, risk, *signals, role="admin", target=victim.id
        )

        at_ms += rng.randint(2 * MINUTE_MS, 4 * MINUTE_MS)
        token_id = _token_id(rng)
        token = self._new_token_request(at_ms, token_id)
        exports = self._exports(at_ms + rng.randint(MINUTE_MS, 3 * MINUTE_MS), token_id)

        self.requests.sort(key=lambda request: (request.start_ms, request.request_id))
        ground_truth = _ground_truth(
            spray, cracked, home, foreign, escalation, token, exports, self.requests
        )
        return _Attack(self.requests, ground_truth, escalation.start_ms)

    def _new_token_request(self, at_ms: int, token_id: str) -> Request:
        request = _new_request(
            self.rng, ENDPOINTS["token_create"], self.victim, self.foreign, at_ms
        )
        request.roles = VICTIM_ROLES + ("admin",)
        request.token_id = token_id
        request.risk = self.rng.randint(75, 85)
        request.signals = ("geo_anomaly",)
        _attach_spans(request, self.rng)
        self.requests.append(request)
        return request

    def _spray(self, start_ms: int) -> list[Request]:
        """Add failed logins: two addresses, each trying common passwords on many accounts.

        The first address tries two passwords on 30 accounts, the victim among them. Its second
        password is the victim's, and that successful login comes after the spray. The second
        address tries one password on 27 accounts.
        """
        rng = self.rng
        others = [user for user in self.users if user is not self.victim]
        first_targets = [*rng.sample(others, 29), self.victim]
        rng.shuffle(first_targets)
        second_targets = rng.sample(others, 27)
        first = first_targets + [user for user in first_targets if user is not self.victim]
        attempts = _spread(rng, first, self.spray_clients[0], MINUTE_MS, 27 * MINUTE_MS)
        attempts += _spread(rng, second_targets, self.spray_clients[1], 0, 24 * MINUTE_MS)

        failures: list[Request] = []
        for offset_ms, target, client in attempts:
            endpoint = ENDPOINTS["login_failure"]
            request = _new_request(rng, endpoint, target, client, start_ms + offset_ms)
            request.auth_method = "password"
            request.reason = "invalid_password"
            request.roles = ()
            request.risk = rng.randint(60, 75)
            request.signals = ("password_spray_suspected",)
            _attach_spans(request, rng)
            failures.append(request)
        self.requests.extend(failures)
        return failures

    def _exports(self, start_ms: int, token_id: str) -> list[Request]:
        """Add the burst of slow, large exports made with the new API token."""
        rng = self.rng
        count = rng.randint(40, 80)
        burst_ms = rng.randint(17, 20) * MINUTE_MS
        exports = []
        for offset_ms in sorted(rng.randrange(burst_ms) for _ in range(count)):
            endpoint = ENDPOINTS["bulk_export"]
            request = _new_request(rng, endpoint, self.victim, self.exporter, start_ms + offset_ms)
            request.roles = VICTIM_ROLES + ("admin",)
            request.auth_method = "api_key"
            request.token_id = token_id
            request.risk = rng.randint(60, 75)
            request.signals = ("geo_anomaly",)
            _attach_spans(request, rng)
            exports.append(request)
        self.requests.extend(exports)
        return exports


SCENARIOS = (
    "incident",
    "benign",
    "spray",
    "takeover",
    "escalation",
    "token_theft",
    "export_spike",
    "stuffing",
)
"""Values of `generate(scenario=...)`. "incident" is the full attack and the default."""


class _ScenarioBuilder(_AttackBuilder):
    """Plans one attack technique on day 2, or none for "benign", with ground truth for it.

    Every request added through `_add` or `_use` is an attack event, except those that
    `benign_requests` names (the real user's own actions that the attack builds on).
    """

    def __init__(self, actors: list[Actor], victim: Actor, rng: random.Random):
        super().__init__(actors, victim, rng)
        self.benign_requests: list[Request] = []
        self.details: dict[str, Any] = {}

    def build_scenario(self, scenario: str) -> _Attack:
        """Plan the requests of `scenario` and return them with the ground truth."""
        day_two = WINDOW_START_MS + DAY_MS
        at_ms = day_two + 6 * HOUR_MS + self.rng.randrange(4 * HOUR_MS)
        escalation_ms = WINDOW_END_MS
        if scenario == "spray":
            spray = self._spray(at_ms)
            cracked_ms = max(request.start_ms for request in spray) + MINUTE_MS
            signals = ("password_spray_suspected", "new_device")
            self._add("slow_login", cracked_ms, self.spray_clients[0], 88, *signals)
        elif scenario == "takeover":
            self._takeover(at_ms)
        elif scenario == "escalation":
            escalation_ms = self._escalation(at_ms)
        elif scenario == "token_theft":
            self._token_theft(at_ms)
        elif scenario == "export_spike":
            token_id = _token_id(self.rng)
            self.details["token_id"] = token_id
            self._exports(at_ms, token_id)
        elif scenario == "stuffing":
            self._stuffing(at_ms)
        self.requests.sort(key=lambda request: (request.start_ms, request.request_id))
        return _Attack(self.requests, self._scenario_truth(scenario), escalation_ms)

    def _use(
        self,
        action: str,
        at_ms: int,
        client: Client,
        risk: int,
        signals: tuple[str, ...] = (),
        token_id: str | None = None,
    ) -> Request:
        """Add a request with the victim's account, optionally authenticated by a token."""
        request = _new_request(self.rng, ENDPOINTS[action], self.victim, client, at_ms)
        request.risk = risk
        request.signals = signals
        if token_id is not None:
            request.auth_method = "api_key"
            request.token_id = token_id
        _attach_spans(request, self.rng)
        self.requests.append(request)
        return request

    def _takeover(self, at_ms: int) -> None:
        """Add a takeover: the real user logs in at home, and minutes later the attacker abroad."""
        home = self._add("login", at_ms, self.victim.clients[0], self.rng.randint(3, 15))
        self.benign_requests.append(home)
        at_ms += self.rng.randint(6 * MINUTE_MS, 12 * MINUTE_MS)
        self._add("slow_login", at_ms, self.foreign, 93, "geo_anomaly", "new_device")
        for _ in range(self.rng.randint(2, 4)):
            at_ms += self.rng.randint(30_000, 90_000)
            self._add("read_projects", at_ms, self.foreign, 72, "geo_anomaly")

    def _escalation(self, at_ms: int) -> int:
        """From abroad, the attacker probes the role API, is denied, then grants admin."""
        self._add("slow_login", at_ms, self.foreign, 93, "geo_anomaly", "new_device")
        for _ in range(self.rng.randint(6, 10)):
            at_ms += self.rng.randint(10_000, 40_000)
            denied = self._add("deny_roles", at_ms, self.foreign, 75, "geo_anomaly")
            denied.reason = "missing_role"
        at_ms += self.rng.randint(MINUTE_MS, 3 * MINUTE_MS)
        signals = ("geo_anomaly", "privilege_change")
        self._add(
            "change_role", at_ms, self.foreign, 86, *signals, role="admin", target=self.victim.id
        )
        return at_ms

    def _token_theft(self, at_ms: int) -> None:
        """Add a token theft: a token created at home is used from elsewhere hours later."""
        token_id = _token_id(self.rng)
        self.details["token_id"] = token_id
        created = _new_request(
            self.rng, ENDPOINTS["token_create"], self.victim, self.victim.clients[0], at_ms
        )
        created.token_id = token_id
        created.risk = 5
        _attach_spans(created, self.rng)
        self.requests.append(created)
        self.benign_requests.append(created)
        home_use = at_ms + self.rng.randint(MINUTE_MS, 5 * MINUTE_MS)
        self.benign_requests.append(
            self._use("read_projects", home_use, self.victim.clients[0], 5, token_id=token_id)
        )
        at_ms += self.rng.randint(2 * HOUR_MS, 5 * HOUR_MS)
        for _ in range(self.rng.randint(3, 6)):
            at_ms += self.rng.randint(MINUTE_MS, 6 * MINUTE_MS)
            action = self.rng.choice(("read_projects", "export"))
            self._use(action, at_ms, self.exporter, 40, token_id=token_id)

    def _stuffing(self, at_ms: int) -> None:
        """Replay leaked credentials: one client, many addresses, one try per account."""
        rng = self.rng
        addresses = rng.sample([f"203.0.113.{host}" for host in range(128, 255)], 8)
        targets = rng.sample(self.users, rng.randint(25, 40))
        offsets = sorted(rng.randrange(20 * MINUTE_MS) for _ in targets)
        for offset, target in zip(offsets, targets, strict=True):
            client = Client(rng.choice(addresses), SPRAY_USER_AGENTS[0], PLACES["amsterdam"])
            succeeded = rng.random() < 0.06
            action = "login" if succeeded else "login_failure"
            request = _new_request(rng, ENDPOINTS[action], target, client, at_ms + offset)
            request.auth_method = "password"
            if not succeeded:
                request.reason = "invalid_password"
                request.roles = ()
            request.risk = rng.randint(55, 70)
            _attach_spans(request, rng)
            self.requests.append(request)

    def _scenario_truth(self, scenario: str) -> dict[str, Any]:
        """Describe the scenario's attack events by trace id, actor, address and token."""
        attack = [request for request in self.requests if request not in self.benign_requests]
        tokens = sorted({request.token_id for request in attack if request.token_id})
        return {
            "scenario": scenario,
            "window": {"start": _format_ms(WINDOW_START_MS), "end": _format_ms(WINDOW_END_MS)},
            "victim": self.victim.id if attack else None,
            "actors": sorted({request.actor_id for request in attack}),
            "ips": sorted({request.client.ip for request in attack}),
            "tokens": tokens,
            "events": sum(1 for request in attack if request.endpoint.event),
            "trace_ids": sorted(request.trace_id for request in attack),
            **self.details,
        }


def _spread(
    rng: random.Random, targets: list[Actor], client: Client, low_ms: int, high_ms: int
) -> list[tuple[int, Actor, Client]]:
    """Pair targets, in order, with sorted random offsets in [low_ms, high_ms)."""
    offsets = sorted(rng.randrange(low_ms, high_ms) for _ in targets)
    return [(offset, target, client) for offset, target in zip(offsets, targets, strict=True)]


def _ground_truth(
    spray: list[Request],
    cracked: Request,
    home: Request,
    foreign: Request,
    escalation: Request,
    token: Request,
    exports: list[Request],
    attack: list[Request],
) -> dict[str, Any]:
    """Describe the attack for tests and for checking detections against it.

    Top-level lists are sorted, and the export lists are in time order. The home login belongs
    to the real user, so its trace is not among the attack's trace ids.
    """

    def login(request: Request) -> dict[str, Any]:
        return {
            "ts": _format_ms(request.start_ms),
            "ip": request.client.ip,
            "country": request.client.place.country,
            "city": request.client.place.city,
            "request_id": request.request_id,
            "trace_id": request.trace_id,
        }

    targeted = sorted({request.actor_id for request in spray})
    spray_ips = sorted({request.client.ip for request in spray})
    attack_ips = {request.client.ip for request in attack if request is not home}
    return {
        "window": {"start": _format_ms(WINDOW_START_MS), "end": _format_ms(WINDOW_END_MS)},
        "spray": {
            "ips": spray_ips,
            "start": _format_ms(min(request.start_ms for request in spray)),
            "end": _format_ms(max(request.start_ms for request in spray)),
            "attempts": len(spray),
            "targeted_actors": targeted,
            "success": login(cracked),
        },
        "takeover": {
            "actor_id": home.actor_id,
            "tenant_id": home.tenant_id,
            "home": login(home),
            "foreign": login(foreign),
            "attacker_ips": [cracked.client.ip, foreign.client.ip],
        },
        "privilege_escalation": {
            "actor_id": escalation.actor_id,
            "ts": _format_ms(escalation.start_ms),
            "role": "admin",
            "request_id": escalation.request_id,
        },
        "token": {
            "token_id": token.token_id,
            "created": _format_ms(token.start_ms),
            "request_id": token.request_id,
        },
        "exports": {
            "count": len(exports),
            "start": _format_ms(exports[0].start_ms),
            "end": _format_ms(exports[-1].start_ms),
            "trace_ids": [request.trace_id for request in exports],
            "request_ids": [request.request_id for request in exports],
        },
        "actors": sorted({*targeted, home.actor_id}),
        "ips": sorted(attack_ips),
        "tokens": [token.token_id],
        "trace_ids": sorted(request.trace_id for request in attack if request is not home),
    }


# Writers.


def _audit_record(request: Request) -> dict[str, Any]:
    endpoint = request.endpoint
    client = request.client
    return {
        "schema": "audit.v1",
        "ts": _format_ms(request.start_ms),
        "service": endpoint.service,
        "env": ENV,
        "version": SERVICE_VERSIONS[endpoint.service],
        "event": endpoint.event,
        "severity": _severity(request),
        "result": request.result,
        "reason": request.reason,
        "request": {
            "request_id": request.request_id,
            "trace_id": request.trace_id,
            "span_id": request.audit_span_id,
            "method": endpoint.method,
            "route": endpoint.route,
        },
        "actor": {
            "type": request.actor_type,
            "id": request.actor_id,
            "tenant_id": request.tenant_id,
            "roles": list(request.roles),
        },
        "client": {
            "ip": client.ip,
            "ua": client.user_agent,
            "geo": {
                "country": client.place.country,
                "region": client.place.region,
                "city": client.place.city,
            },
        },
        "security": {
            "auth_method": request.auth_method,
            "token_id": request.token_id,
            "mfa": request.mfa,
            "risk_score": request.risk,
            "signals": list(request.signals),
        },
    }


def _metrics_row(request: Request) -> tuple[str | int, ...]:
    endpoint = request.endpoint
    return (
        _format_ms(request.start_ms),
        request.request_id,
        request.trace_id,
        endpoint.service,
        ENV,
        endpoint.route,
        endpoint.method,
        request.status,
        _format_latency(request.latency_us),
        request.bytes,
        request.client.ip,
        request.client.user_agent,
        request.actor_id,
        request.tenant_id,
    )


def _otlp_span(span: Span, trace_id: str) -> dict[str, Any]:
    encoded: dict[str, Any] = {"traceId": trace_id, "spanId": span.span_id}
    if span.parent_span_id:
        encoded["parentSpanId"] = span.parent_span_id
    encoded["name"] = span.name
    encoded["kind"] = span.kind
    encoded["startTimeUnixNano"] = str(span.start_ns)
    encoded["endTimeUnixNano"] = str(span.end_ns)
    encoded["attributes"] = span.attributes
    encoded["status"] = {"code": STATUS_ERROR} if span.error else {}
    return encoded


def _export_request(batch: list[Request]) -> dict[str, Any]:
    """Return one OTLP ExportTraceServiceRequest with a resourceSpans entry per service."""
    by_service: dict[str, list[dict[str, Any]]] = {service: [] for service in SERVICE_VERSIONS}
    for request in batch:
        for span in request.spans:
            by_service[span.service].append(_otlp_span(span, request.trace_id))
    resource_spans = []
    for service, spans in by_service.items():
        if not spans:
            continue
        resource = [
            _attribute("service.name", service),
            _attribute("service.version", SERVICE_VERSIONS[service]),
            _attribute("deployment.environment.name", ENV),
        ]
        scope_spans = [{"scope": {"name": SCOPE_NAME}, "spans": spans}]
        resource_spans.append({"resource": {"attributes": resource}, "scopeSpans": scope_spans})
    return {"resourceSpans": resource_spans}


class _SampleWriter:
    """Streams requests into the three telemetry files under temporary names.

    `commit` renames the files into place, so a failed run never leaves a file that looks whole.
    """

    def __init__(self, out_dir: Path):
        self.paths = {
            "audit": out_dir / AUDIT_FILE,
            "requests": out_dir / REQUESTS_FILE,
            "spans": out_dir / SPANS_FILE,
        }
        self.partial = {
            name: path.with_name(path.name + ".partial") for name, path in self.paths.items()
        }
        self.audit: IO[bytes] = open(self.partial["audit"], "wb")
        self.spans: IO[bytes] = open(self.partial["spans"], "wb")
        self.requests: IO[str] = open(self.partial["requests"], "w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.requests, lineterminator="\n")
        self.csv.writerow(REQUEST_COLUMNS)
        self.pending: list[Request] = []
        self.counts = {"audit_events": 0, "request_metrics": 0, "spans": 0}

    def write(self, requests: list[Request]) -> None:
        """Write requests that are already in time order."""
        for request in requests:
            if request.endpoint.event is not None:
                self.audit.write(orjson.dumps(_audit_record(request)) + b"\n")
                self.counts["audit_events"] += 1
            self.csv.writerow(_metrics_row(request))
            self.counts["request_metrics"] += 1
            self.pending.append(request)
            if len(self.pending) == TRACES_PER_SPANS_LINE:
                self._flush_spans()

    def _flush_spans(self) -> None:
        if self.pending:
            self.spans.write(orjson.dumps(_export_request(self.pending)) + b"\n")
            self.counts["spans"] += sum(len(request.spans) for request in self.pending)
            self.pending = []

    def commit(self) -> None:
        self._flush_spans()
        self._close()
        for name, path in self.paths.items():
            os.replace(self.partial[name], path)

    def discard(self) -> None:
        self._close()
        for path in self.partial.values():
            path.unlink(missing_ok=True)

    def _close(self) -> None:
        for handle in (self.audit, self.spans, self.requests):
            handle.close()


# Entry point.


def _validate_arguments(seed: object, events: object) -> int:
    """Return the number of audit events to write, or raise UsageError."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"seed must be an integer, got {seed!r}")
    if events is None:
        return DEFAULT_EVENTS
    if isinstance(events, bool) or not isinstance(events, int):
        raise UsageError(f"events must be an integer, got {events!r}")
    if events < MIN_EVENTS:
        raise UsageError(f"events must be at least {MIN_EVENTS}, got {events}")
    return events


def _bucket_ms(events: int) -> int:
    """Return a bucket length with at most about 120 benign events on average."""
    for length_ms in (MINUTE_MS, 10_000):
        if events * length_ms // (WINDOW_END_MS - WINDOW_START_MS) <= 120:
            return length_ms
    return 1_000


def generate(
    out_dir: Path | str, *, seed: int = 7, events: int | None = None, scenario: str = "incident"
) -> SampleFiles:
    """Write the sample incident into `out_dir` and return the paths and record counts.

    The audit file contains exactly `events` audit events (DEFAULT_EVENTS when None): the attack's
    events plus benign traffic that fills the rest. Unaudited page reads come on top in the
    metrics and spans files. Output is written one time bucket at a time, so memory does not
    grow with `events`. Raises UsageError for a seed or event count that is not a valid integer.

    `scenario` picks the attack: "incident" (the default) is the whole story, "benign" has no
    attack at all, and the others (spray, takeover, escalation, token_theft, export_spike,
    stuffing) each contain one technique, with a ground truth that lists its trace ids.
    """
    total_events = _validate_arguments(seed, events)
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; scenarios are {', '.join(SCENARIOS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    streams = random.Random(seed)
    population_rng = random.Random(streams.getrandbits(64))
    attack_rng = random.Random(streams.getrandbits(64))
    traffic_rng = random.Random(streams.getrandbits(64))
    actors, victim = _build_population(population_rng)
    if scenario == "incident":
        attack = _AttackBuilder(actors, victim, attack_rng).build()
    else:
        attack = _ScenarioBuilder(actors, victim, attack_rng).build_scenario(scenario)
    traffic = _BenignTraffic(actors, victim, attack.escalation_ms, traffic_rng)
    benign_events = total_events - sum(1 for request in attack.requests if request.endpoint.event)

    logger.info("writing sample incident to %s: seed %d, %d audit events", out, seed, total_events)
    writer = _SampleWriter(out)
    try:
        _write_traffic(writer, traffic, attack.requests, benign_events, _bucket_ms(total_events))
        writer.commit()
    except BaseException:
        writer.discard()
        raise

    ground_truth = out / GROUND_TRUTH_FILE
    truth = {"seed": seed, **attack.ground_truth}
    text = orjson.dumps(truth, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    ground_truth.write_bytes(text + b"\n")
    logger.info("wrote sample incident to %s: %s", out, writer.counts)
    return SampleFiles(
        audit=writer.paths["audit"],
        requests=writer.paths["requests"],
        spans=writer.paths["spans"],
        ground_truth=ground_truth,
        counts=dict(writer.counts),
    )


def _write_traffic(
    writer: _SampleWriter,
    traffic: _BenignTraffic,
    attack: list[Request],
    benign_events: int,
    bucket_ms: int,
) -> None:
    """Write benign and attack requests bucket by bucket, in time order.

    Each bucket gets a share of the benign audit events in proportion to the actors' activity
    at that hour. Integer arithmetic on the running sum makes the shares add up exactly.
    """
    starts = range(WINDOW_START_MS, WINDOW_END_MS, bucket_ms)
    weights = [sum(traffic.weights_at(start)) for start in starts]
    total_weight = sum(weights)
    running_weight = 0
    assigned = 0
    next_attack = 0
    for start, weight in zip(starts, weights, strict=True):
        running_weight += weight
        share = benign_events * running_weight // total_weight - assigned
        assigned += share
        end = start + bucket_ms
        requests = traffic.bucket(start, end, share)
        while next_attack < len(attack) and attack[next_attack].start_ms < end:
            requests.append(attack[next_attack])
            next_attack += 1
        requests.sort(key=lambda request: (request.start_ms, request.request_id))
        writer.write(requests)
