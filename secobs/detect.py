"""Detections over a case: enrich audit events, run the detection queries, score risk, alert.

`run_detections` does, in order:

1. enrich every audit event with a location (the event's own coordinates, else its place names
   through the offline gazetteer, else its IP address through `secobs.geo`), a device family,
   a network and first-seen flags (`secobs.baselines`);
2. pair each actor's consecutive logins with geodesic distances and speeds (`secobs.travel`);
3. run the detection queries of the catalog (`DETECTIONS`), each with its own parameters;
4. score each audit event's risk from weighted signals (`secobs.risk`);
5. write the derived tables as Parquet under `CASE/lake/` (`risk`, `login_pairs`, `alerts`) and
   create catalog views over them: `risk`, `login_pairs`, `alerts`, `audit_enriched` (audit
   events with the risk columns) and `spans_enriched` (spans with the risk of their trace).

The lake's source rows are never rewritten; the derived tables are replaced on each run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from secobs.baselines import DEFAULT_MIN_HISTORY, device_family, first_seen, network_key
from secobs.case import Case, quote_identifier, quote_literal
from secobs.errors import UsageError
from secobs.geo import Geolocator, locate_place
from secobs.output import to_jsonable
from secobs.queries import get_query
from secobs.risk import load_weights, score_events
from secobs.travel import TravelSettings, login_pairs

log = logging.getLogger("secobs")

DETECTIONS = (
    "auth_failure_burst",
    "password_spray",
    "credential_stuffing",
    "impossible_travel",
    "admin_new_geo",
    "export_spike",
    "privileged_denied_spike",
    "token_new_ip",
    "baseline_anomaly",
)
"""Catalog queries that `run_detections` runs, in this order."""

BURST_DETECTIONS = ("auth_failure_burst", "password_spray", "credential_stuffing")
"""Detections whose evidence gets the auth_failure_burst risk signal."""

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}

ALERT_COLUMNS = (
    "detection",
    "severity",
    "actor_id",
    "client_ip",
    "tenant_id",
    "window_start",
    "window_end",
    "event_count",
    "summary",
    "evidence",
)

EVIDENCE_TYPE = pl.List(
    pl.Struct({"table": pl.String, "source_file": pl.String, "source_record": pl.Int64})
)
ALERT_SCHEMA = {
    "alert_id": pl.String,
    "detection": pl.String,
    "severity": pl.String,
    "actor_id": pl.String,
    "client_ip": pl.String,
    "tenant_id": pl.String,
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "event_count": pl.Int64,
    "summary": pl.String,
    "evidence": EVIDENCE_TYPE,
    "details": pl.String,
}

_AUDIT_COLUMNS = (
    "ts, actor_id, tenant_id, event, result, route, client_ip, user_agent, geo_country, "
    "geo_region, geo_city, geo_lat, geo_lon, token_id, mfa, source_file, source_record"
)

RISK_COLUMNS = (
    "source_file",
    "source_record",
    "geo_country",
    "geo_region",
    "geo_city",
    "geo_lat",
    "geo_lon",
    "geo_source",
    "device",
    "network",
    "prior_events",
    "new_device",
    "new_country",
    "new_network",
    "signals",
    "risk_score",
)


@dataclass
class DetectResult:
    """The alerts of one detection run and the case they were written into."""

    case: Path
    alerts: pl.DataFrame
    enriched_events: int = 0
    login_pairs: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return one JSON-ready object: the case, counts per detection and the alerts."""
        return {
            "case": str(self.case),
            "enriched_events": self.enriched_events,
            "login_pairs": self.login_pairs,
            "counts": self.counts,
            "alerts": [to_jsonable(row) for row in self.alerts.to_dicts()],
        }


def run_detections(
    case_dir: Path | str,
    *,
    mmdb: Path | str | None = None,
    sites: Path | str | None = None,
    risk_weights: Path | str | None = None,
    exempt_networks: Iterable[str] = (),
    max_speed_kmh: float = 900.0,
    min_distance_km: float = 500.0,
    successful_logins_only: bool = True,
    min_history: int = DEFAULT_MIN_HISTORY,
    detections: Iterable[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> DetectResult:
    """Enrich, detect and score the case in `case_dir`; write the alerts and risk tables.

    `params` maps a detection name to its query parameters (see `secobs query --list`), for
    example `{"auth_failure_burst": {"min_failures": 8}}`. `max_speed_kmh` and
    `min_distance_km` also set the impossible_travel query's parameters unless `params` does.
    `exempt_networks` are VPN or egress CIDR ranges that impossible travel ignores.
    """
    selected = _selected(detections, params)
    weights = load_weights(risk_weights)
    travel_settings = TravelSettings(
        max_speed_kmh=max_speed_kmh,
        min_distance_km=min_distance_km,
        successful_only=successful_logins_only,
        exempt_networks=tuple(exempt_networks),
    )
    case = Case.open(case_dir)
    geolocator = Geolocator(mmdb, sites)
    con = case.connect()
    try:
        events = enrich_audit_events(con, geolocator, min_history=min_history)
        logins = events.filter(pl.col("event").fill_null("").str.starts_with("auth.login"))
        pairs = login_pairs(logins, travel_settings)
        unscored = events.with_columns(
            pl.lit([], pl.List(pl.String)).alias("signals"),
            pl.lit(None, pl.Int32).alias("risk_score"),
        )
        _write_table(case, "risk", unscored.select(RISK_COLUMNS))
        _write_table(case, "login_pairs", pairs)
        register_views(con, case)

        query_params = {name: dict((params or {}).get(name, {})) for name in selected}
        if "impossible_travel" in query_params:
            query_params["impossible_travel"].setdefault("max_speed_kmh", max_speed_kmh)
            query_params["impossible_travel"].setdefault("min_distance_km", min_distance_km)
        frames = [_run_detection(con, name, query_params[name]) for name in selected]
        alerts = _combine(frames)

        scored = score_events(
            events,
            weights,
            geo_anomaly=_evidence_keys(alerts, ("impossible_travel",)),
            auth_failure_burst=_evidence_keys(alerts, BURST_DETECTIONS),
        )
        _write_table(case, "risk", scored.select(RISK_COLUMNS))
        _write_table(case, "alerts", alerts)
        register_views(con, case)
    finally:
        con.close()
        geolocator.close()

    counts = {name: 0 for name in selected}
    for name, count in alerts.group_by("detection").len().iter_rows():
        counts[name] = count
    log.info("detections on %s: %d alerts", case.root, alerts.height)
    return DetectResult(case.root, alerts, events.height, pairs.height, counts)


def _selected(
    detections: Iterable[str] | None, params: Mapping[str, Mapping[str, Any]] | None
) -> list[str]:
    selected = list(DETECTIONS if detections is None else detections)
    unknown = sorted((set(selected) | set(params or {})) - set(DETECTIONS))
    if unknown:
        raise UsageError(
            f"unknown detection(s) {', '.join(unknown)}; detections are {', '.join(DETECTIONS)}"
        )
    return selected


# Enrichment.


def enrich_audit_events(
    con: duckdb.DuckDBPyConnection,
    geolocator: Geolocator,
    *,
    min_history: int = DEFAULT_MIN_HISTORY,
) -> pl.DataFrame:
    """Return the audit events with resolved location, device, network and first-seen flags.

    Location columns (geo_country, geo_region, geo_city, geo_lat, geo_lon) keep the event's own
    values and fill the gaps: coordinates from the gazetteer for named places, then country and
    coordinates from the IP address. geo_source says which: event, gazetteer, site, mmdb,
    registry, or null when nothing is known.
    """
    events = con.sql(f"SELECT {_AUDIT_COLUMNS} FROM audit_events").pl()
    events = _locate(events, geolocator)
    networks = [
        network_key(ip, asn) for ip, asn in zip(events["client_ip"], events["ip_asn"], strict=True)
    ]
    devices = [device_family(agent) for agent in events["user_agent"]]
    events = events.with_columns(
        pl.coalesce(pl.Series("device", devices, dtype=pl.String), pl.col("token_id")),
        pl.Series("network", networks, dtype=pl.String),
    ).drop("ip_asn")
    return first_seen(events, min_history=min_history)


def _locate(events: pl.DataFrame, geolocator: Geolocator) -> pl.DataFrame:
    """Fill location columns from place names and IP addresses, looking each value up once."""
    ip_rows = []
    for ip in events["client_ip"].unique().to_list():
        found = geolocator.lookup(ip)
        ip_rows.append(
            (ip, found.country, found.region, found.city, found.lat, found.lon, found.asn,
             found.source)
        )  # fmt: skip
    by_ip = pl.DataFrame(
        ip_rows,
        schema={
            "client_ip": pl.String,
            "ip_country": pl.String,
            "ip_region": pl.String,
            "ip_city": pl.String,
            "ip_lat": pl.Float64,
            "ip_lon": pl.Float64,
            "ip_asn": pl.Int64,
            "ip_source": pl.String,
        },
        orient="row",
    )
    places = events.select("geo_country", "geo_region", "geo_city").unique()
    place_rows = []
    for country, region, city in places.iter_rows():
        found = locate_place(country, region, city)
        place_rows.append((country, region, city, found.lat, found.lon))
    by_place = pl.DataFrame(
        place_rows,
        schema={
            "geo_country": pl.String,
            "geo_region": pl.String,
            "geo_city": pl.String,
            "place_lat": pl.Float64,
            "place_lon": pl.Float64,
        },
        orient="row",
    )
    joined = events.join(
        by_place, on=["geo_country", "geo_region", "geo_city"], how="left", nulls_equal=True
    ).join(by_ip, on="client_ip", how="left", nulls_equal=True)

    has_own = pl.col("geo_lat").is_not_null() & pl.col("geo_lon").is_not_null()
    has_place = pl.col("place_lat").is_not_null()
    has_ip = pl.col("ip_source").is_not_null()
    # An event that names a country other than the IP's keeps its own country and no IP place.
    ip_agrees = pl.col("geo_country").is_null() | (pl.col("geo_country") == pl.col("ip_country"))
    use_ip = ~has_own & ~has_place & has_ip & ip_agrees
    return joined.with_columns(
        pl.when(has_own)
        .then(pl.lit("event"))
        .when(has_place)
        .then(pl.lit("gazetteer"))
        .when(use_ip)
        .then(pl.col("ip_source"))
        .when(pl.col("geo_country").is_not_null())
        .then(pl.lit("event"))
        .alias("geo_source"),
        pl.coalesce("geo_country", "ip_country").alias("geo_country"),
        pl.coalesce("geo_region", pl.when(use_ip).then("ip_region")).alias("geo_region"),
        pl.coalesce("geo_city", pl.when(use_ip).then("ip_city")).alias("geo_city"),
        pl.when(has_own)
        .then("geo_lat")
        .when(has_place)
        .then("place_lat")
        .when(use_ip)
        .then("ip_lat")
        .alias("geo_lat"),
        pl.when(has_own)
        .then("geo_lon")
        .when(has_place)
        .then("place_lon")
        .when(use_ip)
        .then("ip_lon")
        .alias("geo_lon"),
    ).drop("place_lat", "place_lon", "ip_country", "ip_region", "ip_city", "ip_lat", "ip_lon",
           "ip_source")  # fmt: skip


# Detections.


def _run_detection(
    con: duckdb.DuckDBPyConnection, name: str, values: dict[str, Any]
) -> pl.DataFrame:
    """Run one detection query and return its rows in the alert layout."""
    frame = get_query(name).frame(con, **values)
    extra = [column for column in frame.columns if column not in ALERT_COLUMNS]
    if extra and frame.height:
        details = pl.struct(extra).struct.json_encode()
    else:
        details = pl.lit(None, pl.String)
    return frame.with_columns(details.alias("details")).select(
        pl.col(column).cast(ALERT_SCHEMA[column]) for column in ALERT_SCHEMA if column != "alert_id"
    )


def _combine(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate detection results, give each alert a stable id and sort by time."""
    schema = {name: dtype for name, dtype in ALERT_SCHEMA.items() if name != "alert_id"}
    alerts = pl.concat([pl.DataFrame(schema=schema), *frames], how="vertical")
    ids = [
        _alert_id(row["detection"], row["window_start"], row["evidence"])
        for row in alerts.select("detection", "window_start", "evidence").iter_rows(named=True)
    ]
    severity = pl.col("severity").replace_strict(SEVERITY_RANK, default=len(SEVERITY_RANK))
    return (
        alerts.with_columns(pl.Series("alert_id", ids, dtype=pl.String))
        .sort(
            [pl.col("window_start"), severity, pl.col("detection"), pl.col("alert_id")],
            nulls_last=True,
        )
        .select(list(ALERT_SCHEMA))
    )


def _alert_id(detection: str, start: Any, evidence: list[dict[str, Any]] | None) -> str:
    """Derive an id from the detection, window start and evidence, the same on every run."""
    digest = hashlib.sha256(f"{detection}|{start}".encode())
    for item in evidence or []:
        digest.update(f"|{item['source_file']}#{item['source_record']}".encode())
    return digest.hexdigest()[:16]


def _evidence_keys(alerts: pl.DataFrame, detections: Iterable[str]) -> list[tuple[str, int]]:
    rows = alerts.filter(pl.col("detection").is_in(list(detections)))
    if rows.is_empty():
        return []
    items = rows.select(pl.col("evidence").explode()).unnest("evidence")
    items = items.filter(pl.col("table") == "audit_events")
    return list(zip(items["source_file"], items["source_record"], strict=True))


# Derived tables and views.


DERIVED_TABLES = ("risk", "login_pairs", "alerts")


def derived_path(case: Case, table: str) -> Path:
    """Return the Parquet file of a derived table under the lake."""
    return case.lake_dir / table / f"{table}.parquet"


def _write_table(case: Case, table: str, frame: pl.DataFrame) -> None:
    """Write a derived table atomically: a partial file, then a rename."""
    path = derived_path(case, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    frame.write_parquet(partial)
    os.replace(partial, path)


def register_views(con: duckdb.DuckDBPyConnection, case: Case) -> None:
    """Create the views over the derived tables that exist: risk, login_pairs, alerts,
    audit_enriched and spans_enriched."""
    for table in DERIVED_TABLES:
        path = derived_path(case, table)
        if path.is_file():
            con.execute(
                f"CREATE OR REPLACE VIEW {quote_identifier(table)} AS "
                f"SELECT * FROM read_parquet({quote_literal(str(path))})"
            )
    if not derived_path(case, "risk").is_file():
        return
    con.execute(
        """
        CREATE OR REPLACE VIEW audit_enriched AS
        SELECT
            a.* EXCLUDE (geo_country, geo_region, geo_city, geo_lat, geo_lon),
            coalesce(r.geo_country, a.geo_country) AS geo_country,
            coalesce(r.geo_region, a.geo_region) AS geo_region,
            coalesce(r.geo_city, a.geo_city) AS geo_city,
            coalesce(r.geo_lat, a.geo_lat) AS geo_lat,
            coalesce(r.geo_lon, a.geo_lon) AS geo_lon,
            r.geo_source, r.device, r.network, r.prior_events,
            r.new_device, r.new_country, r.new_network,
            r.risk_score AS computed_risk_score,
            r.signals AS computed_signals
        FROM audit_events AS a
        LEFT JOIN risk AS r
            ON r.source_file = a.source_file AND r.source_record = a.source_record
        """
    )
    con.execute(
        """
        CREATE OR REPLACE VIEW spans_enriched AS
        WITH per_trace AS (
            SELECT
                a.trace_id,
                max(r.risk_score) AS computed_risk_score,
                list_sort(list_distinct(flatten(list(r.signals)))) AS computed_signals
            FROM audit_events AS a
            JOIN risk AS r
                ON r.source_file = a.source_file AND r.source_record = a.source_record
            WHERE a.trace_id IS NOT NULL
            GROUP BY a.trace_id
        )
        SELECT s.*, p.computed_risk_score, p.computed_signals
        FROM spans AS s
        LEFT JOIN per_trace AS p ON p.trace_id = s.trace_id
        """
    )
