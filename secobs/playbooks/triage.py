"""The triage overview: what is in the case, when it happened and who looks riskiest.

`notebooks/triage_overview.ipynb` drives this class. It shows volumes over time by table and
service, the distribution of audit risk scores, the alerts that `secobs detect` wrote (when the
case has an `alerts` view) and the actors, client IPs and tenants with the riskiest events.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import polars as pl

from secobs.case import quote_identifier
from secobs.charts import (
    detection_timeline_chart,
    ranking_chart,
    risk_distribution_chart,
    volume_chart,
)
from secobs.investigation import table_counts
from secobs.playbooks.base import Playbook, escape, relation_exists, select_all

BUCKETS = (("5 minutes", 5), ("15 minutes", 15), ("1 hour", 60), ("6 hours", 360), ("1 day", 1440))
# Grouping column of each "top" table. Identifiers cannot be bound, so only these enter SQL.
TOP_COLUMNS = {"top_actors": "actor_id", "top_ips": "client_ip", "top_tenants": "tenant_id"}
TOP_HEADINGS = {
    "top_actors": "Actors by risk",
    "top_ips": "Client IPs by risk",
    "top_tenants": "Tenants by risk",
}
ALERT_COLUMNS = ("detection", "window_start", "window_end")

VOLUME_SQL = """
WITH events AS (
    SELECT 'audit_events' AS table_name, service, ts FROM audit_events
    UNION ALL
    SELECT 'request_metrics', service, ts FROM request_metrics
    UNION ALL
    SELECT 'spans', service, start_ts FROM spans
)
SELECT
    table_name, service,
    time_bucket(to_minutes(CAST($bucket_minutes AS BIGINT)), ts) AS bucket,
    count(*) AS events
FROM events
WHERE ts IS NOT NULL
GROUP BY ALL
ORDER BY bucket, table_name, service
"""
RISK_SQL = """
SELECT CAST(floor(risk_score / 10) * 10 AS INTEGER) AS risk_band, result, count(*) AS events
FROM audit_events
WHERE risk_score IS NOT NULL
GROUP BY ALL
ORDER BY risk_band, result
"""
TOP_SQL = """
SELECT
    {column},
    max(risk_score) AS max_risk_score,
    count(*) FILTER (WHERE risk_score >= $min_risk) AS risky_events,
    count(*) FILTER (WHERE result = 'failure') AS failures,
    count(*) AS events,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM audit_events
WHERE {column} IS NOT NULL
GROUP BY {column}
ORDER BY risky_events DESC, max_risk_score DESC NULLS LAST, events DESC, {column}
LIMIT $top
"""


class TriageOverviewPlaybook(Playbook):
    """Volumes, risk distribution, alerts and top actors, IPs and tenants of one case.

    `volumes` contains event counts per table, service and time bucket (`bucket_picker`).
    `risk` counts audit events per risk-score band of 10 and result. `alerts` contains the
    case's `alerts` view, or None when the case has none. `tables` also contains `top_actors`,
    `top_ips` and `top_tenants`: the `top_picker` entries with the most events at or above
    `min_risk_picker`, then the highest risk score.
    """

    slug = "triage_overview"

    def __init__(
        self,
        case_dir: Path | str,
        *,
        bucket_minutes: int = 60,
        top: int = 10,
        min_risk: int = 70,
    ):
        super().__init__(case_dir)
        self.counts: dict[str, int] = {}
        self.volumes: pl.DataFrame | None = None
        self.risk: pl.DataFrame | None = None
        self.alerts: pl.DataFrame | None = None

        options = list(BUCKETS)
        if bucket_minutes not in dict(BUCKETS).values():
            options.append((f"{bucket_minutes} minutes", bucket_minutes))
        self.bucket_picker = widgets.Dropdown(
            options=options, value=bucket_minutes, description="Bucket"
        )
        self.top_picker = widgets.IntSlider(
            value=top, min=3, max=50, description="Top", continuous_update=False
        )
        self.min_risk_picker = widgets.IntSlider(
            value=min_risk, min=0, max=100, description="Min risk", continuous_update=False
        )
        self._start([widgets.HBox([self.bucket_picker, self.top_picker, self.min_risk_picker])])
        for picker in (self.bucket_picker, self.top_picker, self.min_risk_picker):
            picker.observe(self.refresh, names="value")

    def _run(self) -> None:
        params = {"min_risk": self.min_risk_picker.value, "top": self.top_picker.value}
        with self.case.connect() as con:
            counts = table_counts(con)
            volumes = con.sql(VOLUME_SQL, params={"bucket_minutes": self.bucket_picker.value}).pl()
            risk = con.sql(RISK_SQL).pl()
            top = {
                name: con.sql(TOP_SQL.format(column=quote_identifier(column)), params=params).pl()
                for name, column in TOP_COLUMNS.items()
            }
            alerts = select_all(con, "alerts") if relation_exists(con, "alerts") else None

        charts = {}
        if volumes.height:
            charts["volume"] = volume_chart(volumes)
        if risk.height:
            charts["risk_distribution"] = risk_distribution_chart(risk)
        if top["top_actors"].height:
            charts["top_actors"] = ranking_chart(
                top["top_actors"],
                label="actor_id",
                value="risky_events",
                title=f"Actors with the most events at risk {params['min_risk']} or more",
            )
        if alerts is not None and alerts.height and all(c in alerts.columns for c in ALERT_COLUMNS):
            alerts = alerts.sort("window_start")
            charts["alerts"] = detection_timeline_chart(alerts)

        self.counts, self.volumes, self.risk, self.alerts = counts, volumes, risk, alerts
        self.charts = charts
        self.tables = {"volumes": volumes, "risk": risk, **top}
        if alerts is not None:
            self.tables["alerts"] = alerts

    def _summary_html(self) -> str:
        counts = ", ".join(f"{count:,} {escape(table)}" for table, count in self.counts.items())
        lines = [f"Case <code>{escape(self.case.root)}</code>: {counts}."]
        if self.volumes is not None and self.volumes.height:
            first, last = self.volumes["bucket"].min(), self.volumes["bucket"].max()
            lines.append(f"Activity from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC.")
        if self.alerts is None:
            lines.append(
                "No alerts: the case has no <code>alerts</code> view yet. "
                "Run <code>secobs detect CASE</code> to create it."
            )
        else:
            lines.append(f"{self.alerts.height} alerts from <code>secobs detect</code>.")
        return "<br>".join(lines)

    def _shown_tables(self) -> dict[str, tuple[str, pl.DataFrame]]:
        shown = {name: (TOP_HEADINGS[name], self.tables[name]) for name in TOP_COLUMNS}
        if self.alerts is not None:
            columns = [
                name
                for name in (
                    "detection",
                    "severity",
                    "window_start",
                    "window_end",
                    "actor_id",
                    "client_ip",
                    "tenant_id",
                    "event_count",
                    "summary",
                )
                if name in self.alerts.columns
            ]
            shown["alerts"] = ("Alerts", self.alerts.select(columns or self.alerts.columns))
        return shown
