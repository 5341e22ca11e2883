"""The account-takeover playbook: pick an actor and a time window, then read the evidence.

`notebooks/account_takeover.ipynb` drives this class. It shows the actor's timeline, the case's
risky and slow logins, the actor's logins on a world outline with lines between consecutive
logins, and the devices (user agents) and countries the actor was first seen with.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import polars as pl

from secobs.charts import (
    DEFAULT_MAX_SPEED_KMH,
    actor_timeline_chart,
    latency_risk_chart,
    locate_logins,
    login_map_chart,
    travel_legs,
)
from secobs.errors import UsageError
from secobs.playbooks.base import Playbook, escape
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
LOGINS_SQL = """
SELECT
    ts, actor_id, tenant_id, event, result, reason, client_ip, user_agent, geo_country,
    geo_region, geo_city, geo_lat, geo_lon, risk_score, source_file, source_record
FROM audit_events
WHERE actor_id = $actor_id AND event LIKE 'auth.login%'
    AND ($start IS NULL OR ts >= $start) AND ($end IS NULL OR ts < $end)
ORDER BY ts, source_file, source_record
"""
# Each device (user agent) and country of the actor with its first and last sighting in the
# whole case, so a value first seen inside the window is flagged even when the window is narrow.
FIRST_SEEN_SQL = """
WITH activity AS (
    SELECT ts, user_agent, geo_country, client_ip
    FROM audit_events
    WHERE actor_id = $actor_id
),
sightings AS (
    SELECT 'device' AS kind, user_agent AS value, min(ts) AS first_seen, max(ts) AS last_seen,
        count(*) AS events, count(DISTINCT client_ip) AS client_ips
    FROM activity
    WHERE user_agent IS NOT NULL
    GROUP BY user_agent
    UNION ALL
    SELECT 'country', geo_country, min(ts), max(ts), count(*), count(DISTINCT client_ip)
    FROM activity
    WHERE geo_country IS NOT NULL
    GROUP BY geo_country
)
SELECT
    kind, value, first_seen, last_seen, events, client_ips,
    first_seen > (SELECT min(ts) FROM activity) AS appeared_later,
    ($start IS NULL OR first_seen >= $start) AND ($end IS NULL OR first_seen < $end)
        AS first_seen_in_window
FROM sightings
ORDER BY first_seen, kind, value
"""
WINDOW_PLACEHOLDER = "RFC 3339, e.g. 2026-02-24T08:00:00Z; empty = open"


class AccountTakeoverPlaybook(Playbook):
    """Widgets, query results and charts for investigating one actor in a case.

    `actors` lists each actor in the audit events with its max risk score and event count, in
    the order of the picker (riskiest first, then by actor id).

    `timeline` contains the selected actor's `actor_timeline` rows within the window. `risky_logins`
    contains the case's `risky_logins_with_latency` rows (every actor) within the window, so the
    selected actor can be compared with the others. `logins` contains the actor's logins in the
    window with `lat`/`lon` (see `secobs.charts.locate_logins`) and `legs` the travel between
    consecutive located logins. `first_seen` lists the actor's devices and countries.
    An empty start or end leaves that side of the window open, so the default window is the
    actor's whole activity. Change `min_risk` or `min_latency_ms` and call `refresh` to apply new
    thresholds.
    """

    slug = "account_takeover"

    def __init__(
        self,
        case_dir: Path | str,
        *,
        actor_id: str | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        min_risk: int = 70,
        min_latency_ms: float = 1000,
        max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH,
    ):
        super().__init__(case_dir)
        self.min_risk = min_risk
        self.min_latency_ms = min_latency_ms
        self.max_speed_kmh = max_speed_kmh
        self.timeline: pl.DataFrame | None = None
        self.risky_logins: pl.DataFrame | None = None
        self.logins: pl.DataFrame | None = None
        self.legs: pl.DataFrame | None = None
        self.first_seen: pl.DataFrame | None = None

        with self._constructing() as con:
            self.actors = con.sql(ACTORS_SQL).pl()
            self._build_widgets(actor_id, start, end)

    def _build_widgets(
        self, actor_id: str | None, start: str | datetime | None, end: str | datetime | None
    ) -> None:
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
        self._start([self.actor_picker, widgets.HBox([self.start_picker, self.end_picker])])
        for picker in (self.actor_picker, self.start_picker, self.end_picker):
            picker.observe(self.refresh, names="value")

    def _clear(self) -> None:
        self.timeline = self.risky_logins = self.logins = self.legs = self.first_seen = None

    def _run(self) -> None:
        actor = self.actor_picker.value
        start = _window_bound(self.start_picker.value, "start")
        end = _window_bound(self.end_picker.value, "end")
        if start is not None and end is not None and start >= end:
            raise UsageError(
                f"window start {start.isoformat()} is not before end {end.isoformat()}"
            )

        window = {"start": start, "end": end}
        timeline = logins = first_seen = None
        with self._connect() as con:
            risky_logins = get_query("risky_logins_with_latency").frame(
                con, min_risk=self.min_risk, min_latency_ms=self.min_latency_ms
            )
            if actor is not None:
                timeline = get_query("actor_timeline").frame(con, actor_id=actor, **window)
                logins = con.sql(LOGINS_SQL, params={"actor_id": actor, **window}).pl()
                first_seen = con.sql(FIRST_SEEN_SQL, params={"actor_id": actor, **window}).pl()
        if start is not None:
            risky_logins = risky_logins.filter(pl.col("ts") >= start)
        if end is not None:
            risky_logins = risky_logins.filter(pl.col("ts") < end)

        charts: dict[str, Any] = {}
        legs = None
        if timeline is not None:
            charts["timeline"] = actor_timeline_chart(timeline, title=f"Timeline of {actor}")
        charts["latency_risk"] = latency_risk_chart(
            risky_logins, min_risk=self.min_risk, min_latency_ms=self.min_latency_ms
        )
        if logins is not None:
            logins = locate_logins(logins)
            legs = travel_legs(logins, max_speed_kmh=self.max_speed_kmh)
            charts["login_map"] = login_map_chart(
                logins, max_speed_kmh=self.max_speed_kmh, title=f"Logins of {actor}"
            )
        self.timeline, self.risky_logins, self.logins, self.legs = (
            timeline,
            risky_logins,
            logins,
            legs,
        )
        self.first_seen = first_seen
        self.charts = charts
        self.tables = {
            name: frame
            for name, frame in (
                ("timeline", timeline),
                ("risky_logins", risky_logins),
                ("logins", logins),
                ("legs", legs),
                ("first_seen", first_seen),
            )
            if frame is not None
        }
        log.debug("playbook refreshed for actor %r, window %s to %s", actor, start, end)

    def _shown_tables(self) -> dict[str, tuple[str, pl.DataFrame]]:
        shown = {}
        if self.legs is not None:
            columns = ["actor_id", "from_ts", "to_ts", "from_place", "to_place"]
            columns += ["distance_km", "elapsed_min", "speed_kmh", "impossible"]
            shown["legs"] = ("Travel between consecutive logins", self.legs.select(columns))
        if self.first_seen is not None:
            shown["first_seen"] = ("Devices and countries, first seen first", self.first_seen)
        return shown

    def _summary_html(self) -> str:
        actor = self.actor_picker.value
        if actor is None or self.timeline is None:
            lines = ["No actor to follow: the case has no audit events with an actor id."]
        elif self.timeline.height == 0:
            lines = [f"No activity for <b>{escape(actor)}</b> in this window."]
        else:
            first, last = self.timeline["ts"].min(), self.timeline["ts"].max()
            failures = count_failures(self.timeline["outcome"])
            lines = [
                f"<b>{escape(actor)}</b>: {self.timeline.height} timeline rows "
                f"from {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC, "
                f"{failures} of them failed."
            ]
        if self.legs is not None and self.logins is not None:
            impossible = int(self.legs["impossible"].sum())
            located = self.logins.filter(pl.col("lat").is_not_null()).height
            lines.append(
                f"{self.logins.height} logins in the window, {located} of them located; "
                f"{impossible} move(s) faster than {self.max_speed_kmh:g} km/h."
            )
        if self.first_seen is not None:
            new = self.first_seen.filter(pl.col("appeared_later") & pl.col("first_seen_in_window"))
            devices = new.filter(pl.col("kind") == "device").height
            countries = ", ".join(
                escape(value) for value in new.filter(pl.col("kind") == "country")["value"]
            )
            lines.append(
                f"First seen in this window after earlier activity: {devices} device(s), "
                f"countries: {countries or 'none'}."
            )
        risky = self.risky_logins
        count = 0 if risky is None else risky.height
        actors = 0 if risky is None else risky["actor_id"].n_unique()
        lines.append(
            f"{count} logins in the window with risk score at least {self.min_risk} and latency "
            f"at least {self.min_latency_ms} ms, from {actors} actor(s)."
        )
        return "<br>".join(lines)


def count_failures(outcomes: pl.Series) -> int:
    """Count the outcomes that `secobs.charts.is_failure` calls failures, without a Python loop."""
    text = outcomes.cast(pl.String).str.strip_chars().str.to_lowercase()
    failed = text.is_in(["failure", "error", "denied"]) | (text.cast(pl.Int64, strict=False) >= 400)
    return int(failed.fill_null(False).sum())


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
