"""Investigation charts, drawn with altair and exported offline with vl-convert.

Every chart embeds its rows inline in the Vega-Lite spec, and `save` rejects specs that load data
from a URL, so an exported chart fetches nothing when it is opened. Telemetry strings stay data:
the HTML export escapes `<`, `>` and `&` in the spec before it enters the page, and Vega draws
text in SVG and PNG as escaped text, never as markup.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import pyarrow as pa
import vl_convert as vlc

from secobs.errors import UsageError

log = logging.getLogger("secobs")

SAVE_SUFFIXES = (".png", ".svg", ".html", ".json", ".vl.json")
SOURCES = ("audit", "request", "span")
MAX_COLOURS = 10
MAX_TIMELINE_POINTS = 2000
"""Timeline rows drawn one by one at most; larger timelines are drawn as counts per time bin."""
TIMELINE_BINS = 240
"""Bins across a binned timeline at most: about three pixels each at the default width."""
# Bin widths for binned timelines, smallest first, as polars durations with their labels.
BIN_WIDTHS = (
    ("1s", "1 second", 1),
    ("5s", "5 seconds", 5),
    ("15s", "15 seconds", 15),
    ("1m", "1 minute", 60),
    ("5m", "5 minutes", 300),
    ("15m", "15 minutes", 900),
    ("30m", "30 minutes", 1800),
    ("1h", "1 hour", 3600),
    ("3h", "3 hours", 10800),
    ("6h", "6 hours", 21600),
    ("12h", "12 hours", 43200),
    ("1d", "1 day", 86400),
    ("7d", "7 days", 604800),
)
"""Maximum colour groups in a legend. Beyond it, the lowest-risk groups share one colour."""

WIDTH = 720
# Vega's "tableau10" scheme without its last colour, grey, which marks the "other" group.
TABLEAU10 = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
)
OTHER_COLOUR = "#bab0ac"
RULE_COLOUR = "#333333"

# (field, Vega-Lite type, tooltip title) for the columns a chart shows on hover, in order.
TIMELINE_TOOLTIP = (
    ("time_utc", "nominal", "time (UTC)"),
    ("source", "nominal", "source"),
    ("activity", "nominal", "activity"),
    ("outcome", "nominal", "outcome"),
    ("service", "nominal", "service"),
    ("route", "nominal", "route"),
    ("client_ip", "nominal", "client IP"),
    ("geo_country", "nominal", "country"),
    ("risk_score", "quantitative", "risk score"),
    ("latency_ms", "quantitative", "latency (ms)"),
    ("trace_id", "nominal", "trace id"),
)
LOGIN_TOOLTIP = (
    ("time_utc", "nominal", "time (UTC)"),
    ("actor_id", "nominal", "actor"),
    ("tenant_id", "nominal", "tenant"),
    ("event", "nominal", "event"),
    ("result", "nominal", "result"),
    ("reason", "nominal", "reason"),
    ("client_ip", "nominal", "client IP"),
    ("geo_country", "nominal", "country"),
    ("geo_city", "nominal", "city"),
    ("auth_method", "nominal", "auth method"),
    ("mfa", "nominal", "MFA"),
    ("risk_score", "quantitative", "risk score"),
    ("signals", "nominal", "signals"),
    ("latency_ms", "quantitative", "latency (ms)"),
    ("status_code", "nominal", "status"),
    ("joined_on", "nominal", "latency joined on"),
)
COLOUR_FIELDS = {"actor_id": "actor", "result": "result"}

# Options for vega-embed in the HTML export: no "Open in Vega Editor" action, which would post
# the spec, rows included, to a remote site.
EMBED_OPTIONS = {
    "renderer": "svg",
    "actions": {"export": True, "source": True, "compiled": False, "editor": False},
}

HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script>{bundle}</script>
</head>
<body>
<div id="chart"></div>
<script>
vegaEmbed("#chart", {spec}, {options}).catch(console.error);
</script>
</body>
</html>
"""


def actor_timeline_chart(df: Any, *, title: str | None = None) -> alt.Chart:
    """Draw one actor's audit events, requests and spans over time, one row per source.

    `df` contains `actor_timeline` rows (polars, pandas or pyarrow). Failed activity (audit result
    failure, HTTP status 400 or more, span status ERROR) is drawn in red to be seen at a glance.
    With more than MAX_TIMELINE_POINTS rows, rows are counted in time bins instead (see
    `_binned_timeline`), because single points would overlap and take seconds to draw.
    """
    frame = _polars(df, ("ts", "source"))
    if frame.height > MAX_TIMELINE_POINTS:
        return _binned_timeline(frame, title=title or "Actor timeline")
    records = _records(frame, ("ts", "source"), _fields(TIMELINE_TOOLTIP))
    for record in records:
        record["failed"] = "failure" if is_failure(record.get("outcome")) else "success"
    chart = (
        alt.Chart(alt.Data(values=records))
        .mark_point(filled=True, size=60, opacity=0.75)
        .encode(
            x=alt.X("ts:T", title="time (UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("source:N", title=None, scale=alt.Scale(domain=list(SOURCES))),
            color=alt.Color(
                "failed:N",
                title="outcome",
                scale=alt.Scale(domain=["success", "failure"], range=["#4c78a8", "#e45756"]),
            ),
            shape=alt.Shape(
                "failed:N",
                title="outcome",
                scale=alt.Scale(domain=["success", "failure"], range=["circle", "cross"]),
            ),
            tooltip=_tooltip(TIMELINE_TOOLTIP, records),
        )
        .properties(width=WIDTH, height=alt.Step(45), title=title or "Actor timeline")
    )
    return chart


def _binned_timeline(frame: pl.DataFrame, *, title: str) -> alt.Chart:
    """Draw a large timeline as the count of rows per time bin, source and outcome.

    The bin is the smallest width in BIN_WIDTHS that gives at most TIMELINE_BINS bins; the
    subtitle names it. Circles grow with the count; failures stay red.
    """
    frame = frame.filter(pl.col("ts").is_not_null())
    seconds = (frame["ts"].max() - frame["ts"].min()).total_seconds() if frame.height else 0
    every, label, _ = next(
        (width for width in BIN_WIDTHS if seconds / width[2] <= TIMELINE_BINS), BIN_WIDTHS[-1]
    )
    outcome = pl.col("outcome").cast(pl.String).str.strip_chars().str.to_lowercase()
    status = outcome.cast(pl.Int64, strict=False)
    failed = outcome.is_in(["failure", "error", "denied"]) | (status >= 400)
    binned = (
        frame.with_columns(
            bin=pl.col("ts").dt.truncate(every),
            failed=pl.when(failed.fill_null(False))
            .then(pl.lit("failure"))
            .otherwise(pl.lit("success")),
        )
        .group_by("bin", "source", "failed")
        .agg(rows=pl.len(), first=pl.col("ts").min(), last=pl.col("ts").max())
        .sort("bin", "source", "failed")
        .with_columns(
            first_utc=pl.col("first").dt.strftime("%Y-%m-%d %H:%M:%S"),
            last_utc=pl.col("last").dt.strftime("%Y-%m-%d %H:%M:%S"),
        )
    )
    records = _records(binned, ("bin", "source", "failed", "rows", "first_utc", "last_utc"), ())
    subtitle = f"{frame.height:,} rows counted in {label} bins; narrow the window to see each row"
    return (
        alt.Chart(alt.Data(values=records))
        .mark_circle(opacity=0.75)
        .encode(
            x=alt.X("bin:T", title="time (UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("source:N", title=None, scale=alt.Scale(domain=list(SOURCES))),
            size=alt.Size("rows:Q", title="rows per bin", scale=alt.Scale(range=[15, 400])),
            color=alt.Color(
                "failed:N",
                title="outcome",
                scale=alt.Scale(domain=["success", "failure"], range=["#4c78a8", "#e45756"]),
            ),
            tooltip=[
                alt.Tooltip("first_utc:N", title="first (UTC)"),
                alt.Tooltip("last_utc:N", title="last (UTC)"),
                alt.Tooltip("source:N", title="source"),
                alt.Tooltip("failed:N", title="outcome"),
                alt.Tooltip("rows:Q", title="rows"),
            ],
        )
        .properties(
            width=WIDTH, height=alt.Step(45), title=alt.TitleParams(title, subtitle=subtitle)
        )
    )


def latency_risk_chart(
    df: Any,
    *,
    min_risk: float | None = None,
    min_latency_ms: float | None = None,
    color_by: str = "actor_id",
    title: str | None = None,
) -> alt.Chart | alt.LayerChart:
    """Plot login latency against risk score, with dashed rules at the thresholds given.

    `df` contains `risky_logins_with_latency` rows. The x axis is logarithmic, so rows without a
    positive latency cannot be placed: they are left out and the subtitle counts them. When
    `color_by` has more than MAX_COLOURS values, the riskiest keep their own colour and the
    rest are drawn as one "other" group (the tooltip still names each actor).
    """
    if color_by not in COLOUR_FIELDS:
        raise UsageError(f"invalid color_by {color_by!r}; use one of {', '.join(COLOUR_FIELDS)}")
    records = _records(df, ("latency_ms", "risk_score", color_by), _fields(LOGIN_TOOLTIP))
    plotted = [row for row in records if row["latency_ms"] is not None and row["latency_ms"] > 0]
    left_out = len(records) - len(plotted)
    colour_scale = _group_colours(plotted, color_by)

    points = (
        alt.Chart(alt.Data(values=plotted))
        .mark_point(filled=True, size=70, opacity=0.8)
        .encode(
            x=alt.X("latency_ms:Q", title="request latency (ms, log scale)").scale(type="log"),
            y=alt.Y("risk_score:Q", title="risk score").scale(domain=[0, 100]),
            color=alt.Color("colour_group:N", title=COLOUR_FIELDS[color_by], scale=colour_scale),
            tooltip=_tooltip(LOGIN_TOOLTIP, plotted),
        )
    )
    layers: list[alt.Chart] = [points]
    if min_risk is not None:
        layers.append(_threshold_rule("y", float(min_risk), f"min risk {min_risk:g}"))
    if min_latency_ms is not None and min_latency_ms > 0:
        layers.append(
            _threshold_rule("x", float(min_latency_ms), f"min latency {min_latency_ms:g} ms")
        )

    subtitle = f"{left_out} login(s) without a positive latency are not shown" if left_out else ""
    heading = alt.TitleParams(title or "Login latency versus risk", subtitle=subtitle)
    chart = points if len(layers) == 1 else alt.layer(*layers)
    return chart.properties(width=WIDTH, height=360, title=heading)


def is_failure(outcome: Any) -> bool:
    """Return whether a timeline outcome is a failure.

    Failures are the audit result "failure" (or "denied"), an HTTP status of 400 or more and the
    span status ERROR. A missing outcome is not a failure.
    """
    if outcome is None:
        return False
    text = str(outcome).strip().lower()
    if text.isdigit():
        return int(text) >= 400
    return text in ("failure", "error", "denied")


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to SVG text with vl-convert, fetching nothing."""
    spec = _offline_spec(chart)
    return vlc.vegalite_to_svg(spec, vl_version=_vl_version(), allowed_base_urls=[])


def to_png(chart: alt.TopLevelMixin, *, scale: float = 2.0) -> bytes:
    """Render a chart to PNG bytes with vl-convert, `scale` times the chart's pixel size."""
    if not scale > 0:
        raise UsageError(f"invalid PNG scale {scale!r}; use a number above 0, such as 2")
    spec = _offline_spec(chart)
    return vlc.vegalite_to_png(spec, vl_version=_vl_version(), scale=scale, allowed_base_urls=[])


def to_html(chart: alt.TopLevelMixin) -> str:
    """Render a chart to a self-contained HTML page: Vega's JavaScript is inlined, not linked."""
    spec = _offline_spec(chart)
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if not isinstance(title, str) or not title:
        title = "secobs chart"
    return HTML_PAGE.format(
        title=html.escape(title),
        bundle=_javascript_bundle(_vl_version()),
        spec=_script_json(spec),
        options=_script_json(EMBED_OPTIONS),
    )


def to_json(chart: alt.TopLevelMixin) -> str:
    """Return the chart's Vega-Lite spec as indented JSON."""
    return _strict_json(_offline_spec(chart), indent=2)


def save(chart: alt.TopLevelMixin, path: Path | str, *, scale: float = 2.0) -> Path:
    """Export a chart by the path's suffix (.png, .svg, .html, .json or .vl.json).

    Creates missing parent folders and returns the path written. `scale` applies to PNG only.
    Raises UsageError for any other suffix.
    """
    target = Path(path)
    suffix = ".vl.json" if target.name.lower().endswith(".vl.json") else target.suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise UsageError(
            f"cannot save a chart as {target.name!r}: unsupported suffix {suffix or '(none)'}; "
            f"use one of {', '.join(SAVE_SUFFIXES)}"
        )
    if suffix == ".png":
        content: bytes = to_png(chart, scale=scale)
    elif suffix == ".svg":
        content = to_svg(chart).encode("utf-8")
    elif suffix == ".html":
        content = to_html(chart).encode("utf-8")
    else:
        content = to_json(chart).encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    log.debug("saved chart %s (%d bytes)", target, len(content))
    return target


def _fields(tooltip: tuple[tuple[str, str, str], ...]) -> tuple[str, ...]:
    return tuple(field for field, _, _ in tooltip if field != "time_utc")


def _tooltip(
    tooltip: tuple[tuple[str, str, str], ...], records: list[dict[str, Any]]
) -> list[alt.Tooltip]:
    """Build tooltips for the fields present in the rows (all of them when there are no rows)."""
    present = set(records[0]) if records else {field for field, _, _ in tooltip}
    return [
        alt.Tooltip(field, type=kind, title=title)
        for field, kind, title in tooltip
        if field in present
    ]


def _threshold_rule(channel: str, value: float, label: str) -> alt.Chart:
    position = alt.X("threshold:Q") if channel == "x" else alt.Y("threshold:Q")
    return (
        alt.Chart(alt.Data(values=[{"threshold": value, "label": label}]))
        .mark_rule(color=RULE_COLOUR, strokeDash=[6, 4], strokeWidth=1.5)
        .encode(position, tooltip=[alt.Tooltip("label:N", title="threshold")])
    )


def _group_colours(records: list[dict[str, Any]], field: str) -> alt.Scale:
    """Set each row's `colour_group` and return the colour scale for it.

    Rows keep their `field` value as the group unless there are more than MAX_COLOURS values.
    Then the values with the highest risk score keep a colour each and the rest become one grey
    "other" group, which moves to the front of `records` so Vega draws it underneath.
    """
    highest: dict[Any, float] = {}
    for row in records:
        risk = row["risk_score"] if row["risk_score"] is not None else -1
        highest[row[field]] = max(highest.get(row[field], -1), risk)
    if len(highest) <= MAX_COLOURS:
        for row in records:
            row["colour_group"] = _label(row[field])
        return alt.Scale(domain=sorted(_label(value) for value in highest))

    ranked = sorted(highest, key=lambda value: (-highest[value], _label(value)))
    coloured = set(ranked[: MAX_COLOURS - 1])
    other = f"other ({len(highest) - len(coloured)})"
    for row in records:
        row["colour_group"] = _label(row[field]) if row[field] in coloured else other
    records.sort(key=lambda row: row["colour_group"] != other)
    domain = sorted(_label(value) for value in coloured)
    return alt.Scale(domain=[*domain, other], range=[*TABLEAU10[: len(domain)], OTHER_COLOUR])


def _label(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _records(frame: Any, required: tuple[str, ...], optional: tuple[str, ...]) -> list[dict]:
    """Turn a data frame into JSON-ready rows of the named columns.

    Timestamps become RFC 3339 UTC strings with millisecond precision (what JavaScript dates
    hold), naive timestamps are read as UTC, NaN becomes null and lists become comma-joined text.
    A `time_utc` text copy of `ts` is added for tooltips, so hovering shows UTC in any time zone.
    """
    table = _to_arrow(frame)
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise UsageError(
            f"chart data lacks column(s) {', '.join(missing)}; "
            f"columns present: {', '.join(table.column_names) or 'none'}"
        )
    selected = dict.fromkeys(name for name in (*required, *optional) if name in table.column_names)
    columns = {}
    for name in selected:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            # Casting a naive timestamp to a zoned one keeps its value, so it is read as UTC.
            column = column.cast(pa.timestamp("ms", tz=column.type.tz or "UTC"), safe=False)
        columns[name] = [_json_value(value) for value in column.to_pylist()]
    records = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    if "ts" in selected:
        for record in records:
            ts = record["ts"]
            record["time_utc"] = ts.replace("T", " ").replace("Z", " UTC") if ts else None
    return records


def _to_arrow(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    try:
        # pa.table reads pandas frames directly and polars frames through the Arrow C stream.
        return pa.table(frame)
    except (TypeError, ValueError, pa.ArrowException) as error:
        raise UsageError(
            f"cannot chart a {type(frame).__name__}: expected a polars or pandas DataFrame "
            "or a pyarrow Table"
        ) from error


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        text = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return ", ".join(str(item) for item in value if item is not None)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta | bytes | dict):
        # Durations, binary values and structs have no Vega-Lite type; show them as text.
        return value.hex() if isinstance(value, bytes) else str(value)
    return value


# Characters that XML 1.0 forbids (all C0 controls but tab, newline and carriage return) and
# the other control characters a terminal acts on. Telemetry may contain them; SVG cannot.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _escape_controls(node: Any) -> Any:
    """Replace control characters in every string of a spec with visible escapes (\\x1b)."""
    if isinstance(node, str):
        if _CONTROL_CHARACTERS.search(node) is None:
            return node
        return _CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", node)
    if isinstance(node, dict):
        return {key: _escape_controls(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_escape_controls(item) for item in node]
    return node


def _offline_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """Return the chart's Vega-Lite spec, or raise UsageError if it would load data from a URL.

    The spec is not validated against the Vega-Lite schema here: that takes about 0.1 s per
    chart, and the test suite validates every chart this module draws.
    """
    spec = _escape_controls(chart.to_dict(validate=False))
    url = _find_data_url(spec)
    if url is not None:
        raise UsageError(
            f"chart loads data from {url!r}; embed the rows instead (alt.Data(values=...) or "
            "a data frame) so the exported chart fetches nothing"
        )
    return spec


def _find_data_url(node: Any) -> str | None:
    if isinstance(node, dict):
        data = node.get("data")
        if isinstance(data, dict) and "url" in data:
            return str(data["url"])
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        url = _find_data_url(child)
        if url is not None:
            return url
    return None


def _strict_json(value: Any, **options: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, **options)
    except ValueError as error:
        raise UsageError(f"chart spec is not valid JSON: {error}") from error


def _script_json(value: Any) -> str:
    """Serialise JSON for an inline <script>: no `<`, `>` or `&` can end the element."""
    text = _strict_json(value)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _vl_version() -> str | None:
    """Return the Vega-Lite version altair writes, as vl-convert names it, if vl-convert has it."""
    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vlc.get_vegalite_versions() else None


@functools.lru_cache(maxsize=2)
def _javascript_bundle(vl_version: str | None) -> str:
    # The bundle contains Vega, Vega-Lite and vega-embed (about 900 kB with vl-convert 1.9) and
    # is slow to build, hence the cache. A literal "</script" in it would end the inline element
    # early, so it is written as the equivalent "<\/script" inside JavaScript strings.
    bundle = vlc.javascript_bundle(vl_version=vl_version)
    return bundle.replace("</script", "<\\/script")


# --- Charts of the playbooks and the postmortem ------------------------------------------------

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), used for great-circle distances between login locations."""

DEFAULT_MAX_SPEED_KMH = 900.0
"""Travel faster than this between logins is drawn as impossible: about an airliner's cruise."""

MAX_CHART_ROWS = 5000
"""Rows that `custom_chart` embeds at most, so an ad-hoc chart stays small enough to draw."""

CUSTOM_MARKS = ("point", "circle", "line", "bar", "area", "tick", "rect")
SEVERITY_COLOURS = {
    "info": "#9ecae9",
    "low": "#4c78a8",
    "medium": "#f58518",
    "high": "#e45756",
    "critical": "#b2182b",
}

WATERFALL_TOOLTIP = (
    ("trace_id", "nominal", "trace id"),
    ("span_id", "nominal", "span id"),
    ("parent_span_id", "nominal", "parent span id"),
    ("service", "nominal", "service"),
    ("name", "nominal", "span"),
    ("http_route", "nominal", "route"),
    ("http_status_code", "nominal", "status"),
    ("tenant_id", "nominal", "tenant"),
    ("enduser_id", "nominal", "actor"),
    ("relation", "nominal", "relation to the seed"),
    ("offset_ms", "quantitative", "start offset (ms)"),
    ("duration_ms", "quantitative", "duration (ms)"),
)
MAP_TOOLTIP = (
    ("geo_city", "nominal", "city"),
    ("geo_country", "nominal", "country"),
    ("outcome", "nominal", "login"),
    ("logins", "quantitative", "logins"),
    ("first_utc", "nominal", "first (UTC)"),
    ("last_utc", "nominal", "last (UTC)"),
    ("actors", "nominal", "actors"),
    ("client_ips", "nominal", "client IPs (first 5)"),
)
MAP_OPTIONAL = ("geo_country", "geo_city", "result", "client_ip")
LEG_TOOLTIP = (
    ("actor_id", "nominal", "actor"),
    ("from_place", "nominal", "from"),
    ("to_place", "nominal", "to"),
    ("from_time", "nominal", "left (UTC)"),
    ("to_time", "nominal", "arrived (UTC)"),
    ("distance_km", "quantitative", "distance (km)"),
    ("elapsed_min", "quantitative", "elapsed (min)"),
    ("speed_kmh", "quantitative", "speed (km/h)"),
)
ALERT_TOOLTIP = (
    ("detection", "nominal", "detection"),
    ("severity", "nominal", "severity"),
    ("start_utc", "nominal", "window start (UTC)"),
    ("end_utc", "nominal", "window end (UTC)"),
    ("actor_id", "nominal", "actor"),
    ("client_ip", "nominal", "client IP"),
    ("tenant_id", "nominal", "tenant"),
    ("event_count", "quantitative", "events"),
    ("summary", "nominal", "summary"),
)
ZSCORE_TOOLTIP = (
    ("start_utc", "nominal", "bucket start (UTC)"),
    ("metric", "nominal", "metric"),
    ("tenant_id", "nominal", "tenant"),
    ("route", "nominal", "route"),
    ("event_count", "quantitative", "events"),
    ("baseline_mean", "quantitative", "baseline mean"),
    ("baseline_std", "quantitative", "baseline std"),
    ("z_score", "quantitative", "z-score"),
)


# Coordinates of the cities in the shipped sample (and a few other hubs), for audit events that
# carry a city but no client.geo lat/lon. Keys are (ISO country code, city as written).
CITY_COORDINATES: dict[tuple[str, str], tuple[float, float]] = {
    ("US", "New York"): (40.7128, -74.0060),
    ("US", "San Francisco"): (37.7749, -122.4194),
    ("US", "Austin"): (30.2672, -97.7431),
    ("US", "Ashburn"): (39.0438, -77.4874),
    ("US", "Seattle"): (47.6062, -122.3321),
    ("US", "Chicago"): (41.8781, -87.6298),
    ("CA", "Toronto"): (43.6532, -79.3832),
    ("BR", "São Paulo"): (-23.5505, -46.6333),
    ("GB", "London"): (51.5074, -0.1278),
    ("IE", "Dublin"): (53.3498, -6.2603),
    ("FR", "Paris"): (48.8566, 2.3522),
    ("NL", "Amsterdam"): (52.3676, 4.9041),
    ("DE", "Berlin"): (52.5200, 13.4050),
    ("DE", "Munich"): (48.1351, 11.5820),
    ("DE", "Frankfurt am Main"): (50.1109, 8.6821),
    ("RU", "Moscow"): (55.7558, 37.6173),
    ("IN", "Mumbai"): (19.0760, 72.8777),
    ("IN", "Bengaluru"): (12.9716, 77.5946),
    ("SG", "Singapore"): (1.3521, 103.8198),
    ("JP", "Tokyo"): (35.6762, 139.6503),
    ("CN", "Shanghai"): (31.2304, 121.4737),
    ("AU", "Sydney"): (-33.8688, 151.2093),
    ("NZ", "Auckland"): (-36.8485, 174.7633),
    ("ZA", "Johannesburg"): (-26.2041, 28.0473),
}


def locate_logins(logins: pl.DataFrame) -> pl.DataFrame:
    """Add `lat` and `lon`: the event's own coordinates, else the CITY_COORDINATES entry."""
    cities = pl.DataFrame(
        {
            "geo_country": [country for country, _ in CITY_COORDINATES],
            "geo_city": [city for _, city in CITY_COORDINATES],
            "city_lat": [lat for lat, _ in CITY_COORDINATES.values()],
            "city_lon": [lon for _, lon in CITY_COORDINATES.values()],
        },
        schema_overrides={"geo_country": pl.String, "geo_city": pl.String},
    )
    joined = logins.join(cities, on=["geo_country", "geo_city"], how="left", nulls_equal=False)
    return joined.with_columns(
        lat=pl.coalesce("geo_lat", "city_lat"), lon=pl.coalesce("geo_lon", "city_lon")
    ).drop("city_lat", "city_lon")


def span_waterfall_chart(spans: Any, *, title: str | None = None) -> alt.Chart:
    """Draw spans as bars from their start to their end, one row per span in start order.

    `spans` contains `blast_radius` (or `spans` table) rows with trace_id, span_id, service,
    name, start_ts and duration_ms. Offsets are milliseconds from the start of each span's
    trace, so spans of several traces share one axis. Rows are indented by their `depth` when
    the column is present.
    """
    frame = _polars(spans, ("trace_id", "span_id", "service", "name", "start_ts", "duration_ms"))
    frame = frame.filter(pl.col("start_ts").is_not_null()).sort(["trace_id", "start_ts"])
    trace_start = pl.col("start_ts").min().over("trace_id")
    depth = pl.col("depth").fill_null(0) if "depth" in frame.columns else pl.lit(0)
    frame = frame.with_columns(
        offset_ms=(pl.col("start_ts") - trace_start).dt.total_microseconds() / 1000.0,
        depth=depth.clip(0, 12),
    ).with_columns(end_ms=pl.col("offset_ms") + pl.col("duration_ms").fill_null(0.0))
    several_traces = frame["trace_id"].n_unique() > 1
    labels = []
    for row in frame.iter_rows(named=True):
        trace = f"{row['trace_id'][:8]} " if several_traces else ""
        labels.append(f"{trace}{'· ' * row['depth']}{row['name']} [{row['span_id'][:6]}]")
    frame = frame.with_columns(row_label=pl.Series(labels, dtype=pl.String))

    records = _records(
        frame, ("row_label", "offset_ms", "end_ms"), _fields(WATERFALL_TOOLTIP) + ("is_export",)
    )
    for record in records:
        record["export"] = "data export" if record.get("is_export") else "other"
    chart = (
        alt.Chart(alt.Data(values=records))
        .mark_bar(height={"band": 0.7})
        .encode(
            x=alt.X("offset_ms:Q", title="milliseconds from trace start"),
            x2="end_ms:Q",
            y=alt.Y("row_label:N", title=None, sort=None, axis=alt.Axis(labelLimit=360)),
            color=alt.Color("service:N", title="service"),
            stroke=alt.Stroke(
                "export:N",
                title="span",
                scale=alt.Scale(domain=["data export", "other"], range=["#222222", "transparent"]),
            ),
            tooltip=_tooltip(WATERFALL_TOOLTIP, records),
        )
        .properties(width=WIDTH, height=alt.Step(18), title=title or "Span waterfall")
    )
    return chart


def travel_legs(logins: Any, *, max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH) -> pl.DataFrame:
    """Pair each actor's consecutive located logins into legs with distance and speed.

    `logins` contains ts, actor_id, lat and lon (rows without coordinates are skipped), and may
    contain geo_country and geo_city to name the places. Distances are great circles on a
    sphere of EARTH_RADIUS_KM, within about 0.5% of the WGS-84 geodesic. Two logins in the
    same instant get the elapsed time floored at one second, so no speed is infinite. A leg
    is `impossible` when its speed is above `max_speed_kmh`.
    """
    frame = _polars(logins, ("ts", "actor_id", "lat", "lon"))
    for optional in ("geo_country", "geo_city"):
        if optional not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(optional))
    place = pl.concat_str(
        [pl.col("geo_city").fill_null("?"), pl.col("geo_country").fill_null("?")], separator=", "
    )
    located = (
        frame.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
        .with_columns(place=place)
        .sort(["actor_id", "ts"])
    )
    previous = {
        name: pl.col(name).shift(1).over("actor_id") for name in ("ts", "lat", "lon", "place")
    }
    legs = located.with_columns(
        from_ts=previous["ts"],
        from_lat=previous["lat"],
        from_lon=previous["lon"],
        from_place=previous["place"],
    ).filter(pl.col("from_ts").is_not_null())
    legs = legs.select(
        "actor_id",
        "from_ts",
        pl.col("ts").alias("to_ts"),
        "from_place",
        pl.col("place").alias("to_place"),
        "from_lat",
        "from_lon",
        pl.col("lat").alias("to_lat"),
        pl.col("lon").alias("to_lon"),
    )
    distance = _great_circle_km(
        pl.col("from_lat"), pl.col("from_lon"), pl.col("to_lat"), pl.col("to_lon")
    )
    elapsed_s = (pl.col("to_ts") - pl.col("from_ts")).dt.total_microseconds() / 1e6
    legs = legs.with_columns(distance_km=distance, elapsed_s=elapsed_s).with_columns(
        speed_kmh=pl.col("distance_km") / (pl.col("elapsed_s").clip(lower_bound=1.0) / 3600.0),
        elapsed_min=pl.col("elapsed_s") / 60.0,
    )
    return legs.with_columns(impossible=pl.col("speed_kmh") > max_speed_kmh)


def login_map_chart(
    logins: Any,
    *,
    max_speed_kmh: float = DEFAULT_MAX_SPEED_KMH,
    title: str | None = None,
) -> alt.LayerChart:
    """Draw logins on a world outline with lines where an actor's consecutive logins moved.

    `logins` contains ts, actor_id, lat and lon, and optionally geo_country, geo_city, result
    and client_ip. Logins are drawn as one mark per place and outcome, sized by count, and a
    line joins consecutive logins from different places; lines faster than `max_speed_kmh`
    are red. The backdrop is Vega's generated sphere and graticule, so nothing is fetched.
    """
    frame = _polars(logins, ("ts", "actor_id", "lat", "lon"))
    for optional in MAP_OPTIONAL:
        if optional not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(optional))
    located = frame.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    outcome = pl.col("result").cast(pl.String).str.to_lowercase()
    places = (
        located.with_columns(
            outcome=pl.when(outcome.is_in(["failure", "error", "denied"]).fill_null(False))
            .then(pl.lit("failure"))
            .otherwise(pl.lit("success"))
        )
        .group_by("lat", "lon", "geo_country", "geo_city", "outcome")
        .agg(
            logins=pl.len(),
            actors=pl.col("actor_id").drop_nulls().unique().sort().str.join(", "),
            client_ips=pl.col("client_ip").cast(pl.String).drop_nulls().unique().sort().head(5),
            first_utc=pl.col("ts").min().dt.strftime("%Y-%m-%d %H:%M:%S"),
            last_utc=pl.col("ts").max().dt.strftime("%Y-%m-%d %H:%M:%S"),
        )
        .sort("first_utc", "outcome")
    )
    points = _records(places, ("lat", "lon", "outcome", "logins"), _fields(MAP_TOOLTIP))
    all_legs = travel_legs(frame, max_speed_kmh=max_speed_kmh)
    moves = all_legs.filter(pl.col("from_place") != pl.col("to_place"))
    legs = _records(
        moves.with_columns(
            from_time=pl.col("from_ts").dt.strftime("%Y-%m-%d %H:%M:%S"),
            to_time=pl.col("to_ts").dt.strftime("%Y-%m-%d %H:%M:%S"),
            travel=pl.when(pl.col("impossible"))
            .then(pl.lit("impossible"))
            .otherwise(pl.lit("possible")),
        ),
        ("from_lat", "from_lon", "to_lat", "to_lon", "travel"),
        _fields(LEG_TOOLTIP),
    )
    sphere = alt.Chart(alt.sphere()).mark_geoshape(fill="#f3f6fa", stroke="#c8d1dc")
    graticule = alt.Chart(alt.graticule(step=[30, 30])).mark_geoshape(
        filled=False, stroke="#dde3ea", strokeWidth=0.5
    )
    lines = (
        alt.Chart(alt.Data(values=legs))
        .mark_rule(strokeWidth=2, opacity=0.8)
        .encode(
            latitude="from_lat:Q",
            longitude="from_lon:Q",
            latitude2="to_lat:Q",
            longitude2="to_lon:Q",
            color=alt.Color(
                "travel:N",
                title="travel",
                scale=alt.Scale(domain=["possible", "impossible"], range=["#9aa5b1", "#e45756"]),
            ),
            tooltip=_tooltip(LEG_TOOLTIP, legs),
        )
    )
    dots = (
        alt.Chart(alt.Data(values=points))
        .mark_point(filled=True, opacity=0.85, color="#4c78a8")
        .encode(
            latitude="lat:Q",
            longitude="lon:Q",
            size=alt.Size("logins:Q", title="logins", scale=alt.Scale(range=[40, 400])),
            shape=alt.Shape(
                "outcome:N",
                title="login",
                scale=alt.Scale(domain=["success", "failure"], range=["circle", "cross"]),
            ),
            tooltip=_tooltip(MAP_TOOLTIP, points),
        )
    )
    impossible = sum(1 for leg in legs if leg["travel"] == "impossible")
    subtitle = (
        f"{located.height:,} located logins at {len(points)} place(s); {len(legs)} move(s) "
        f"between places, {impossible} impossible"
    )
    return (
        alt.layer(sphere, graticule, lines, dots)
        .project(type="equalEarth")
        .properties(
            width=WIDTH,
            height=380,
            title=alt.TitleParams(title or "Logins and travel", subtitle=subtitle),
        )
    )


def detection_timeline_chart(
    alerts: Any, *, row: str = "detection", title: str | None = None
) -> alt.LayerChart:
    """Draw alerts as bars over their windows, one row per `row` value, coloured by severity.

    `alerts` contains window_start, window_end and the `row` column (detection by default;
    client_ip draws one row per address), and optionally the ALERT_TOOLTIP columns. An alert
    whose window is one instant still shows, as a point at its start.
    """
    frame = _polars(alerts, (row, "window_start", "window_end"))
    frame = frame.with_columns(
        start_utc=pl.col("window_start").dt.strftime("%Y-%m-%d %H:%M:%S"),
        end_utc=pl.col("window_end").dt.strftime("%Y-%m-%d %H:%M:%S"),
    )
    if "severity" not in frame.columns:
        frame = frame.with_columns(severity=pl.lit("medium"))
    records = _records(
        frame, (row, "window_start", "window_end", "severity"), _fields(ALERT_TOOLTIP)
    )
    for record in records:
        record[row] = _label(record[row])
    present = sorted({str(record["severity"]) for record in records})
    known = [name for name in SEVERITY_COLOURS if name in present]
    domain = known + [name for name in present if name not in SEVERITY_COLOURS]
    colour = alt.Color(
        "severity:N",
        title="severity",
        scale=alt.Scale(
            domain=domain,
            range=[SEVERITY_COLOURS.get(name, OTHER_COLOUR) for name in domain],
        ),
    )
    base = alt.Chart(alt.Data(values=records)).encode(
        x=alt.X("window_start:T", title="time (UTC)", scale=alt.Scale(type="utc")),
        y=alt.Y(f"{row}:N", title=None, axis=alt.Axis(labelLimit=260)),
        color=colour,
        tooltip=_tooltip(ALERT_TOOLTIP, records),
    )
    bars = base.mark_bar(height={"band": 0.6}, opacity=0.7).encode(x2="window_end:T")
    starts = base.mark_point(filled=True, size=50, shape="diamond")
    return alt.layer(bars, starts).properties(
        width=WIDTH,
        height=alt.Step(36),
        title=alt.TitleParams(title or "Detections over time", subtitle=f"{len(records)} alerts"),
    )


def baseline_zscore_chart(
    zscores: Any,
    *,
    threshold: float | None = None,
    min_count: int | None = None,
    title: str | None = None,
) -> alt.Chart | alt.LayerChart:
    """Plot the z-score of each baseline bucket over time, with a dashed rule at `threshold`.

    `zscores` contains window_start, z_score, metric and event_count (the `baseline_anomaly`
    columns). Buckets at or above the threshold with at least `min_count` events are drawn
    filled and large: they are the ones the detection returns.
    """
    frame = _polars(zscores, ("window_start", "z_score", "metric", "event_count"))
    flagged = pl.lit(True) if threshold is None else pl.col("z_score") >= threshold
    if min_count is not None:
        flagged = flagged & (pl.col("event_count") >= min_count)
    frame = frame.with_columns(
        start_utc=pl.col("window_start").dt.strftime("%Y-%m-%d %H:%M"),
        flagged=pl.when(flagged).then(pl.lit("anomaly")).otherwise(pl.lit("normal")),
    )
    records = _records(
        frame, ("window_start", "z_score", "metric", "flagged"), _fields(ZSCORE_TOOLTIP)
    )
    points = (
        alt.Chart(alt.Data(values=records))
        .mark_point(filled=True)
        .encode(
            x=alt.X("window_start:T", title="bucket start (UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("z_score:Q", title="z-score"),
            color=alt.Color("metric:N", title="metric"),
            size=alt.Size(
                "flagged:N",
                title="bucket",
                scale=alt.Scale(domain=["normal", "anomaly"], range=[18, 110]),
            ),
            opacity=alt.Opacity(
                "flagged:N",
                legend=None,
                scale=alt.Scale(domain=["normal", "anomaly"], range=[0.35, 0.95]),
            ),
            tooltip=_tooltip(ZSCORE_TOOLTIP, records),
        )
    )
    anomalies = sum(1 for record in records if record["flagged"] == "anomaly")
    heading = alt.TitleParams(
        title or "Baseline z-scores", subtitle=f"{anomalies} of {len(records)} buckets flagged"
    )
    if threshold is None:
        return points.properties(width=WIDTH, height=320, title=heading)
    rule = _threshold_rule("y", float(threshold), f"z-score threshold {threshold:g}")
    return alt.layer(points, rule).properties(width=WIDTH, height=320, title=heading)


def volume_chart(volumes: Any, *, title: str | None = None) -> alt.FacetChart:
    """Draw event counts per time bucket, stacked by service, one panel per table.

    `volumes` contains bucket (timestamp), table_name, service and events.
    """
    records = _records(volumes, ("bucket", "table_name", "events"), ("service",))
    for record in records:
        record["service"] = _label(record.get("service"))
    chart = (
        alt.Chart(alt.Data(values=records))
        .mark_bar()
        .encode(
            x=alt.X("bucket:T", title="time (UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("sum(events):Q", title="events"),
            color=alt.Color("service:N", title="service"),
            tooltip=[
                alt.Tooltip("bucket:T", title="bucket start", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("table_name:N", title="table"),
                alt.Tooltip("service:N", title="service"),
                alt.Tooltip("sum(events):Q", title="events"),
            ],
        )
        .properties(width=WIDTH, height=110)
        .facet(row=alt.Row("table_name:N", title=None))
        .resolve_scale(y="independent")
    )
    return chart.properties(title=title or "Volume over time")


def risk_distribution_chart(risk: Any, *, title: str | None = None) -> alt.Chart:
    """Draw how many audit events fall in each risk-score band, split by result.

    `risk` contains risk_band (the band's lower bound: 0, 10, ... 100), result and events.
    """
    records = _records(risk, ("risk_band", "events"), ("result",))
    for record in records:
        record["result"] = _label(record.get("result"))
    return (
        alt.Chart(alt.Data(values=records))
        .mark_bar()
        .encode(
            x=alt.X("risk_band:O", title="risk score band (lower bound)"),
            y=alt.Y("sum(events):Q", title="audit events", scale=alt.Scale(type="symlog")),
            color=alt.Color("result:N", title="result"),
            tooltip=[
                alt.Tooltip("risk_band:O", title="band from"),
                alt.Tooltip("result:N", title="result"),
                alt.Tooltip("sum(events):Q", title="events"),
            ],
        )
        .properties(width=WIDTH, height=220, title=title or "Risk score distribution")
    )


def ranking_chart(frame: Any, *, label: str, value: str, title: str | None = None) -> alt.Chart:
    """Draw a horizontal bar per row of `frame`, longest first: a top-N list at a glance."""
    records = _records(frame, (label, value), ())
    for record in records:
        record[label] = _label(record[label])
    return (
        alt.Chart(alt.Data(values=records))
        .mark_bar()
        .encode(
            x=alt.X(f"{value}:Q", title=value.replace("_", " ")),
            y=alt.Y(f"{label}:N", title=None, sort="-x", axis=alt.Axis(labelLimit=260)),
            tooltip=[alt.Tooltip(f"{label}:N"), alt.Tooltip(f"{value}:Q")],
        )
        .properties(width=WIDTH // 2, height=alt.Step(18), title=title or f"Top {label}")
    )


def custom_chart(
    frame: Any,
    *,
    x: str,
    y: str | None = None,
    color: str | None = None,
    mark: str = "point",
    title: str | None = None,
) -> alt.Chart:
    """Chart any result: columns for x, y (a row count when None) and colour, and a mark.

    Encoding types follow the column types: times are temporal, numbers quantitative and
    everything else nominal. At most MAX_CHART_ROWS rows are drawn; the subtitle states when
    rows were left out. Raises UsageError for an unknown column or mark.
    """
    if mark not in CUSTOM_MARKS:
        raise UsageError(f"invalid mark {mark!r}; use one of {', '.join(CUSTOM_MARKS)}")
    data = _polars(frame, tuple(name for name in (x, y, color) if name))
    subtitle = ""
    if data.height > MAX_CHART_ROWS:
        subtitle = f"first {MAX_CHART_ROWS:,} of {data.height:,} rows"
        data = data.head(MAX_CHART_ROWS)
    names = tuple(dict.fromkeys(name for name in (x, y, color) if name))
    records = _records(data.select(names), names, ())
    encoding: dict[str, Any] = {"x": alt.X(f"{x}:{_kind(data, x)}", title=x)}
    if y is None:
        encoding["y"] = alt.Y("count():Q", title="rows")
    else:
        encoding["y"] = alt.Y(f"{y}:{_kind(data, y)}", title=y)
    if color:
        encoding["color"] = alt.Color(f"{color}:{_kind(data, color)}", title=color)
    encoding["tooltip"] = [alt.Tooltip(f"{name}:{_kind(data, name)}", title=name) for name in names]
    heading = alt.TitleParams(title or f"{y or 'rows'} by {x}", subtitle=subtitle)
    return (
        alt.Chart(alt.Data(values=records), mark=alt.MarkDef(type=mark, tooltip=True))
        .encode(**encoding)
        .properties(width=WIDTH, height=320, title=heading)
    )


def _kind(frame: pl.DataFrame, column: str) -> str:
    dtype = frame.schema[column]
    if dtype.is_temporal():
        return "T"
    if dtype.is_numeric():
        return "Q"
    return "N"


def _polars(frame: Any, required: tuple[str, ...]) -> pl.DataFrame:
    """Return `frame` as a polars DataFrame, or raise UsageError naming missing columns."""
    data = frame if isinstance(frame, pl.DataFrame) else pl.from_arrow(_to_arrow(frame))
    missing = [name for name in required if name not in data.columns]
    if missing:
        raise UsageError(
            f"chart data lacks column(s) {', '.join(missing)}; "
            f"columns present: {', '.join(data.columns) or 'none'}"
        )
    return data


def _great_circle_km(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    """Return the haversine distance in kilometres between two points given in degrees."""
    phi1, phi2 = lat1.radians(), lat2.radians()
    dphi = (lat2 - lat1).radians()
    dlambda = (lon2 - lon1).radians()
    a = (dphi / 2).sin() ** 2 + phi1.cos() * phi2.cos() * (dlambda / 2).sin() ** 2
    return 2 * EARTH_RADIUS_KM * a.sqrt().clip(upper_bound=1.0).arcsin()


def source_files_chart(manifest: Any, *, title: str | None = None) -> alt.Chart:
    """Draw loaded and quarantined records per source file from the case manifest."""
    frame = _polars(manifest, ("path", "loaded", "quarantined"))
    rows = []
    for row in frame.iter_rows(named=True):
        name = Path(str(row["path"])).name
        rows.append({"file": name, "records": row["loaded"] or 0, "outcome": "loaded"})
        rows.append({"file": name, "records": row["quarantined"] or 0, "outcome": "quarantined"})
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("sum(records):Q", title="records"),
            y=alt.Y("file:N", title=None, axis=alt.Axis(labelLimit=300)),
            color=alt.Color(
                "outcome:N",
                title="records",
                scale=alt.Scale(domain=["loaded", "quarantined"], range=["#4c78a8", "#e45756"]),
            ),
            tooltip=[
                alt.Tooltip("file:N", title="file"),
                alt.Tooltip("outcome:N", title="outcome"),
                alt.Tooltip("sum(records):Q", title="records"),
            ],
        )
        .properties(width=WIDTH // 2, height=alt.Step(22), title=title or "Records per source file")
    )
