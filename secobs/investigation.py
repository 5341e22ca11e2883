"""The standard investigation of a case: the findings that the demo prints and reports.

It follows what a responder does first: find risky logins that were also slow, follow the
riskiest actor's timeline, take the API token that actor created, and measure what that token
touched through its traces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import duckdb
import polars as pl

from secobs.case import Case
from secobs.queries import get_query


@dataclass
class BlastRadius:
    """What a trace, actor or token touched, summarised from the blast_radius query."""

    seed: dict[str, str]
    spans: pl.DataFrame
    traces: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    export_spans: int = 0
    export_traces: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "spans": self.spans.height,
            "traces": len(self.traces),
            "services": self.services,
            "routes": self.routes,
            "tenants": self.tenants,
            "actors": self.actors,
            "export_spans": self.export_spans,
            "export_traces": self.export_traces,
        }


@dataclass
class Findings:
    """Results of the standard investigation of one case."""

    counts: dict[str, int]
    risky_logins: pl.DataFrame
    all_logins: pl.DataFrame
    suspect_actor: str | None
    # The suspect's timeline from one hour before their first risky login onwards.
    timeline: pl.DataFrame
    token_id: str | None
    blast_radius: BlastRadius | None
    manifest: pl.DataFrame


def summarise_blast_radius(seed: dict[str, str], spans: pl.DataFrame) -> BlastRadius:
    """Summarise blast_radius rows into the traces, services, routes and tenants touched."""

    def distinct(column: str) -> list[str]:
        return sorted(value for value in spans[column].unique().to_list() if value is not None)

    exports = spans.filter(pl.col("is_export"))
    return BlastRadius(
        seed=seed,
        spans=spans,
        traces=distinct("trace_id"),
        services=distinct("service"),
        routes=distinct("http_route"),
        tenants=distinct("tenant_id"),
        actors=distinct("enduser_id"),
        export_spans=exports.height,
        export_traces=exports["trace_id"].n_unique(),
    )


def blast_radius(con: duckdb.DuckDBPyConnection, **seed: str) -> BlastRadius:
    """Run blast_radius from a trace_id, span_id, actor_id or token_id and summarise it."""
    spans = get_query("blast_radius").frame(con, **seed)
    return summarise_blast_radius(seed, spans)


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    names = ("audit_events", "request_metrics", "spans", "quarantine")
    return {name: con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in names}


def investigate(case: Case, *, min_risk: int = 70, min_latency_ms: float = 1000.0) -> Findings:
    """Run the standard investigation queries on a case and collect the findings."""
    con = case.connect()
    try:
        risky_query = get_query("risky_logins_with_latency")
        risky = risky_query.frame(con, min_risk=min_risk, min_latency_ms=min_latency_ms)
        all_logins = risky_query.frame(con, min_risk=0, min_latency_ms=0)
        actor = risky["actor_id"][0] if risky.height else None

        timeline = pl.DataFrame()
        token_id = None
        radius = None
        if actor is not None:
            start = risky["ts"].min() - timedelta(hours=1)
            timeline = get_query("actor_timeline").frame(con, actor_id=actor, start=start)
            rows = con.sql(
                "SELECT token_id FROM audit_events "
                "WHERE actor_id = $actor AND event = 'token.create' AND token_id IS NOT NULL "
                "ORDER BY ts LIMIT 1",
                params={"actor": actor},
            ).fetchall()
            token_id = rows[0][0] if rows else None
            radius = blast_radius(con, token_id=token_id) if token_id else None
            if radius is None:
                radius = blast_radius(con, actor_id=actor)

        manifest = con.sql(
            "SELECT path, sha256, size, format, records_in, loaded, quarantined "
            "FROM manifest ORDER BY path"
        ).pl()
        return Findings(
            counts=table_counts(con),
            risky_logins=risky,
            all_logins=all_logins,
            suspect_actor=actor,
            timeline=timeline,
            token_id=token_id,
            blast_radius=radius,
            manifest=manifest,
        )
    finally:
        con.close()
