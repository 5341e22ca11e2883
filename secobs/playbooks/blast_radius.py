"""The blast-radius playbook: from a trace, token or actor, what did the attacker reach?

`notebooks/blast_radius.ipynb` drives this class. It runs `secobs.investigation.blast_radius`
(the `blast_radius` catalog query) from the chosen seed and shows a span waterfall of one
reached trace, the services and routes touched, and the tenants and data exports affected.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import polars as pl

from secobs.charts import ranking_chart, span_waterfall_chart
from secobs.errors import UsageError
from secobs.investigation import BlastRadius, blast_radius
from secobs.playbooks.base import Playbook, escape

SEED_KINDS = (("actor", "actor_id"), ("token", "token_id"), ("trace", "trace_id"))
SEED_NAMES = {"actor_id": "an actor id", "token_id": "a hashed token id", "trace_id": "a trace id"}
SUGGESTIONS = 200
"""Seed values offered in the value box per kind; any other value can still be typed."""

SUGGESTION_SQL = {
    "actor_id": """
        SELECT actor_id AS value
        FROM audit_events
        WHERE actor_id IS NOT NULL
        GROUP BY actor_id
        ORDER BY max(risk_score) DESC NULLS LAST, actor_id
        LIMIT $limit
    """,
    "token_id": """
        SELECT token_id AS value
        FROM audit_events
        WHERE token_id IS NOT NULL
        GROUP BY token_id
        ORDER BY bool_or(event = 'token.create') DESC, max(risk_score) DESC NULLS LAST, token_id
        LIMIT $limit
    """,
    "trace_id": """
        SELECT trace_id AS value
        FROM audit_events
        WHERE trace_id IS NOT NULL
        GROUP BY trace_id
        ORDER BY max(risk_score) DESC NULLS LAST, trace_id
        LIMIT $limit
    """,
}
EXPORT_COLUMNS = (
    "trace_id",
    "start_ts",
    "service",
    "name",
    "http_route",
    "http_status_code",
    "tenant_id",
    "enduser_id",
    "token_id",
)


class BlastRadiusPlaybook(Playbook):
    """Widgets and results for measuring what one seed (actor, token or trace) touched.

    `radius` is the BlastRadius of the current seed. `tables` holds `routes` (spans, traces and
    errors per service and route), `tenants` (spans, traces and exports per tenant), `exports`
    (the data-export spans) and `trace` (the spans of the trace in `trace_picker`, which the
    waterfall draws). With no seed given, the seed is the actor with the highest risk score.
    """

    slug = "blast_radius"

    def __init__(
        self,
        case_dir: Path | str,
        *,
        actor_id: str | None = None,
        token_id: str | None = None,
        trace_id: str | None = None,
    ):
        super().__init__(case_dir)
        given = {
            kind: value
            for kind, value in (
                ("actor_id", actor_id),
                ("token_id", token_id),
                ("trace_id", trace_id),
            )
            if value is not None
        }
        if len(given) > 1:
            raise UsageError(f"give one seed, not {' and '.join(given)}")
        self.radius: BlastRadius | None = None
        self._updating_traces = False
        self._suggestions: dict[str, list[str]] = {}
        with self.case.connect() as con:
            for kind, sql in SUGGESTION_SQL.items():
                rows = con.execute(sql, {"limit": SUGGESTIONS}).fetchall()
                self._suggestions[kind] = [row[0] for row in rows]

        kind, value = next(iter(given.items()), ("actor_id", None))
        if value is None:
            value = next(iter(self._suggestions["actor_id"]), "")
        self.seed_kind = widgets.Dropdown(options=SEED_KINDS, value=kind, description="Seed")
        self.seed_value = widgets.Combobox(
            value=value,
            options=self._suggestions[kind],
            ensure_option=False,
            placeholder="an actor id, hashed token id or trace id",
            description="Value",
            continuous_update=False,
            layout=widgets.Layout(width="36em"),
        )
        self.trace_picker = widgets.Dropdown(options=[], description="Trace")
        self._start(
            [widgets.HBox([self.seed_kind, self.seed_value]), self.trace_picker],
        )
        self.seed_kind.observe(self._on_kind, names="value")
        self.seed_value.observe(self.refresh, names="value")
        self.trace_picker.observe(self._on_trace, names="value")

    def _on_kind(self, change: dict) -> None:
        """Offer the new kind's values and start from its first, so the seed stays valid."""
        suggestions = self._suggestions[change["new"]]
        self.seed_value.options = suggestions
        first = next(iter(suggestions), "")
        if self.seed_value.value == first:
            self.refresh()
        else:
            self.seed_value.value = first  # the value observer refreshes

    def _on_trace(self, _change: dict) -> None:
        if self._updating_traces or self.radius is None or self.error is not None:
            return
        self._draw_trace()
        self._draw()

    def _clear(self) -> None:
        self.radius = None
        self._updating_traces = True
        try:
            self.trace_picker.options = []
        finally:
            self._updating_traces = False

    def _run(self) -> None:
        kind, value = self.seed_kind.value, self.seed_value.value.strip()
        if not value:
            raise UsageError(f"enter {SEED_NAMES[kind]} to start from")
        with self.case.connect() as con:
            radius = blast_radius(con, **{kind: value})
        spans = radius.spans
        routes = (
            spans.group_by("service", "http_route")
            .agg(
                spans=pl.len(),
                traces=pl.col("trace_id").n_unique(),
                errors=(pl.col("http_status_code").fill_null(0) >= 500).sum(),
                exports=pl.col("is_export").sum(),
            )
            .sort(["spans", "service", "http_route"], descending=[True, False, False])
        )
        tenants = (
            spans.group_by("tenant_id")
            .agg(
                spans=pl.len(),
                traces=pl.col("trace_id").n_unique(),
                export_traces=pl.col("trace_id").filter(pl.col("is_export")).n_unique(),
                actors=pl.col("enduser_id").drop_nulls().unique().sort(),
            )
            .sort(["spans", "tenant_id"], descending=[True, False])
        )
        exports = spans.filter(pl.col("is_export")).select(EXPORT_COLUMNS).sort("start_ts")
        self.radius = radius
        self.tables = {"routes": routes, "tenants": tenants, "exports": exports}
        self.charts = {}
        if routes.height:
            labelled = routes.with_columns(
                route=pl.concat_str(
                    [
                        pl.col("service").fill_null("?"),
                        pl.col("http_route").fill_null("(no route)"),
                    ],
                    separator=" ",
                )
            ).head(25)
            self.charts["routes"] = ranking_chart(
                labelled, label="route", value="spans", title="Spans per service and route"
            )

        # The trace list keeps the picked trace when it is still reached. The picker's observer
        # ignores changes made here, and the waterfall is drawn once below.
        traces = (
            spans.group_by("trace_id")
            .agg(spans=pl.len(), exports=pl.col("is_export").sum(), start=pl.col("start_ts").min())
            .sort(["exports", "spans", "start"], descending=[True, True, False])
        )
        options = [
            (f"{row['trace_id']} ({row['spans']} spans, {row['exports']} export)", row["trace_id"])
            for row in traces.iter_rows(named=True)
        ]
        values = [value for _, value in options]
        previous = self.trace_picker.value
        self._updating_traces = True
        try:
            self.trace_picker.options = options
            self.trace_picker.value = previous if previous in values else next(iter(values), None)
        finally:
            self._updating_traces = False
        self._draw_trace()

    def _draw_trace(self) -> None:
        trace = self.trace_picker.value
        if self.radius is None or trace is None:
            self.tables.pop("trace", None)
            self.charts.pop("waterfall", None)
            return
        spans = self.radius.spans.filter(pl.col("trace_id") == trace)
        self.tables["trace"] = spans
        self.charts = {
            "waterfall": span_waterfall_chart(spans, title=f"Spans of trace {trace}"),
            **{name: chart for name, chart in self.charts.items() if name != "waterfall"},
        }

    def _summary_html(self) -> str:
        radius = self.radius
        if radius is None:
            return ""
        seed = ", ".join(f"{escape(k)} <code>{escape(v)}</code>" for k, v in radius.seed.items())
        if radius.spans.height == 0:
            return f"From {seed}: no spans reached."
        lines = [
            f"From {seed}: {len(radius.traces)} traces, {radius.spans.height} spans.",
            f"Services: {escape(', '.join(radius.services)) or 'none'}.",
            f"Tenants: {escape(', '.join(radius.tenants)) or 'none'}.",
            f"Actors on the spans: {escape(', '.join(radius.actors)) or 'none'}.",
            f"Data exports: {radius.export_traces} traces ({radius.export_spans} spans).",
        ]
        return "<br>".join(lines)

    def _shown_tables(self) -> dict[str, tuple[str, pl.DataFrame]]:
        headings = {
            "routes": "Services and routes touched",
            "tenants": "Tenants affected",
            "exports": "Data exports",
        }
        return {
            name: (heading, self.tables[name])
            for name, heading in headings.items()
            if name in self.tables
        }
