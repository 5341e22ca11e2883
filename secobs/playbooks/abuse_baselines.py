"""The abuse-baselines playbook: tune detection thresholds on sliders and see the result live.

`notebooks/abuse_baselines.ipynb` drives this class. Two detections re-run on every change:
auth-failure bursts per client IP and z-scores of event counts per metric, tenant, route and
time bucket. They use the catalog queries `auth_failure_burst` and `baseline_anomaly` (or a
`zscore_*` query) when the catalog has them, and the small built-in queries below otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
import ipywidgets as widgets
import polars as pl

from secobs.charts import baseline_zscore_chart, detection_timeline_chart
from secobs.playbooks.base import Playbook
from secobs.queries import Query, catalog

log = logging.getLogger("secobs")

BURST_QUERY = "auth_failure_burst"
ZSCORE_QUERIES = ("baseline_anomaly",)
"""Catalog z-score queries to prefer, in order; any query named zscore_* comes after them."""
ZSCORE_COLUMNS = ("window_start", "z_score", "metric", "event_count")
BUCKETS = (("15 minutes", 15), ("1 hour", 60), ("4 hours", 240), ("1 day", 1440))

# Built-in bursts: failed logins per client IP in fixed windows of window_minutes. The catalog
# query slides its window instead, so it also finds a burst that straddles two fixed windows.
BURST_SQL = """
WITH failures AS (
    SELECT
        *,
        time_bucket(to_minutes(CAST($window_minutes AS BIGINT)), ts) AS window_start
    FROM audit_events
    WHERE event LIKE 'auth.login%' AND result = 'failure' AND client_ip IS NOT NULL
)
SELECT
    'auth_failure_burst' AS detection,
    'medium' AS severity,
    CASE WHEN count(DISTINCT actor_id) = 1 THEN any_value(actor_id) END AS actor_id,
    client_ip,
    CASE WHEN count(DISTINCT tenant_id) = 1 THEN any_value(tenant_id) END AS tenant_id,
    window_start,
    window_start + to_minutes(CAST($window_minutes AS BIGINT)) AS window_end,
    count(*) AS event_count,
    format('{} failed logins from {} on {} account(s) in {} minutes',
        count(*), client_ip, count(DISTINCT actor_id), $window_minutes) AS summary
FROM failures
GROUP BY client_ip, window_start
HAVING count(*) >= $min_failures
ORDER BY window_start, client_ip
"""
# Built-in z-scores: the count of auth failures (audit) and HTTP errors (requests) per tenant,
# route and bucket against the mean and standard deviation of the same series.
# NOTE: buckets without events are not counted, so a sparse series gets a higher mean and
# fewer anomalies than with the catalog query `baseline_anomaly`, which fills them with zeros.
ZSCORE_SQL = """
WITH signals AS (
    SELECT 'auth_failure' AS metric, ts, tenant_id, route
    FROM audit_events
    WHERE event LIKE 'auth.login%' AND result = 'failure'
    UNION ALL
    SELECT CASE WHEN status_code >= 500 THEN 'http_5xx' ELSE 'http_4xx' END, ts, tenant_id, route
    FROM request_metrics
    WHERE status_code >= 400
),
counts AS (
    SELECT
        metric, tenant_id, route,
        time_bucket(to_minutes(CAST($bucket_minutes AS BIGINT)), ts) AS window_start,
        count(*) AS event_count
    FROM signals
    WHERE ts IS NOT NULL
    GROUP BY ALL
)
SELECT
    metric, tenant_id, route, window_start,
    window_start + to_minutes(CAST($bucket_minutes AS BIGINT)) AS window_end,
    event_count,
    avg(event_count) OVER series AS baseline_mean,
    coalesce(stddev_pop(event_count) OVER series, 0) AS baseline_std,
    (event_count - avg(event_count) OVER series)
        / greatest(coalesce(stddev_pop(event_count) OVER series, 0), 1) AS z_score
FROM counts
WINDOW series AS (PARTITION BY metric, tenant_id, route)
ORDER BY window_start, metric, tenant_id, route
"""


class AbuseBaselinesPlaybook(Playbook):
    """Sliders for burst and z-score thresholds, with both detections re-run on each change.

    `bursts` contains the auth-failure bursts for `window_picker` and `failures_picker`.
    `zscores` contains every bucket's z-score for `bucket_picker`; `anomalies` keeps the
    buckets with a z-score of at least `threshold_picker` and at least `min_count_picker`
    events. `burst_source` and `zscore_source` name the query that produced each.
    """

    slug = "abuse_baselines"

    def __init__(
        self,
        case_dir: Path | str,
        *,
        window_minutes: int = 5,
        min_failures: int = 5,
        bucket_minutes: int = 60,
        threshold: float = 3.0,
        min_count: int = 10,
    ):
        super().__init__(case_dir)
        self.bursts: pl.DataFrame | None = None
        self.zscores: pl.DataFrame | None = None
        self.anomalies: pl.DataFrame | None = None
        self.burst_source = ""
        self.zscore_source = ""
        self._results: dict[tuple, pl.DataFrame] = {}

        queries = catalog()
        self._burst_query = queries.get(BURST_QUERY)
        zscore_names = [*ZSCORE_QUERIES, *sorted(n for n in queries if n.startswith("zscore_"))]
        self._zscore_query = next((queries[n] for n in zscore_names if n in queries), None)

        sliders = {"continuous_update": False, "style": {"description_width": "initial"}}
        self.window_picker = widgets.IntSlider(
            value=window_minutes, min=1, max=60, description="Burst window (min)", **sliders
        )
        self.failures_picker = widgets.IntSlider(
            value=min_failures, min=2, max=100, description="Failures per burst", **sliders
        )
        options = list(BUCKETS)
        if bucket_minutes not in dict(BUCKETS).values():
            options.append((f"{bucket_minutes} minutes", bucket_minutes))
        self.bucket_picker = widgets.Dropdown(
            options=options, value=bucket_minutes, description="Bucket"
        )
        self.threshold_picker = widgets.FloatSlider(
            value=threshold, min=0.5, max=20, step=0.5, description="z-score limit", **sliders
        )
        self.min_count_picker = widgets.IntSlider(
            value=min_count, min=1, max=200, description="Min events", **sliders
        )
        pickers = (
            self.window_picker,
            self.failures_picker,
            self.bucket_picker,
            self.threshold_picker,
            self.min_count_picker,
        )
        self._start(
            [
                widgets.HBox([self.window_picker, self.failures_picker]),
                widgets.HBox([self.bucket_picker, self.threshold_picker, self.min_count_picker]),
            ]
        )
        for picker in pickers:
            picker.observe(self.refresh, names="value")

    def _clear(self) -> None:
        self.bursts = self.zscores = self.anomalies = None

    def _run(self) -> None:
        burst_params = {
            "window_minutes": self.window_picker.value,
            "min_failures": self.failures_picker.value,
        }
        bucket = {"bucket_minutes": self.bucket_picker.value}
        with self.case.connect() as con:
            if self._burst_query is not None:
                self.burst_source = f"catalog query {self._burst_query.name}"
                bursts = self._cached(con, self._burst_query, burst_params)
            else:
                self.burst_source = "built-in query (fixed windows)"
                bursts = self._cached(con, BURST_SQL, burst_params)
            zscores = self._zscores(con, bucket)

        threshold, min_count = self.threshold_picker.value, self.min_count_picker.value
        anomalies = zscores.filter(
            (pl.col("z_score") >= threshold) & (pl.col("event_count") >= min_count)
        )
        self.bursts, self.zscores, self.anomalies = bursts, zscores, anomalies
        self.tables = {"bursts": bursts, "zscores": zscores, "anomalies": anomalies}
        self.charts = {}
        if bursts.height:
            self.charts["bursts"] = detection_timeline_chart(
                bursts, row="client_ip", title="Auth-failure bursts per client IP"
            )
        if zscores.height:
            self.charts["zscores"] = baseline_zscore_chart(
                zscores, threshold=threshold, min_count=min_count
            )

    def _zscores(self, con: duckdb.DuckDBPyConnection, bucket: dict[str, int]) -> pl.DataFrame:
        query = self._zscore_query
        if query is not None:
            declared = {parameter.name for parameter in query.parameters}
            # A NULL threshold returns every bucket, so the sliders filter without a re-run.
            params = {"threshold": None, "min_count": 0, **bucket}
            frame = self._cached(con, query, {k: v for k, v in params.items() if k in declared})
            if all(column in frame.columns for column in ZSCORE_COLUMNS):
                self.zscore_source = f"catalog query {query.name}"
                return frame
            log.warning("query %s lacks z-score columns; using the built-in query", query.name)
        self.zscore_source = "built-in query (buckets with events only)"
        return self._cached(con, ZSCORE_SQL, bucket)

    def _cached(
        self, con: duckdb.DuckDBPyConnection, query: Query | str, params: dict[str, Any]
    ) -> pl.DataFrame:
        """Run a query once per parameter set: slider moves often return to earlier values."""
        name = query.name if isinstance(query, Query) else query
        key = (name, tuple(sorted(params.items())))
        if key not in self._results:
            if isinstance(query, Query):
                self._results[key] = query.frame(con, **params)
            else:
                self._results[key] = con.sql(query, params=params).pl()
        return self._results[key]

    def _summary_html(self) -> str:
        if self.bursts is None or self.zscores is None or self.anomalies is None:
            return ""
        ips = self.bursts["client_ip"].n_unique() if self.bursts.height else 0
        return "<br>".join(
            [
                f"{self.bursts.height} auth-failure bursts from {ips} client IP(s), at least "
                f"{self.failures_picker.value} failures within {self.window_picker.value} "
                f"minutes ({self.burst_source}).",
                f"{self.anomalies.height} of {self.zscores.height} buckets of "
                f"{self.bucket_picker.value} minutes have a z-score of at least "
                f"{self.threshold_picker.value:g} and at least {self.min_count_picker.value} "
                f"events ({self.zscore_source}).",
            ]
        )

    def _shown_tables(self) -> dict[str, tuple[str, pl.DataFrame]]:
        shown = {}
        if self.bursts is not None:
            columns = [c for c in self.bursts.columns if c != "evidence"]
            shown["bursts"] = ("Auth-failure bursts", self.bursts.select(columns))
        if self.anomalies is not None:
            columns = [
                c
                for c in ("window_start", "metric", "tenant_id", "route", "event_count")
                + ("baseline_mean", "baseline_std", "z_score")
                if c in self.anomalies.columns
            ]
            shown["anomalies"] = ("Buckets over the limits", self.anomalies.select(columns))
        return shown
