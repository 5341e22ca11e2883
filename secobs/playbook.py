"""The account-takeover playbook: pick an actor and a time window, then read the evidence.

The notebook `notebooks/account_takeover.ipynb` drives this class, so its cells stay short. Every
telemetry string the widgets show as HTML goes through `html.escape`. Charts are shown as SVG
drawn by vl-convert, so displaying them runs no JavaScript and fetches nothing.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import altair as alt
import ipywidgets as widgets
import polars as pl

from secobs.case import Case
from secobs.charts import actor_timeline_chart, is_failure, latency_risk_chart, save, to_svg
from secobs.errors import SecobsError, UsageError
from secobs.queries import get_query
from secobs.timeutil import parse_timestamp

log = logging.getLogger("secobs")

ACTORS_SQL = """
SELECT actor_id, max(risk_score) AS max_risk_score, count(*) AS events
FROM audit_events
WHERE actor_id IS NOT NULL
GROUP BY actor_id
ORDER BY max_risk_score DESC NULLS LAST, actor_id
"""
WINDOW_PLACEHOLDER = "RFC 3339, e.g. 2026-02-24T08:00:00Z; empty = open"
EXPORT_FORMATS = (".png", ".svg")


class AccountTakeoverPlaybook:
    """Widgets, query results and charts for investigating one actor in a case.

    `actors` lists each actor in the audit events with its max risk score and event count, in
    the order of the picker (riskiest first, then by actor id).

    `timeline` contains the selected actor's `actor_timeline` rows within the window. `risky_logins`
    contains the case's `risky_logins_with_latency` rows (every actor) within the window, so the
    selected actor can be compared with the others. An empty start or end leaves that side of
    the window open, so the default window is the actor's whole activity. Change `min_risk` or
    `min_latency_ms` and call `refresh` to apply new thresholds.
    """

    def __init__(
        self,
        case_dir: Path | str,
        *,
        actor_id: str | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        min_risk: int = 70,
        min_latency_ms: float = 1000,
    ):
        self.case = Case.open(case_dir)
        self.min_risk = min_risk
        self.min_latency_ms = min_latency_ms
        self.timeline: pl.DataFrame | None = None
        self.risky_logins: pl.DataFrame | None = None
        self.charts: dict[str, alt.Chart | alt.LayerChart] = {}
        self.error: str | None = None

        with self.case.connect() as con:
            self.actors = con.sql(ACTORS_SQL).pl()
        options = [
            (_actor_label(row["actor_id"], row["max_risk_score"], row["events"]), row["actor_id"])
            for row in self.actors.iter_rows(named=True)
        ]
        if actor_id is not None and actor_id not in self.actors["actor_id"]:
            options.append((f"{actor_id} (no audit events)", actor_id))
        if actor_id is None and options:
            actor_id = options[0][1]

        self.actor_picker = widgets.Dropdown(options=options, value=actor_id, description="Actor")
        self.start_picker = _window_text("Start (UTC)", start)
        self.end_picker = _window_text("End (UTC)", end)
        self.output = widgets.Output()
        self._box = widgets.VBox(
            [self.actor_picker, widgets.HBox([self.start_picker, self.end_picker]), self.output]
        )

        # Invalid arguments raise here. Invalid values typed into the widgets later are shown
        # in the output area by `refresh` instead.
        self._run()
        for picker in (self.actor_picker, self.start_picker, self.end_picker):
            picker.observe(self.refresh, names="value")

    def refresh(self, *_: Any) -> None:
        """Re-run the queries for the current widget values and redraw the output area.

        Widgets call this on every change. An invalid value (such as a malformed timestamp)
        clears the results, sets `error` and shows the message instead of raising.
        """
        try:
            self._run()
        except SecobsError as error:
            log.info("account takeover playbook: %s", error)
            self.error = str(error)
            self.timeline, self.risky_logins, self.charts = None, None, {}
            self.output.outputs = (_display_data({"text/plain": f"Cannot refresh: {error}"}),)

    def widget(self) -> widgets.Widget:
        """Return the box of pickers and output to display in the notebook."""
        return self._box

    def export(self, folder: Path | str) -> list[Path]:
        """Save each chart as PNG and SVG in `folder` (named after its key) and return the paths."""
        if not self.charts:
            raise UsageError(f"no charts to export: {self.error or 'the playbook has no results'}")
        return [
            save(chart, Path(folder) / f"{name}{suffix}")
            for name, chart in self.charts.items()
            for suffix in EXPORT_FORMATS
        ]

    def _run(self) -> None:
        actor = self.actor_picker.value
        start = _window_bound(self.start_picker.value, "start")
        end = _window_bound(self.end_picker.value, "end")
        if start is not None and end is not None and start >= end:
            raise UsageError(
                f"window start {start.isoformat()} is not before end {end.isoformat()}"
            )

        with self.case.connect() as con:
            risky_logins = get_query("risky_logins_with_latency").frame(
                con, min_risk=self.min_risk, min_latency_ms=self.min_latency_ms
            )
            timeline = None
            if actor is not None:
                timeline = get_query("actor_timeline").frame(
                    con, actor_id=actor, start=start, end=end
                )
        if start is not None:
            risky_logins = risky_logins.filter(pl.col("ts") >= start)
        if end is not None:
            risky_logins = risky_logins.filter(pl.col("ts") < end)

        charts: dict[str, alt.Chart | alt.LayerChart] = {}
        if timeline is not None:
            charts["timeline"] = actor_timeline_chart(timeline, title=f"Timeline of {actor}")
        charts["latency_risk"] = latency_risk_chart(
            risky_logins, min_risk=self.min_risk, min_latency_ms=self.min_latency_ms
        )
        self.timeline, self.risky_logins, self.charts, self.error = (
            timeline,
            risky_logins,
            charts,
            None,
        )
        log.debug("playbook refreshed for actor %r, window %s to %s", actor, start, end)
        self._draw(actor)

    def _draw(self, actor: str | None) -> None:
        outputs = [
            _display_data({"text/html": self._summary_html(actor), "text/plain": actor or ""})
        ]
        for name, chart in self.charts.items():
            outputs.append(_display_data({"image/svg+xml": to_svg(chart), "text/plain": name}))
        self.output.outputs = tuple(outputs)

    def _summary_html(self, actor: str | None) -> str:
        if actor is None or self.timeline is None:
            lines = ["No actor to follow: the case has no audit events with an actor id."]
        elif self.timeline.height == 0:
            lines = [f"No activity for <b>{html.escape(actor)}</b> in this window."]
        else:
            first, last = self.timeline["ts"].min(), self.timeline["ts"].max()
            failures = sum(is_failure(outcome) for outcome in self.timeline["outcome"])
            lines = [
                f"<b>{html.escape(actor)}</b>: {self.timeline.height} timeline rows "
                f"from {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC, "
                f"{failures} of them failed."
            ]
        risky = self.risky_logins
        count = 0 if risky is None else risky.height
        actors = 0 if risky is None else risky["actor_id"].n_unique()
        lines.append(
            f"{count} logins in the window with risk score at least {self.min_risk} and latency "
            f"at least {self.min_latency_ms} ms, from {actors} actor(s)."
        )
        return "<br>".join(lines)


def _actor_label(actor_id: str, max_risk_score: int | None, events: int) -> str:
    risk = "no risk score" if max_risk_score is None else f"max risk {max_risk_score}"
    return f"{actor_id} ({risk}, {events} audit events)"


def _window_text(description: str, value: str | datetime | None) -> widgets.Text:
    if isinstance(value, datetime):
        value = value.isoformat()
    return widgets.Text(
        value=value or "",
        description=description,
        placeholder=WINDOW_PLACEHOLDER,
        continuous_update=False,  # re-run on Enter or leaving the box, not on every keystroke
        style={"description_width": "initial"},
        layout=widgets.Layout(width="26em"),
    )


def _window_bound(text: str, name: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise UsageError(
            f"invalid window {name}: {error}; use RFC 3339 such as 2026-02-24T08:00:00Z"
        ) from None


def _display_data(data: dict[str, str]) -> dict[str, Any]:
    """Return one output in the notebook format, which the Output widget shows without a kernel."""
    return {"output_type": "display_data", "data": data, "metadata": {}}
