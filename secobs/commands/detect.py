"""`secobs detect`: run the detections over a case and print the alerts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secobs.commands.base import EXIT_FINDING, emit_json, main
from secobs.output import render_rows

TABLE_COLUMNS = (
    "severity",
    "detection",
    "actor_id",
    "client_ip",
    "tenant_id",
    "window_start",
    "window_end",
    "event_count",
    "summary",
)


@main.command()
@click.argument(
    "case_dir", metavar="CASE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with an alerts array.")
@click.option(
    "--mmdb",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MaxMind DB file for IP geolocation (default: the SECOBS_MMDB environment variable).",
)
@click.option(
    "--sites",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Internal site map CSV: cidr,site,country,city,lat,lon (default: SECOBS_SITES).",
)
@click.option(
    "--risk-weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file of risk weights that replaces the shipped secobs/risk_weights.toml.",
)
@click.option(
    "--exempt",
    "exempt_networks",
    multiple=True,
    metavar="CIDR",
    help="VPN or egress range that impossible travel ignores; repeat for more.",
)
@click.option(
    "--max-speed",
    "max_speed_kmh",
    type=float,
    default=900.0,
    show_default=True,
    help="Impossible-travel speed in km/h.",
)
@click.option(
    "--min-distance",
    "min_distance_km",
    type=float,
    default=500.0,
    show_default=True,
    help="Shortest impossible-travel distance in km.",
)
def detect(
    case_dir: Path,
    as_json: bool,
    mmdb: Path | None,
    sites: Path | None,
    risk_weights: Path | None,
    exempt_networks: tuple[str, ...],
    max_speed_kmh: float,
    min_distance_km: float,
) -> None:
    """Run the detections over CASE, write the alerts table and print it.

    Also writes risk scores (views risk, audit_enriched, spans_enriched) and login pairs.
    Exits 1 when there is at least one alert, 0 when there is none.
    """
    from secobs.detect import run_detections

    result = run_detections(
        case_dir,
        mmdb=mmdb,
        sites=sites,
        risk_weights=risk_weights,
        exempt_networks=exempt_networks,
        max_speed_kmh=max_speed_kmh,
        min_distance_km=min_distance_km,
    )
    if as_json:
        emit_json(result.to_json())
    else:
        rows = result.alerts.select(TABLE_COLUMNS).rows()
        click.echo(render_rows(list(TABLE_COLUMNS), rows, "table", title="alerts"), nl=False)
        click.echo(f"{result.alerts.height} alert(s) in {result.case}")
    if result.alerts.height:
        sys.exit(EXIT_FINDING)
